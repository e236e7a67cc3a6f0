import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lintSparkConf } from '../../../../src/doctor/lint/spark-conf.ts';

const collisions = (text: string) =>
  lintSparkConf(text).filter((finding) => finding.rule === 'spark-conf.port-collision');

describe('ports that collide', () => {
  it("finds the common Spark Connect setup's driver port on Connect's own default", () => {
    const [finding, ...rest] = collisions(
      'spark.master yarn\nspark.driver.port=15002\nspark.yarn.queue sparkconnect\n',
    );
    assert.equal(rest.length, 0);
    assert.ok(finding !== undefined);
    assert.equal(finding.line, 2);
    assert.equal(finding.status, 'fail');
    assert.match(
      finding.summary,
      /spark\.driver\.port and spark\.connect\.grpc\.binding\.port \(default\) ask for the same port 15002/,
    );
    assert.match(finding.summary, /the Spark Connect server, as the driver binds first/);
    assert.match(finding.fix.snippets?.[0]?.text ?? '', /# spark\.driver\.port 15002 +<- remove/);
  });

  it('finds two explicit settings on one port', () => {
    const [finding] = collisions('spark.ui.port 7337\nspark.shuffle.service.port 7337\n');
    assert.ok(finding !== undefined);
    assert.deepEqual(Object.keys(finding.evidence).slice(0, 2), [
      'spark.ui.port',
      'spark.shuffle.service.port',
    ]);
  });

  it('leaves distinct, random (0) and default ports alone', () => {
    assert.deepEqual(collisions('spark.driver.port 7078\nspark.blockManager.port 7079\n'), []);
    assert.deepEqual(collisions('spark.driver.port 0\nspark.blockManager.port 0\n'), []);
    // 15002 for the driver is harmless when the Connect server is moved elsewhere.
    assert.deepEqual(
      collisions('spark.driver.port 15002\nspark.connect.grpc.binding.port 15003\n'),
      [],
    );
  });
});
