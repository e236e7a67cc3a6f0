// The NAT and MTU ladder verdicts, pure: what the agent saw of this connection and how far the
// ladder got.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../../../../src/doctor/targets.ts';
import { mtuCheck, type LadderStep } from '../../../../src/doctor/mtu-ladder.ts';
import { natCheck, natVerdict } from '../../../../src/doctor/nat-check.ts';

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
