// Connect outcomes as the lab saw them (spec §2.1), classified from errno and time alone: the
// netns lab produces the real packets for filtered, unreachable and no-route later.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyConnectError,
  describeDnsError,
} from '../../../../src/doctor/probes/connect-errors.ts';
import { connectCheck, settleMs } from '../../../../src/doctor/probes/tcp.ts';
import type { Target } from '../../../../src/doctor/targets.ts';

const target: Target = { host: '10.0.2.7', port: 7337, service: 'spark-shuffle' };
const endpoint = { address: '10.0.2.7', port: 7337 };

describe('classifyConnectError', () => {
  const cases: [string | undefined, number, string, RegExp][] = [
    [undefined, 3000, 'filtered', /no answer to the connection request within 3000 ms/],
    ['ETIMEDOUT', 7130, 'filtered', /kernel gave up/],
    ['ECONNREFUSED', 5, 'refused', /ECONNREFUSED/],
    ['EHOSTUNREACH', 6, 'unreachable', /ICMP host-unreachable or administratively-prohibited/],
    ['EHOSTUNREACH', 3083, 'unreachable', /ARP failed/],
    ['ENETUNREACH', 4, 'no-route', /no route/],
    ['EADDRNOTAVAIL', 1, 'no-route', /source address/],
    ['EPERM', 1, 'filtered', /local firewall/],
    ['EACCES', 1, 'filtered', /local firewall/],
    ['ECONNRESET', 11, 'reset-after-connect', /accepted and reset/],
    ['EPIPE', 11, 'reset-after-connect', /EPIPE/],
    ['EWHATEVER', 2, 'unreachable', /EWHATEVER/],
  ];
  for (const [errno, elapsed, reason, summary] of cases) {
    it(`${errno ?? 'our timer'} after ${String(elapsed)} ms → ${reason}`, () => {
      const failure = classifyConnectError(errno, elapsed);
      assert.equal(failure.reason, reason);
      assert.match(failure.summary, summary);
    });
  }

  it('names resolver errors', () => {
    assert.match(describeDnsError('ENOTFOUND'), /does not exist/);
    assert.match(describeDnsError('EAI_AGAIN'), /did not answer/);
    assert.match(describeDnsError('EBADNAME'), /EBADNAME/);
  });
});

describe('connectCheck', () => {
  it('passes an open port and keeps both ends and what the server said first', () => {
    const check = connectCheck(target, endpoint, {
      kind: 'open',
      connectMs: 2.4,
      local: '10.0.1.5:40112',
      banner: Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'),
    });
    assert.equal(check.status, 'pass');
    assert.equal(check.reason, 'open');
    assert.equal(check.evidence.localAddress, '10.0.1.5:40112');
    assert.equal(check.evidence.remoteAddress, '10.0.2.7:7337');
    assert.match(check.summary, /speaks first: text "SSH-2.0-OpenSSH_9.6"/);
    assert.equal(check.fix, undefined);
  });

  it('fails a refused port with the errno, the time and a fix naming the service setting', () => {
    const check = connectCheck(target, endpoint, {
      kind: 'failed',
      errno: 'ECONNREFUSED',
      elapsedMs: 5.2,
    });
    assert.equal(check.status, 'fail');
    assert.equal(check.reason, 'refused');
    assert.equal(check.evidence.errno, 'ECONNREFUSED');
    assert.equal(check.evidence.elapsedMs, 5);
    assert.match(check.fix?.snippets?.[0]?.text ?? '', /spark\.shuffle\.service\.port=7337/);
  });

  it('calls long silence filtered, with firewall snippets for each cloud', () => {
    const check = connectCheck(target, endpoint, {
      kind: 'silent',
      timedOut: { end: 'deadline', waitedMs: 2990 },
    });
    assert.equal(check.reason, 'filtered');
    const platforms = check.fix?.snippets?.map((snippet) => snippet.platform);
    assert.deepEqual(platforms, ['aws-cli', 'azure-cli', 'gcloud']);
    assert.match(check.fix?.snippets?.[0]?.text ?? '', /--port 7337/);
  });

  it('does not call silence cut short by the deadline filtered', () => {
    const check = connectCheck(target, endpoint, {
      kind: 'silent',
      timedOut: { end: 'deadline', waitedMs: 40 },
    });
    assert.equal(check.status, 'warn');
    assert.equal(check.reason, 'timeout');
    assert.match(check.fix?.snippets?.[0]?.text ?? '', /--timeout/);
  });

  it('reports a reset right after connect, and which way it closed', () => {
    const check = connectCheck(target, endpoint, {
      kind: 'closed-after-connect',
      connectMs: 1,
      local: '10.0.1.5:40112',
      how: 'reset',
      errno: 'ECONNRESET',
      afterMs: 6,
    });
    assert.equal(check.reason, 'reset-after-connect');
    assert.equal(check.evidence.closedBy, 'reset');
    assert.match(
      check.fix?.snippets?.map((snippet) => snippet.text).join('\n') ?? '',
      /excludeInboundPorts/,
    );
  });

  it('classifies unreachable and no-route from their errno', () => {
    const unreachable = connectCheck(target, endpoint, {
      kind: 'failed',
      errno: 'EHOSTUNREACH',
      elapsedMs: 6,
    });
    assert.equal(unreachable.reason, 'unreachable');
    assert.match(unreachable.fix?.snippets?.[0]?.text ?? '', /tcpdump -ni any icmp/);
    const noRoute = connectCheck(target, endpoint, {
      kind: 'failed',
      errno: 'ENETUNREACH',
      elapsedMs: 4,
    });
    assert.equal(noRoute.reason, 'no-route');
    assert.match(noRoute.fix?.snippets?.[0]?.text ?? '', /ip route get 10\.0\.2\.7/);
  });

  it('watches an open connection a few round trips, within bounds', () => {
    assert.equal(settleMs(0.2), 100);
    assert.equal(settleMs(40), 160);
    assert.equal(settleMs(900), 500);
  });
});
