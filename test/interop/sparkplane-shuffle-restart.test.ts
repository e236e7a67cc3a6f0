// sparkplane shuffle killed with SIGKILL and started again between writing and reading a shuffle:
// it must serve every executor registered before, without any re-registration.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { killTree, processTree } from './harness/process-tree.ts';
import { createRun, forEachSparkVersion, withLogsOnFailure } from './harness/run.ts';
import {
  metricValue,
  shuffleMetrics,
  startSparkplaneShuffle,
  type SparkplaneShuffle,
} from './harness/sparkplane-processes.ts';
import {
  startPySpark,
  startStandaloneCluster,
  type StandaloneCluster,
} from './harness/spark-processes.ts';
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
        const run = createRun(install, 'sparkplane-shuffle-restart');
        let cluster: StandaloneCluster | undefined;
        let first: SparkplaneShuffle | undefined;
        let second: SparkplaneShuffle | undefined;
        const pids: number[] = [];
        try {
          await withLogsOnFailure(run, async () => {
            cluster = await startStandaloneCluster(run, { cores: 2, memory: '2g' });
            first = await startSparkplaneShuffle(run, { name: 'sparkplane-shuffle-1' });
            pids.push(...cluster.processes.map((process) => process.pid), first.process.pid);
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
            pids.push(driver.process.pid);
            const outcome = driver.result.catch((error: unknown) => error);
            await driver.process.waitForLog(/SPARKPLANE_PAUSED/, 300_000);

            const before = await shuffleMetrics(first);
            const registered = metricValue(before, 'sparkplane_shuffle_registered_executors');
            assert.ok(registered >= 2, `executors registered before the kill: ${registered}`);
            await killTree(first.process.pid, 0);
            assert.equal((await first.process.exited).signal, 'SIGKILL');

            second = await startSparkplaneShuffle(run, {
              name: 'sparkplane-shuffle-2',
              port: first.port,
              stateDir: first.stateDir,
            });
            pids.push(second.process.pid);
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
        } finally {
          await second?.stop();
          await first?.stop();
          await cluster?.stop();
        }
        const leaked = pids.flatMap((pid) => processTree(pid));
        assert.deepEqual(leaked, [], `processes left running: ${leaked.join(', ')}`);
      },
    );
  },
);
