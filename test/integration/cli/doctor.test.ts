// The real `sparkplane doctor` command in a child process, against servers of this test on
// loopback: the JSON report and its schema, the JUnit file, exit codes, lint and explain.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REASONS, STATUSES, LAYERS } from '../../../src/doctor/model.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin', 'sparkplane');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'doctor');

function doctor(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      BIN,
      ['doctor', ...args],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        done({ code, stdout, stderr });
      },
    );
  });
}

interface JsonCheck {
  id: string;
  target: { host: string; port: number; service: string };
  layer: string;
  status: string;
  reason: string;
  summary: string;
  evidence: Record<string, unknown>;
  fix?: { summary: string };
}

describe('sparkplane doctor', () => {
  let http: Server;
  let httpPort = 0;
  let closedPort = 0;
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-doctor-cli-'));

  before(async () => {
    // An HTTP listener where the shuffle service should be, answering bytes it cannot parse as
    // Envoy does: a wrong service on a binary port.
    http = createNetServer((socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.end(
          'HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\nserver: envoy\r\nconnection: close\r\n\r\nBad Request',
        );
      });
    });
    await new Promise<void>((ready) => http.listen(0, '127.0.0.1', ready));
    const address = http.address();
    httpPort = typeof address === 'object' && address !== null ? address.port : 0;
    const closed = createServer();
    await new Promise<void>((ready) => closed.listen(0, '127.0.0.1', ready));
    const closedAddress = closed.address();
    closedPort =
      typeof closedAddress === 'object' && closedAddress !== null ? closedAddress.port : 0;
    await new Promise((done) => closed.close(done));
  });
  after(async () => {
    await new Promise((done) => http.close(done));
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports every target layer by layer as documented JSON and JUnit, and exits 1', async () => {
    const junit = join(dir, 'doctor.xml');
    const { code, stdout, stderr } = await doctor([
      `127.0.0.1:${String(httpPort)}=spark-shuffle`,
      `127.0.0.1:${String(closedPort)}=spark-connect`,
      '--timeout',
      '3s',
      '--json',
      '--junit',
      junit,
    ]);
    assert.equal(code, 1, stderr);
    const report = JSON.parse(stdout) as {
      schemaVersion: number;
      summary: Record<string, number>;
      checks: JsonCheck[];
    };
    assert.equal(report.schemaVersion, 1);
    for (const check of report.checks) {
      assert.ok((STATUSES as readonly string[]).includes(check.status), check.status);
      assert.ok((LAYERS as readonly string[]).includes(check.layer), check.layer);
      assert.ok((REASONS as readonly string[]).includes(check.reason), check.reason);
      if (check.status === 'fail' || check.status === 'warn')
        assert.ok(check.fix !== undefined && check.fix.summary !== '', `${check.id} has a fix`);
    }
    const of = (port: number, layer: string): JsonCheck | undefined =>
      report.checks.find((check) => check.target.port === port && check.layer === layer);
    assert.equal(of(closedPort, 'transport')?.reason, 'refused');
    assert.equal(of(closedPort, 'protocol')?.status, 'skip');
    assert.equal(of(httpPort, 'transport')?.reason, 'open');
    const wrong = of(httpPort, 'protocol');
    assert.equal(wrong?.reason, 'wrong-protocol');
    assert.match(wrong.summary, /HTTP.*envoy/i);
    const xml = readFileSync(junit, 'utf8');
    assert.match(xml, /<testsuites name="sparkplane doctor" tests="\d+" failures="[1-9]\d*"/);
    assert.match(xml, /<testsuite name="protocol"/);
  });

  it('prints plain text without a terminal, and exits 2 on a bad target', async () => {
    const text = await doctor([`127.0.0.1:${String(closedPort)}`]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^transport/m);
    assert.match(text.stdout, /FAIL 127\.0\.0\.1:\d+ \(tcp\): .*\[refused\]/);
    assert.ok(!text.stdout.includes('\u001b['));
    const bad = await doctor(['no-port-here']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /target "no-port-here" must be HOST:PORT\[=SERVICE\]/);
  });

  it('lints files and explains logs through the same report', async () => {
    const lint = await doctor([
      'lint',
      join(FIXTURES, 'lint', 'executor-pod-template.yaml'),
      '--json',
    ]);
    assert.equal(lint.code, 0, 'warnings only');
    const findings = (JSON.parse(lint.stdout) as { checks: JsonCheck[] }).checks;
    assert.ok(findings.some((check) => check.reason === 'mesh-mtls'));
    const strict = await doctor([
      'lint',
      join(FIXTURES, 'lint', 'executor-pod-template.yaml'),
      '--strict',
    ]);
    assert.equal(strict.code, 1);
    const fixed = await doctor([
      'lint',
      join(FIXTURES, 'lint', 'executor-pod-template-fixed.yaml'),
    ]);
    assert.equal(fixed.code, 0);
    assert.match(fixed.stdout, /all checks passed/);
    const broken = await doctor(['lint', join(FIXTURES, 'lint', 'broken.yaml')]);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /broken\.yaml:\d+:\d+: not valid YAML/);

    const explained = await doctor([
      'explain',
      join(FIXTURES, 'explain', 'ess-3.5.9-wrong-protocol.log'),
    ]);
    assert.equal(explained.code, 1);
    assert.match(explained.stdout, /"PRI \* HT"/);
    assert.match(explained.stdout, /\[wrong-protocol\]/);
  });
});
