// sparkplane shuffle as the external shuffle service of unchanged Spark executors: a standalone
// cluster with dynamic allocation, where the executors that wrote the map output are gone before
// the output is read again.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import {
  metricValue,
  shuffleMetrics,
  startSparkplaneShuffle,
} from './harness/sparkplane-processes.ts';
import { runPySpark, startStandaloneCluster } from './harness/spark-processes.ts';
import {
  EXPECTED_GROUPS,
  FETCH_THROUGH_SERVICE,
  type ShuffleJobResult,
} from './harness/shuffle-job.ts';

/**
 * Blocks through the service (as on a multi-host cluster), and Spark's default on one host:
 * executors ask the service where a gone executor's files are (GetLocalDirsForExecutors) and read
 * them from disk themselves, so the reply must name the dirs exactly.
 */
const VARIANTS = [
  { name: 'fetched through the service', conf: FETCH_THROUGH_SERVICE, throughService: true },
  { name: 'read from disk after GetLocalDirsForExecutors', conf: {}, throughService: false },
] as const;

forEachSparkVersion('a groupBy through sparkplane shuffle', (install) => {
  for (const variant of VARIANTS)
    it(
      `returns the right answer after the executors that wrote the map output are gone (${variant.name})`,
      { timeout: 600_000 },
      async () => {
        await inSparkRun(install, 'sparkplane-shuffle', async (run, keep) => {
          const cluster = keep(await startStandaloneCluster(run, { cores: 2, memory: '2g' }));
          const shuffle = keep(await startSparkplaneShuffle(run));
          const { result, process } = await runPySpark<ShuffleJobResult>(
            run,
            'shuffle_groupby.py',
            [cluster.masterUrl, String(shuffle.port)],
            {
              name: 'driver',
              timeoutMs: 300_000,
              env: { SPARKPLANE_JOB_CONF: JSON.stringify(variant.conf) },
            },
          );
          keep(process);
          console.log(
            `Spark ${install.pin.spark} with sparkplane shuffle: job took ${result.seconds} s`,
          );

          assert.equal(result.sparkVersion, install.pin.spark);
          assert.equal(result.partitions, 8);
          assert.deepEqual(result.first, EXPECTED_GROUPS);
          assert.equal(
            result.executorsAfterIdle,
            0,
            'every executor should have left before the second read',
          );
          assert.deepEqual(result.second, EXPECTED_GROUPS);

          const metrics = await shuffleMetrics(shuffle);
          assert.ok(metricValue(metrics, 'sparkplane_shuffle_registered_executors') >= 2, metrics);
          if (variant.throughService) {
            assert.ok(
              metricValue(metrics, 'sparkplane_shuffle_bytes_transferred_total') > 0,
              'sparkplane shuffle served no bytes',
            );
          }
          assert.match(
            shuffle.process.log(),
            new RegExp(`registered executor \\d+ of ${result.appId}`),
          );
        });
      },
    );
});
