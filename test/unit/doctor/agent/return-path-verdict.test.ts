// The return-path verdict, pure: both ends' evidence (our SYN_SENT, the agent's SYN_RECV report)
// and the retry from a low source port.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../../../../src/doctor/targets.ts';
import type { ReceivedReport } from '../../../../src/doctor/agent/callback.ts';
import { reportMatch, returnPathCheck } from '../../../../src/doctor/return-path.ts';

const target: Target = { host: '10.231.2.2', port: 7008, service: 'agent' };

const report = (remote: { address: string; port: number }, localPort = 7008): ReceivedReport => ({
  agent: 'b',
  entry: {
    local: { address: '10.231.2.2', port: localPort },
    remote,
    firstSeen: '2026-11-21T00:00:00.000Z',
    ageMs: 1250,
    current: true,
  },
  from: { address: '10.231.2.2', port: 40000 },
  receivedAt: 0,
});
const sighting = {
  local: { address: '10.231.1.2', port: 33950 },
  remote: { address: '10.231.2.2', port: 7008 },
  firstSeen: 0,
  lastSeen: 2800,
};
const dialled = [{ address: '10.231.2.2', port: 7008 }];

describe('return path', () => {
  it('matches a report to our SYN_SENT by the 4-tuple, or by the agent when our table was unreadable', () => {
    assert.equal(
      reportMatch(report({ address: '10.231.1.2', port: 33950 }), target, dialled, [sighting]),
      'tuple',
    );
    assert.equal(
      reportMatch(report({ address: '10.231.1.2', port: 40001 }), target, dialled, [sighting]),
      undefined,
    );
    assert.equal(
      reportMatch(report({ address: '10.231.1.2', port: 40001 }), target, dialled, []),
      'agent',
    );
    assert.equal(
      reportMatch(report({ address: '10.231.1.2', port: 33950 }, 7337), target, dialled, [
        sighting,
      ]),
      undefined,
    );
  });

  it('fails return-path-blocked with both ends and the NACL fix', () => {
    const check = returnPathCheck(
      target,
      [sighting],
      { report: report({ address: '10.231.1.2', port: 33950 }), match: 'tuple' },
      7338,
    );
    assert.equal(check.status, 'fail');
    assert.equal(check.reason, 'return-path-blocked');
    assert.equal(check.layer, 'return-path');
    assert.equal(
      check.evidence.ourSynSent,
      'SYN_SENT 10.231.1.2:33950 → 10.231.2.2:7008 for 2800 ms',
    );
    assert.equal(
      check.evidence.theirSynRecv,
      'SYN_RECV 10.231.2.2:7008 ← 10.231.1.2:33950 for 1250 ms',
    );
    assert.match(String(check.evidence.confidence), /^high/);
    assert.ok(check.fix?.snippets?.some((snippet) => snippet.text.includes('From=1024,To=65535')));
  });

  it('says when a retry from a low source port got through: the ACL covers only part of the ephemeral range', () => {
    const found = {
      report: report({ address: '10.231.1.2', port: 33950 }),
      match: 'tuple' as const,
    };
    const partial = returnPathCheck(target, [sighting], found, 7338, {
      localPort: 4000,
      outcome: 'connected',
      errno: null,
      elapsedMs: 8,
    });
    assert.equal(partial.reason, 'return-path-blocked');
    assert.match(
      partial.summary,
      /source port 4000, below Linux's ephemeral range, connected in 8 ms/,
    );
    assert.equal(partial.evidence.lowPortRetry, 'from source port 4000: connected in 8 ms');
    const blocked = returnPathCheck(target, [sighting], found, 7338, {
      localPort: 4000,
      outcome: 'timeout',
      errno: null,
      elapsedMs: 2800,
    });
    assert.doesNotMatch(blocked.summary, /source port 4000/);
    assert.equal(blocked.evidence.lowPortRetry, 'from source port 4000: timeout in 2800 ms');
  });

  it('without a report, skips and leaves the transport verdict standing', () => {
    const check = returnPathCheck(target, [sighting], undefined, 7338);
    assert.equal(check.status, 'skip');
    assert.match(check.summary, /callback port 7338/);
  });
});
