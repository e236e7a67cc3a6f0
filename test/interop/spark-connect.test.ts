// Smoke test of the harness against real Spark: the PySpark Connect client runs queries on a
// Spark Connect server.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import { runPySpark, startConnectServer } from './harness/spark-processes.ts';

interface ConnectQueryResult {
  readonly sparkVersion: string;
  readonly keys: number[];
  readonly counts: number[];
  readonly total: number;
  readonly sql: number;
}

forEachSparkVersion('the PySpark Connect client on a Spark Connect server', (install) => {
  it('runs an aggregation and SQL', { timeout: 300_000 }, async () => {
    await inSparkRun(install, 'spark-connect', async (run, keep) => {
      const server = keep(await startConnectServer(run));
      const { result, process } = await runPySpark<ConnectQueryResult>(
        run,
        'connect_query.py',
        [server.url],
        {
          name: 'connect-client',
          timeoutMs: 180_000,
        },
      );
      keep(process);
      assert.equal(result.sparkVersion, install.pin.spark);
      assert.deepEqual(result.keys, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(result.counts, Array<number>(10).fill(1000));
      assert.equal(result.total, 49_995_000);
      assert.equal(result.sql, 42);
    });
  });
});
