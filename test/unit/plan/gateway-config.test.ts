// The gateway config of a plan: YAML that parses back to the managed-server keys with the plan's
// numbers, and driver memory written in Spark's own notation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderGatewayConfig, sparkSize } from '../../../src/plan/gateway-config.ts';
import { planDeployment } from '../../../src/plan/sizing.ts';

const GIB = 1024 ** 3;

describe('sparkSize', () => {
  it('writes the largest unit that divides evenly, as spark.driver.memory takes it', () => {
    assert.equal(sparkSize(4 * GIB), '4g');
    assert.equal(sparkSize(1536 * 1024 ** 2), '1536m');
    assert.equal(sparkSize(2 * 1024 ** 4), '2t');
    assert.equal(sparkSize(3 * 1024), '3k');
    assert.equal(sparkSize(1000), '1000b');
  });
});

describe('gateway.yaml of a plan', () => {
  it('runs the planned servers on YARN in the planned queue', () => {
    const plan = planDeployment({
      concurrentUsers: 42,
      usersPerServer: 6,
      driverMemory: 6 * GIB,
      clusterMemory: 1024 * GIB,
      queue: 'bi',
    });
    const text = renderGatewayConfig(plan, { sparkHome: '/opt/spark' }, 'header line');
    assert.match(text, /^# header line\n/);
    const config = parse(text) as Record<string, unknown>;
    assert.equal(config.managedServers, 7);
    assert.equal(config.managedMaxServers, 7);
    assert.equal(config.sparkMaster, 'yarn');
    assert.equal(config.sparkHome, '/opt/spark');
    assert.equal(config.isolation, 'shared');
    assert.deepEqual(config.sparkConf, [
      'spark.yarn.queue=bi',
      'spark.driver.memory=6g',
      'spark.submit.deployMode=client',
    ]);
    assert.equal(config.port, 15002);
    assert.equal(config.stateDir, '/var/lib/sparkplane/gateway');
  });
});
