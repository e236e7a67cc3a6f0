// The pin file and the rule that an install counts only when it matches its pin exactly.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SPARK_PINS,
  markerMatches,
  versionAtLeast,
  type InstallMarker,
} from '../../interop/harness/spark-install.ts';

describe('Spark pins', () => {
  it('pin a 3.5, a 4.0 and a newest 4.x line, the 3.5 one with its Connect server jar', () => {
    assert.deepEqual(
      SPARK_PINS.map((pin) => pin.line),
      ['3.5', '4.0', '4.x'],
    );
    for (const pin of SPARK_PINS) assert.match(pin.spark, /^\d+\.\d+\.\d+$/);
    assert.match(
      SPARK_PINS[0]?.connectJar?.coordinates ?? '',
      /^org\.apache\.spark:spark-connect_2\.12:3\.5\.\d+$/,
    );
    assert.match(SPARK_PINS[0]?.connectJar?.sha256 ?? '', /^[0-9a-f]{64}$/);
    for (const pin of SPARK_PINS)
      for (const requirement of pin.python)
        assert.match(requirement, /^[A-Za-z0-9_.-]+==[0-9][^\s]*$/);
  });

  it('an install marker counts only for the exact pin', () => {
    const pin = SPARK_PINS[0];
    assert.ok(pin !== undefined);
    const marker: InstallMarker = {
      spark: pin.spark,
      python: pin.python,
      ...(pin.connectJar === undefined ? {} : { connectJarSha256: pin.connectJar.sha256 }),
      sparkHome: '/x',
      venvPython: '/x/python',
    };
    assert.equal(markerMatches(marker, pin), true);
    assert.equal(markerMatches({ ...marker, spark: '3.5.0' }, pin), false);
    assert.equal(markerMatches({ ...marker, python: [...pin.python, 'extra==1'] }, pin), false);
    assert.equal(markerMatches({ ...marker, connectJarSha256: '0'.repeat(64) }, pin), false);
  });

  it('compares Python versions numerically', () => {
    assert.equal(versionAtLeast('3.11', '3.9'), true);
    assert.equal(versionAtLeast('3.9', '3.11'), false);
    assert.equal(versionAtLeast('3.11', '3.11'), true);
    assert.equal(versionAtLeast('4.0', '3.11'), true);
  });
});
