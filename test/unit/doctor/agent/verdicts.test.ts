// The verdicts only an agent can give, as pure functions of what both ends saw: NAT, the MTU
// ladder, the return path, idle survival and the matrix letters.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReceivedReport } from '../../../../src/doctor/agent/callback.ts';
import type { ProbeResult } from '../../../../src/doctor/agent/messages.ts';
import { fateOf, idleCheck, type IdleLeg } from '../../../../src/doctor/idle-probe.ts';
import { cellOf, renderGrid, buildGrid, sawHalfOpen } from '../../../../src/doctor/matrix-grid.ts';
import { mtuCheck, type LadderStep } from '../../../../src/doctor/mtu-ladder.ts';
import { natCheck, natVerdict } from '../../../../src/doctor/nat-check.ts';
import { reportMatch, returnPathCheck } from '../../../../src/doctor/return-path.ts';
import type { Target } from '../../../../src/doctor/targets.ts';

const target: Target = { host: '10.231.2.2', port: 7008, service: 'agent' };
const facts = { interface: 'eth0', interfaceMtu: 9001, routeMtu: null };

describe('NAT', () => {
  it('tells no NAT, NAT, PAT and port-only translation apart', () => {
    const ours = { address: '10.231.1.2', port: 33950 };
    assert.equal(natVerdict(ours, { address: '::ffff:10.231.1.2', port: 33950 }), 'none');
    assert.equal(natVerdict(ours, { address: '10.231.2.1', port: 33950 }), 'nat');
    assert.equal(natVerdict(ours, { address: '10.231.2.1', port: 1024 }), 'pat');
    assert.equal(natVerdict(ours, { address: '10.231.1.2', port: 1024 }), 'port-only');
  });

  it('warns nat-detected with both addresses and a route fix; passes no-nat', () => {
    const nat = natCheck(
      target,
      { address: '10.231.1.2', port: 33950 },
      { address: '10.231.2.1', port: 33950 },
      'b',
    );
    assert.equal(nat.status, 'warn');
    assert.equal(nat.reason, 'nat-detected');
    assert.equal(nat.layer, 'route');
    assert.equal(nat.evidence.peerSeenAddress, '10.231.2.1:33950');
    assert.equal(nat.evidence.localAddress, '10.231.1.2:33950');
    assert.match(nat.fix?.summary ?? '', /peering or Transit Gateway/);
    assert.ok(nat.fix?.snippets?.some((snippet) => snippet.text.includes('create-route')));
    const none = natCheck(
      target,
      { address: '10.231.1.2', port: 1 },
      { address: '10.231.1.2', port: 1 },
      'b',
    );
    assert.equal(none.reason, 'no-nat');
    assert.equal(none.fix, undefined);
  });
});

const done = (size: number, direction: LadderStep['direction']): LadderStep => ({
  size,
  direction,
  result: { kind: 'done', elapsedMs: 1 },
  limitMs: 4000,
});

describe('MTU ladder verdict', () => {
  it('passes mtu-ok when every step completed', () => {
    const steps = [100, 1200, 1400, 8000, 65536].flatMap((size) => [
      done(size, 'to-agent'),
      done(size, 'from-agent'),
    ]);
    const check = mtuCheck(target, steps, facts);
    assert.equal(check.status, 'pass');
    assert.equal(check.reason, 'mtu-ok');
  });

  it('fails mtu-blackhole at the first stall, bracketing the path MTU, with the interface MTU and the ICMP fix', () => {
    const steps = [
      done(100, 'to-agent'),
      done(100, 'from-agent'),
      done(1200, 'to-agent'),
      done(1200, 'from-agent'),
      {
        size: 1400,
        direction: 'to-agent',
        result: { kind: 'timeout', waitedMs: 2950 },
        limitMs: 2950,
      } as const,
    ];
    const check = mtuCheck(target, steps, facts);
    assert.equal(check.status, 'fail');
    assert.equal(check.reason, 'mtu-blackhole');
    assert.equal(check.layer, 'path-mtu');
    assert.equal(check.evidence.stalledSize, 1400);
    assert.equal(check.evidence.stalledDirection, 'to-agent');
    assert.equal(check.evidence.interfaceMtu, 9001);
    assert.match(check.summary, /between 1240 and 1440 bytes/);
    assert.match(check.fix?.summary ?? '', /ICMP type 3 code 4/);
    assert.ok(check.fix?.snippets?.some((snippet) => snippet.text.includes('tcp_mtu_probing=1')));
  });

  it('calls a stall the deadline cut short a timeout warning, not a blackhole', () => {
    const steps = [
      {
        size: 100,
        direction: 'to-agent',
        result: { kind: 'timeout', waitedMs: 300 },
        limitMs: 300,
      } as const,
    ];
    const check = mtuCheck(target, steps, facts);
    assert.equal(check.status, 'warn');
    assert.equal(check.reason, 'timeout');
  });

  it('skips when no step had time', () => {
    assert.equal(mtuCheck(target, [], facts).status, 'skip');
  });
});

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

const leg = (fate: IdleLeg['fate'], errno: string | null = null): IdleLeg => ({
  fate,
  seenBefore: { address: '10.231.2.1', port: 40000 },
  errno,
  afterMs: fate === 'silent' ? 5000 : 3,
});

