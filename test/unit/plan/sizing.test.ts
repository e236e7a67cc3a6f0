// The sizing rules: the EMR guide's example reproduced, the minimum of three servers, rounding
// that never adds a point for float noise, and every refusal with the flag to change.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlanError } from '../../../src/plan/errors.ts';
import {
  maximumCapacity,
  neededPercent,
  planDeployment,
  queueCapacity,
  serverCount,
  userLimitFactor,
  type PlanInput,
} from '../../../src/plan/sizing.ts';
import { emrExample, GIB } from './emr-example.ts';

function refusal(overrides: Partial<PlanInput>, code: string, pattern: RegExp): void {
  assert.throws(
    () => planDeployment(emrExample(overrides)),
    (error: unknown) => {
      assert.ok(error instanceof PlanError);
      assert.equal(error.code, code);
      assert.equal(error.exitCode, 2);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
  );
}

describe('the EMR guide example', () => {
  it('20 sessions × 4 GB / 640 GB is 12.5 %, which the headroom rule turns into 30 %, max 40 %', () => {
    const needed = neededPercent(20, 4 * GIB, 640 * GIB);
    assert.equal(needed, 12.5);
    assert.equal(queueCapacity(needed), 30);
    assert.equal(maximumCapacity(30), 40);
  });

  it('plans 4 servers for 20 users, 2.5 % needed, queues 30/40 and 70/100', () => {
    const plan = planDeployment(emrExample());
    assert.equal(plan.servers, 4);
    assert.equal(plan.driversMemory, 16 * GIB);
    assert.equal(plan.neededPercent, 2.5);
    assert.deepEqual(plan.connectQueue, {
      name: 'sparkconnect',
      capacity: 30,
      maximumCapacity: 40,
      maximumApplications: 8,
      userLimitFactor: 1.4,
    });
    assert.deepEqual(plan.defaultQueue, { name: 'default', capacity: 70, maximumCapacity: 100 });
    // 4 × (4 GiB + 10 %) on the gateway host, where client-mode drivers run.
    assert.equal(plan.driverHostMemory, 4 * (4 * GIB + Math.round(0.4 * GIB)));
  });
});

describe('servers', () => {
  it('never fewer than 3, for high availability', () => {
    assert.equal(serverCount(1, 5), 3);
    assert.equal(serverCount(15, 5), 3);
    assert.equal(serverCount(1, 100), 3);
  });

  it('rounds users up to whole servers', () => {
    assert.equal(serverCount(16, 5), 4);
    assert.equal(serverCount(20, 5), 4);
    assert.equal(serverCount(21, 5), 5);
    assert.equal(serverCount(101, 10), 11);
  });
});

describe('queue capacity', () => {
  it('is max(30, ceil(2 × needed)) in whole percent', () => {
    assert.equal(queueCapacity(0.01), 30);
    assert.equal(queueCapacity(15), 30);
    assert.equal(queueCapacity(15.01), 31);
    assert.equal(queueCapacity(20.2), 41);
    assert.equal(queueCapacity(45), 90);
  });

  it('does not add a point for float noise', () => {
    // 0.1 + 0.2 = 0.30000000000000004: 2 × 17.5 must stay 35, not become 36.
    assert.equal(queueCapacity((0.1 + 0.2) * 58.333333333333336), 35);
    // 3 × 7 GiB / 75 GiB × 100 is 28.000000000000004 in floating point.
    assert.equal(queueCapacity(neededPercent(3, 7 * GIB, 75 * GIB)), 56);
  });

  it('maximum-capacity is 10 points above, at most 100', () => {
    assert.equal(maximumCapacity(30), 40);
    assert.equal(maximumCapacity(85), 95);
    assert.equal(maximumCapacity(95), 100);
  });

  it('user-limit-factor lets the one service user reach maximum-capacity', () => {
    assert.equal(userLimitFactor(30, 40), 1.4);
    assert.equal(userLimitFactor(40, 50), 1.3);
    assert.equal(userLimitFactor(50, 60), 1.2);
    assert.equal(userLimitFactor(90, 100), 1.2);
    assert.equal(userLimitFactor(100, 100), 1);
  });

  it('a large plan: 50 users of 8 GiB drivers on 256 GiB need 31.25 % → 63 %, max 73 %', () => {
    const plan = planDeployment(
      emrExample({ concurrentUsers: 50, driverMemory: 8 * GIB, clusterMemory: 256 * GIB }),
    );
    assert.equal(plan.servers, 10);
    assert.equal(plan.neededPercent, 31.25);
    assert.equal(plan.connectQueue.capacity, 63);
    assert.equal(plan.connectQueue.maximumCapacity, 73);
    assert.equal(plan.defaultQueue.capacity, 37);
  });
});

describe('refusals', () => {
  it('driver memory not smaller than the cluster', () => {
    refusal({ driverMemory: 640 * GIB }, 'PLAN_DRIVER_TOO_LARGE', /--cluster-memory/);
    refusal({ driverMemory: 700 * GIB }, 'PLAN_DRIVER_TOO_LARGE', /700 GiB is not smaller/);
  });

  it('drivers that need more than the cluster', () => {
    refusal(
      { concurrentUsers: 2000, driverMemory: 8 * GIB },
      'PLAN_DRIVERS_DO_NOT_FIT',
      /400 Spark Connect servers × 8 GiB.*--users-per-server \(now 5\)/,
    );
  });

  it('a queue that leaves the default queue less than 10 %', () => {
    // 3 servers × 100 GiB of 640 GiB = 46.9 % → 94 %.
    refusal(
      { concurrentUsers: 10, driverMemory: 100 * GIB },
      'PLAN_QUEUE_TOO_LARGE',
      /94 % of the cluster \(2 × 46.88 % for 3 servers × 100 GiB\).*less than 10 %/,
    );
    // 45 % → exactly 90 %: still planned.
    const plan = planDeployment(emrExample({ concurrentUsers: 10, driverMemory: 96 * GIB }));
    assert.equal(plan.connectQueue.capacity, 90);
    assert.equal(plan.defaultQueue.capacity, 10);
  });

  it('a queue named default or not a queue name', () => {
    refusal({ queue: 'default' }, 'PLAN_BAD_QUEUE', /--queue/);
    refusal({ queue: 'root.spark' }, 'PLAN_BAD_QUEUE', /letters, digits/);
    refusal({ queue: 'a b' }, 'PLAN_BAD_QUEUE', /"a b"/);
  });
});
