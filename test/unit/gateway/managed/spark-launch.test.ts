import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connectServerArgs } from '../../../../src/gateway/managed/connect-server-process.ts';
import {
  checkoutSpark,
  describeSparkHome,
  findSparkInstall,
} from '../../../../src/gateway/managed/spark-install.ts';
import { makeFakeSparkHome } from '../../../support/fake-spark-home.ts';

const dir = mkdtempSync(join(tmpdir(), 'sparkplane-spark-install-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const launch = (home: string, master: string) => ({
  install: describeSparkHome(home, 'test'),
  appName: 'sparkplane-connect-1',
  host: '127.0.0.1',
  port: 15100,
  master,
  conf: [['spark.yarn.queue', 'sparkconnect']] as const,
  logFile: '/dev/null',
});

describe('Spark installations', () => {
  it('reads the version and whether the jars carry the Connect server', () => {
    const four = describeSparkHome(makeFakeSparkHome(join(dir, 'four'), { version: '4.3.0' }), 't');
    assert.deepEqual([four.version, four.scala, four.hasConnectServer], ['4.3.0', '2.13', true]);
    const three = describeSparkHome(
      makeFakeSparkHome(join(dir, 'three'), { version: '3.5.9' }),
      't',
    );
    assert.deepEqual(
      [three.version, three.scala, three.hasConnectServer],
      ['3.5.9', '2.12', false],
    );
  });

  it('says what a folder lacks to be a Spark installation', () => {
    assert.throws(
      () => describeSparkHome(dir, '--spark-home'),
      /is not a Spark installation: it has no bin\/spark-submit and jars\//,
    );
  });

  it('falls back to the newest Spark this checkout installed', async () => {
    const cache = join(dir, 'cache');
    for (const version of ['3.5.9', '4.10.1', '4.3.0']) {
      const home = makeFakeSparkHome(join(cache, version, 'home'), { version });
      mkdirSync(join(cache, version, 'venv', 'bin'), { recursive: true });
      writeFileSync(
        join(cache, version, 'installed.json'),
        JSON.stringify({
          sparkHome: home,
          venvPython: join(cache, version, 'venv', 'bin', 'python'),
        }),
      );
    }
    const env = { SPARK_HOME: '', SPARKPLANE_SPARK_CACHE: cache };
    const found = await findSparkInstall(undefined, env, '/nonexistent/python3');
    assert.deepEqual([found?.version, found?.foundBy], ['4.10.1', 'scripts/install --spark']);
    assert.equal(checkoutSpark(env)?.pyspark, join(cache, '4.10.1', 'venv', 'bin', 'pyspark'));
  });

  it('takes --spark-home first, then SPARK_HOME', async () => {
    const home = makeFakeSparkHome(join(dir, 'env'));
    assert.equal((await findSparkInstall(undefined, { SPARK_HOME: home }))?.foundBy, 'SPARK_HOME');
    assert.equal(
      (await findSparkInstall(home, { SPARK_HOME: '/nowhere' }))?.foundBy,
      '--spark-home',
    );
    assert.equal(
      await findSparkInstall(
        undefined,
        { SPARK_HOME: '', SPARKPLANE_SPARK_CACHE: join(dir, 'no-cache') },
        '/nonexistent/python3',
      ),
      undefined,
    );
  });
});

describe('the spark-submit command line', () => {
  it('binds 4.x servers to the address and runs local masters without a deploy mode', () => {
    const args = connectServerArgs(launch(makeFakeSparkHome(join(dir, 'a')), 'local[2]'));
    assert.deepEqual(args, [
      '--class',
      'org.apache.spark.sql.connect.service.SparkConnectServer',
      '--name',
      'sparkplane-connect-1',
      '--master',
      'local[2]',
      '--conf',
      'spark.connect.grpc.binding.port=15100',
      '--conf',
      'spark.connect.grpc.binding.address=127.0.0.1',
      '--conf',
      'spark.yarn.queue=sparkconnect',
      'spark-internal',
    ]);
  });

  it('keeps the driver on this machine on YARN, and fetches the 3.5 Connect server by --packages', () => {
    const home = makeFakeSparkHome(join(dir, 'b'), { version: '3.5.9' });
    const args = connectServerArgs(launch(home, 'yarn'));
    assert.deepEqual(args.slice(6, 8), ['--deploy-mode', 'client']);
    assert.ok(!args.includes('spark.connect.grpc.binding.address=127.0.0.1'));
    assert.deepEqual(args.slice(-3), [
      '--packages',
      'org.apache.spark:spark-connect_2.12:3.5.9',
      'spark-internal',
    ]);
    const withJar = connectServerArgs({ ...launch(home, 'yarn'), connectJar: '/opt/c.jar' });
    assert.deepEqual(withJar.slice(-3), ['--jars', '/opt/c.jar', 'spark-internal']);
  });
});
