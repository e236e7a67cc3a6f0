// sparkplane shuffle killed with SIGKILL and started again between writing and reading a shuffle:
// it must serve every executor registered before, without any re-registration.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { killTree } from './harness/process-tree.ts';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import {
  metricValue,
  shuffleMetrics,
  startSparkplaneShuffle,
} from './harness/sparkplane-processes.ts';
import { startPySpark, startStandaloneCluster } from './harness/spark-processes.ts';
import {
  EXPECTED_GROUPS,
  FETCH_THROUGH_SERVICE,
  type ShuffleJobResult,
} from './harness/shuffle-job.ts';

forEachSparkVersion(
  'sparkplane shuffle restarted with SIGKILL between map and reduce',
  (install) => {
    it(
      'serves the map output of executors registered before the kill',
      { timeout: 600_000 },
      async () => {
        await inSparkRun(install, 'sparkplane-shuffle-restart', async (run, keep) => {
          const cluster = keep(await startStandaloneCluster(run, { cores: 2, memory: '2g' }));
          const first = keep(await startSparkplaneShuffle(run, { name: 'sparkplane-shuffle-1' }));
          const pauseFile = join(run.dir, 'release-pause');
          const driver = startPySpark<ShuffleJobResult>(
            run,
            'shuffle_groupby.py',
            [cluster.masterUrl, String(first.port), pauseFile],
            {
              name: 'driver',
              timeoutMs: 400_000,
              env: { SPARKPLANE_JOB_CONF: JSON.stringify(FETCH_THROUGH_SERVICE) },
            },
          );
          keep(driver.process);
          const outcome = driver.result.catch((error: unknown) => error);
          await driver.process.waitForLog(/SPARKPLANE_PAUSED/, 300_000);

          const before = await shuffleMetrics(first);
          const registered = metricValue(before, 'sparkplane_shuffle_registered_executors');
          assert.ok(registered >= 2, `executors registered before the kill: ${registered}`);
          await killTree(first.process.pid, 0);
          assert.equal((await first.process.exited).signal, 'SIGKILL');

          const second = keep(
            await startSparkplaneShuffle(run, {
              name: 'sparkplane-shuffle-2',
              port: first.port,
              stateDir: first.stateDir,
            }),
          );
          const restored = metricValue(
            await shuffleMetrics(second),
            'sparkplane_shuffle_registered_executors',
          );
          assert.equal(restored, registered, 'every registration survives the SIGKILL');
          writeFileSync(pauseFile, '');

          const result = await outcome;
          if (result instanceof Error) throw result;
          const job = result as ShuffleJobResult;
          assert.deepEqual(job.first, EXPECTED_GROUPS);
          assert.equal(job.executorsAfterIdle, 0);
          assert.deepEqual(job.second, EXPECTED_GROUPS);
          const served = metricValue(
            await shuffleMetrics(second),
            'sparkplane_shuffle_bytes_transferred_total',
          );
          assert.ok(served > 0, 'the restarted service served the map output');
        });
      },
    );
  },
);
