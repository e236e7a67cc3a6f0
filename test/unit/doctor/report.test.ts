// The doctor's report forms: text grouped by layer with failures first and their fixes, plain when
// not fancy; JSON with the documented fields; JUnit XML that CI tools parse; the exit code.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Check } from '../../../src/doctor/model.ts';
import {
  buildReport,
  exitCodeOf,
  renderJson,
  renderJunit,
  renderText,
} from '../../../src/doctor/report.ts';

const target = { host: '10.0.0.7', port: 7337, service: 'spark-shuffle' as const };
const checks: Check[] = [
  {
    id: 'dns.lookup',
    target,
    layer: 'dns',
    status: 'pass',
    reason: 'resolved',
    summary: 'resolves to 10.0.0.7',
    evidence: { addresses: '10.0.0.7' },
  },
  {
    id: 'tls.handshake',
    target,
    layer: 'tls',
    status: 'fail',
    reason: 'mesh-mtls',
    summary:
      'the port demands a client certificate from a service mesh (spiffe://cluster.local/ns/spark/sa/executor)',
    evidence: { san: 'URI:spiffe://cluster.local/ns/spark/sa/executor' },
    fix: {
      summary: 'exclude 7337 from the sidecar, or make its mTLS permissive',
      snippets: [
        {
          platform: 'k8s-yaml',
          text: 'annotations:\n  traffic.sidecar.istio.io/excludeInboundPorts: "7337"',
        },
      ],
    },
  },
  {
    id: 'session.keepalive',
    target: { host: '', port: 0, service: 'tcp' },
    source: { file: '/proc/sys/net/ipv4/tcp_keepalive_time' },
    layer: 'session',
    status: 'warn',
    reason: 'keepalive-missing',
    summary: 'keepalive starts after 7200 s, later than NAT gateways drop idle connections (240 s)',
    evidence: { tcp_keepalive_time: 7200 },
    fix: {
      summary: 'start keepalive sooner',
      snippets: [{ platform: 'sysctl', text: 'net.ipv4.tcp_keepalive_time=120' }],
    },
  },
  {
    id: 'protocol.spark-shuffle',
    target,
    layer: 'protocol',
    status: 'skip',
    reason: 'not-checked',
    summary: 'not probed: TLS failed',
    evidence: {},
  },
];
const [firstCheck, failedCheck] = checks as [Check, Check, ...Check[]];
const report = buildReport(
  checks,
  new Date('2026-11-21T00:00:00Z'),
  new Date('2026-11-21T00:00:01Z'),
);

describe('doctor report', () => {
  it('counts statuses and gives the exit code', () => {
    assert.deepEqual(report.summary, { pass: 1, warn: 1, fail: 1, skip: 1 });
    assert.equal(exitCodeOf(report), 1);
    const onlyWarn = buildReport(
      checks.filter((c) => c.status !== 'fail'),
      new Date(),
      new Date(),
    );
    assert.equal(exitCodeOf(onlyWarn), 0);
    assert.equal(exitCodeOf(onlyWarn, true), 1);
    assert.equal(exitCodeOf(buildReport([firstCheck], new Date(), new Date())), 0);
  });

  it('prints failures first, grouped by layer, each with its fix, in plain words when not fancy', () => {
    const text = renderText(report, { fancy: false });
    const lines = text.split('\n');
    assert.equal(lines[0], 'tls');
    assert.match(
      lines[1] ?? '',
      /^ {2}FAIL 10\.0\.0\.7:7337 \(spark-shuffle\): the port demands .* \[mesh-mtls\]$/,
    );
    assert.equal(lines[2], '      fix: exclude 7337 from the sidecar, or make its mTLS permissive');
    assert.equal(lines[3], '      k8s-yaml: annotations:');
    assert.equal(
      lines[4],
      '                  traffic.sidecar.istio.io/excludeInboundPorts: "7337"',
    );
    assert.equal(lines[5], 'session');
    assert.match(
      lines[6] ?? '',
      /^ {2}WARN \/proc\/sys\/net\/ipv4\/tcp_keepalive_time: keepalive starts/,
    );
    assert.ok(text.includes('dns (1 more passed or skipped)'));
    assert.ok(!text.includes('\u001b['), 'no colour codes');
    assert.match(text, /problems found: 1 failed, 1 warned, 1 passed, 1 skipped\n$/);
    const fancy = renderText(report, { fancy: true, verbose: true });
    assert.ok(fancy.includes('\u001b[31m✗\u001b[0m'));
    assert.ok(
      fancy.includes('\u001b[32m✓\u001b[0m 10.0.0.7:7337 (spark-shuffle): resolves to 10.0.0.7'),
    );
  });

  it('writes the documented JSON fields', () => {
    const parsed = JSON.parse(renderJson(report)) as {
      schemaVersion: number;
      checks: Record<string, unknown>[];
    };
    assert.equal(parsed.schemaVersion, 1);
    const failed = parsed.checks[1];
    assert.deepEqual(Object.keys(failed ?? {}).sort(), [
      'evidence',
      'fix',
      'id',
      'layer',
      'reason',
      'status',
      'summary',
      'target',
    ]);
    assert.deepEqual(failed?.target, { host: '10.0.0.7', port: 7337, service: 'spark-shuffle' });
  });

  it('writes JUnit XML with a suite per layer and escapes what XML cannot hold', () => {
    const odd = buildReport(
      [{ ...failedCheck, summary: 'got <"&\u0001">' }],
      new Date(),
      new Date(),
    );
    const xml = renderJunit(odd);
    assert.match(
      xml,
      /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="sparkplane doctor" tests="1" failures="1" skipped="0">/,
    );
    assert.match(xml, /<testsuite name="tls" tests="1" failures="1" skipped="0">/);
    assert.match(xml, /<failure message="got &lt;&quot;&amp;\?&quot;&gt;" type="mesh-mtls">/);
    assert.ok(!xml.includes('\u0001'));
    const full = renderJunit(report);
    assert.match(full, /<skipped message="not probed: TLS failed"\/>/);
    assert.match(full, /<system-out>WARN keepalive starts/);
  });
});
