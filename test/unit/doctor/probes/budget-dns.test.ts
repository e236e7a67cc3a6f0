// The one wait every probe uses (cleanup exactly once, its own limit vs the deadline vs an abort,
// no timer left behind) and the DNS layer over an injected resolver.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBudget, waitFor } from '../../../../src/doctor/probes/budget.ts';
import { probeDns } from '../../../../src/doctor/probes/dns.ts';
import type { Target } from '../../../../src/doctor/targets.ts';
import { activeResources, assertNothingLeaked } from '../../../support/leaks.ts';

describe('waitFor', () => {
  it('resolves with the finished value and cleans up once, leaving no timer', async () => {
    const baseline = activeResources();
    let cleanups = 0;
    const value = await waitFor(
      createBudget(Date.now() + 5000),
      5000,
      (finish) => {
        setImmediate(() => {
          finish('done');
          finish('twice');
        });
        return () => {
          cleanups++;
        };
      },
      () => 'timeout',
    );
    assert.equal(value, 'done');
    assert.equal(cleanups, 1);
    await assertNothingLeaked(baseline, 'waitFor');
  });

  it('handles a start that finishes before returning its cleanup', async () => {
    let cleanups = 0;
    const value = await waitFor(
      createBudget(Date.now() + 1000),
      1000,
      (finish) => {
        finish(42);
        return () => {
          cleanups++;
        };
      },
      () => 0,
    );
    assert.deepEqual([value, cleanups], [42, 1]);
  });

  it('tells its own limit from the deadline', async () => {
    const limit = await waitFor(
      createBudget(Date.now() + 5000),
      20,
      () => () => undefined,
      (t) => t,
    );
    assert.equal(limit.end, 'limit');
    assert.ok(limit.waitedMs >= 15);
    const deadline = await waitFor(
      createBudget(Date.now() + 20),
      5000,
      () => () => undefined,
      (t) => t,
    );
    assert.equal(deadline.end, 'deadline');
  });

  it('ends at once on abort, also when aborted before it starts', async () => {
    const controller = new AbortController();
    let cleaned = false;
    const pending = waitFor(
      createBudget(Date.now() + 5000, controller.signal),
      5000,
      () => () => {
        cleaned = true;
      },
      (t) => t.end,
    );
    controller.abort();
    assert.equal(await pending, 'aborted');
    assert.ok(cleaned);
    let started = false;
    const already = await waitFor(
      createBudget(Date.now() + 5000, controller.signal),
      5000,
      () => {
        started = true;
        return () => undefined;
      },
      (t) => t.end,
    );
    assert.deepEqual([already, started], ['aborted', false]);
    assert.equal(createBudget(Date.now() + 5000, controller.signal).remainingMs(), 0);
  });
});

describe('probeDns', () => {
  const target: Target = { host: 'ess.spark.internal', port: 7337, service: 'spark-shuffle' };
  const budget = () => createBudget(Date.now() + 2000);

  it('lists every address once, in the resolver order', async () => {
    const result = await probeDns(target, budget(), () =>
      Promise.resolve([
        { address: '10.0.2.7', family: 4 },
        { address: 'fd00::7', family: 6 },
        { address: '10.0.2.7', family: 4 },
      ]),
    );
    assert.equal(result.check.reason, 'resolved');
    assert.equal(result.check.evidence.addresses, '10.0.2.7, fd00::7');
    assert.deepEqual(
      result.addresses.map((entry) => entry.address),
      ['10.0.2.7', 'fd00::7'],
    );
  });

  it("fails with the resolver's code and a fix", async () => {
    const error = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    const result = await probeDns(target, budget(), () => Promise.reject(error));
    assert.equal(result.check.status, 'fail');
    assert.equal(result.check.reason, 'dns-failure');
    assert.equal(result.check.evidence.errno, 'ENOTFOUND');
    assert.match(result.check.fix?.snippets?.[0]?.text ?? '', /getent ahosts ess\.spark\.internal/);
    assert.deepEqual(result.addresses, []);
  });

  it('fails an empty answer and a resolver that does not answer by the deadline', async () => {
    const empty = await probeDns(target, budget(), () => Promise.resolve([]));
    assert.equal(empty.check.evidence.errno, 'ENODATA');
    const never = await probeDns(
      target,
      createBudget(Date.now() + 30),
      () => new Promise(() => undefined),
    );
    assert.equal(never.check.reason, 'dns-failure');
    assert.equal(never.check.evidence.errno, 'ETIMEOUT');
  });

  it('passes an IP address through without asking the resolver', async () => {
    const result = await probeDns({ ...target, host: '::1' }, budget(), () => {
      throw new Error('must not be called');
    });
    assert.equal(result.check.reason, 'resolved');
    assert.deepEqual(result.addresses, [{ address: '::1', family: 6 }]);
  });
});
