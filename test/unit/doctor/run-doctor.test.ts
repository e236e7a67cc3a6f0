// Probing many targets under one budget: all at once, in the given order, a probe that throws
// becomes a skipped check, and one that overruns is told to stop.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Check } from '../../../src/doctor/model.ts';
import { probeAll, type ProbeTarget } from '../../../src/doctor/run-doctor.ts';
import type { Target } from '../../../src/doctor/targets.ts';

const targets: Target[] = Array.from({ length: 12 }, (_, index) => ({
  host: `10.0.0.${String(index)}`,
  port: 7337,
  service: 'spark-shuffle',
}));

function passed(target: Target): Check {
  return {
    id: 'transport.connect',
    target,
    layer: 'transport',
    status: 'pass',
    reason: 'open',
    summary: 'open',
    evidence: {},
  };
}

describe('probeAll', () => {
  it('probes every target at once under one deadline and keeps their order', async () => {
    const deadlines = new Set<number>();
    let running = 0;
    let most = 0;
    const probe: ProbeTarget = async (target, options) => {
      deadlines.add(options.deadline);
      running++;
      most = Math.max(most, running);
      await sleep(50 - Number(target.host.split('.').at(-1)) * 3);
      running--;
      if (target.host === '10.0.0.3') throw new Error('boom');
      return [passed(target)];
    };
    const progress: number[] = [];
    const checks = await probeAll(targets, {
      timeoutMs: 2000,
      probe,
      progress: (done, total) => {
        assert.equal(total, 12);
        progress.push(done);
      },
    });
    assert.equal(deadlines.size, 1, 'one deadline for all');
    assert.equal(most, 12, 'all at once');
    assert.deepEqual(
      checks.map((check) => check.target.host),
      targets.map((target) => target.host),
    );
    assert.equal(checks[3]?.status, 'skip');
    assert.match(checks[3].summary, /the probe itself failed: boom/);
    assert.deepEqual(
      progress,
      Array.from({ length: 12 }, (_, index) => index + 1),
    );
  });

  it('aborts a probe that overruns the budget', async () => {
    const probe: ProbeTarget = (target, options) =>
      new Promise((resolve) => {
        options.signal?.addEventListener('abort', () => {
          resolve([{ ...passed(target), status: 'fail', reason: 'timeout', summary: 'cut off' }]);
        });
      });
    const started = Date.now();
    const checks = await probeAll(targets.slice(0, 2), { timeoutMs: 100, probe });
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(
      checks.map((check) => check.summary),
      ['cut off', 'cut off'],
    );
  });
});