describe('idle survival', () => {
  it('maps answers to fates', () => {
    assert.equal(fateOf({ kind: 'answer', body: {} }), 'answered');
    assert.equal(fateOf({ kind: 'timeout', waitedMs: 5000 }), 'silent');
    assert.equal(fateOf({ kind: 'closed', how: 'reset', errno: 'ECONNRESET' }), 'reset');
    assert.equal(fateOf({ kind: 'closed', how: 'fin', errno: null }), 'closed');
  });

  it('fails idle-timeout, silent (Azure/GCP style), with keepalive as the proven fix', () => {
    const check = idleCheck(target, 8000, {
      plain: leg('silent'),
      keptAlive: leg('answered'),
      keepAliveMs: 2666,
    });
    assert.equal(check.status, 'fail');
    assert.equal(check.reason, 'idle-timeout');
    assert.equal(check.layer, 'session');
    assert.match(check.summary, /idle flow expired, silent \(Azure\/GCP style\)/);
    assert.match(check.summary, /keepalive .* survived, so keepalive fixes it/);
    assert.match(check.fix?.summary ?? '', /tcp_keepalive_time/);
    assert.equal(check.evidence.peerSeenAddress, '10.231.2.1:40000');
  });

  it('fails idle-timeout with a reset (AWS style); says so when keepalive did not help', () => {
    const check = idleCheck(target, 8000, {
      plain: leg('reset', 'ECONNRESET'),
      keptAlive: leg('reset'),
      keepAliveMs: 2666,
    });
    assert.equal(check.reason, 'idle-timeout');
    assert.match(check.summary, /expired with a reset \(AWS style\)/);
    assert.match(check.summary, /died too/);
    assert.doesNotMatch(check.fix?.summary ?? '', /tcp_keepalive_time/);
  });

  it('passes idle-ok when the idle connection still answered', () => {
    const check = idleCheck(target, 1000, {
      plain: leg('answered'),
      keptAlive: leg('answered'),
      keepAliveMs: 1000,
    });
    assert.equal(check.status, 'pass');
    assert.equal(check.reason, 'idle-ok');
  });
});

const probe = (outcome: ProbeResult['outcome'], seen = '10.0.0.1'): ProbeResult => ({
  outcome,
  errno: outcome === 'refused' ? 'ECONNREFUSED' : null,
  elapsedMs: 3,
  local: { address: '10.0.0.1', port: 40000 },
  peer:
    outcome === 'connected'
      ? {
          name: 'b',
          version: '0.1.0',
          protocol: 1,
          ports: [7337],
          interfaces: [],
          seen: { address: seen, port: 40000 },
          local: { address: '10.0.0.2', port: 7337 },
        }
      : null,
});
const a = { host: '10.0.0.1', agent: 'a' };
const b = { host: '10.0.0.2', agent: 'b' };

describe('matrix letters', () => {
  it('gives each outcome its letter and check', () => {
    const letter = (
      result: ProbeResult | undefined,
      halfOpen = false,
    ): [string, string, string] => {
      const cell = cellOf(a, b, 7337, result, halfOpen);
      return [cell.letter, cell.check.status, cell.check.reason];
    };
    assert.deepEqual(letter(probe('connected')), ['.', 'pass', 'open']);
    assert.deepEqual(letter(probe('connected', '10.9.9.9')), ['N', 'warn', 'nat-detected']);
    assert.deepEqual(letter(probe('timeout')), ['T', 'fail', 'filtered']);
    assert.deepEqual(letter(probe('timeout'), true), ['R', 'fail', 'return-path-blocked']);
    assert.deepEqual(letter(probe('refused')), ['X', 'fail', 'refused']);
    assert.deepEqual(letter(probe('reset-after-connect')), ['M', 'fail', 'reset-after-connect']);
    assert.deepEqual(letter(probe('not-an-agent')), ['M', 'fail', 'wrong-protocol']);
    assert.deepEqual(letter(undefined), ['?', 'skip', 'not-checked']);
  });

  it('sets the source on each check and names both ends', () => {
    const cell = cellOf(a, b, 7337, probe('timeout'), true);
    assert.deepEqual(cell.check.source, { file: '10.0.0.1' });
    assert.deepEqual(cell.check.target, { host: '10.0.0.2', port: 7337, service: 'agent' });
    assert.match(cell.check.summary, /^10\.0\.0\.1 → 10\.0\.0\.2:7337: /);
  });

  it('sees our probe half-open at the destination only for its own 4-tuple and port', () => {
    const entry = (port: number, remotePort: number) => ({
      local: { address: '10.0.0.2', port },
      remote: { address: '10.0.0.1', port: remotePort },
      firstSeen: '',
      ageMs: 1500,
      current: true,
    });
    assert.ok(sawHalfOpen(probe('timeout'), [entry(7337, 40000)], 7337));
    assert.ok(!sawHalfOpen(probe('timeout'), [entry(7337, 40001)], 7337));
    assert.ok(!sawHalfOpen(probe('timeout'), [entry(7338, 40000)], 7337));
  });

  it('renders rows as sources and columns as destinations, with the legend', () => {
    const text = renderGrid(
      buildGrid([a, b], 7337, [
        ['.', 'R'],
        ['T', '.'],
      ]),
    );
    const lines = text.split('\n');
    assert.equal(lines[0], 'reachability on port 7337 (rows: from, columns: to)');
    assert.match(lines[2] ?? '', /^ {2}1 10\.0\.0\.1 +\. +R$/);
    assert.match(lines[3] ?? '', /^ {2}2 10\.0\.0\.2 +T +\.$/);
    assert.match(text, /R {2}return path/);
  });
});
