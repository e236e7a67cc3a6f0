// Smoke test of the harness against real Spark: a PySpark job with a real shuffle on a standalone
// cluster whose executors use Spark's own external shuffle service.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import {
  runPySpark,
  startSparkShuffleService,
  startStandaloneCluster,
} from './harness/spark-processes.ts';
import { EXPECTED_GROUPS, type ShuffleJobResult } from './harness/shuffle-job.ts';

forEachSparkVersion("a groupBy through Spark's external shuffle service", (install) => {
  it(
    'returns the right answer, and again after every executor has left',
    { timeout: 600_000 },
    async () => {
      await inSparkRun(install, 'spark-shuffle-service', async (run, keep) => {
        const cluster = keep(await startStandaloneCluster(run, { cores: 2, memory: '2g' }));
        const shuffleService = keep(await startSparkShuffleService(run));

        const { result, process } = await runPySpark<ShuffleJobResult>(
          run,
          'shuffle_groupby.py',
          [cluster.masterUrl, String(shuffleService.port)],
          { name: 'driver', timeoutMs: 300_000 },
        );
        keep(process);
        console.log(`Spark ${install.pin.spark}: job took ${result.seconds} s`);

        assert.equal(result.sparkVersion, install.pin.spark);
        assert.equal(result.partitions, 8);
        assert.deepEqual(result.first, EXPECTED_GROUPS);
        assert.ok(
          result.executorsDuring >= 1,
          `executors during the job: ${result.executorsDuring}`,
        );
        assert.equal(
          result.executorsAfterIdle,
          0,
          'every executor should have left before the second read',
        );
        assert.deepEqual(result.second, EXPECTED_GROUPS);
        // Every executor of the job registered with the external shuffle service.
        const registrations =
          shuffleService.process
            .log()
            .match(new RegExp(`Registered executor .*appId=${result.appId}`, 'g')) ?? [];
        assert.ok(
          registrations.length >= 2,
          `registrations seen by the shuffle service: ${registrations.length}`,
        );
      });
    },
  );
});
