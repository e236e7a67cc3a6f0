// The idle-survival verdict, pure: how each of the two idle connections fared.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Target } from '../../../../src/doctor/targets.ts';
import { fateOf, idleCheck, type IdleLeg } from '../../../../src/doctor/idle-probe.ts';

const target: Target = { host: '10.231.2.2', port: 7008, service: 'agent' };

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
