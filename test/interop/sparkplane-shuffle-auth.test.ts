// sparkplane shuffle with spark.authenticate: executors authenticate with the shared secret (SASL
// DIGEST-MD5), and a client with the wrong secret or none is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { createShuffleClient } from '../../src/shuffle/client/shuffle-client.ts';
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

const VARIANTS = [
  { name: 'SASL (spark.authenticate)', method: 'sasl', conf: {} },
  {
    name: 'AuthEngine and AES-CTR (spark.network.crypto.enabled)',
    method: 'auth-engine',
    conf: { 'spark.network.crypto.enabled': 'true' },
  },
] as const;

forEachSparkVersion('a groupBy through sparkplane shuffle with spark.authenticate', (install) => {
  for (const variant of VARIANTS)
    it(
      `${variant.name}: every executor authenticates with the secret, other clients are refused`,
      { timeout: 600_000 },
      async () => {
        await inSparkRun(install, `sparkplane-shuffle-${variant.method}`, async (run, keep) => {
          // Spark generates 64 hex characters; its SASL password then spans two base64 lines.
          const secret = randomBytes(32).toString('hex');
          const secretFile = join(run.dir, 'secret');
          writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
          const authConf = {
            'spark.authenticate': 'true',
            'spark.authenticate.secret': secret,
            ...variant.conf,
          };
          const cluster = keep(
            await startStandaloneCluster(run, { cores: 2, memory: '2g' }, authConf),
          );
          const shuffle = keep(
            await startSparkplaneShuffle(run, { extraArgs: ['--auth-secret-file', secretFile] }),
          );

          const { result, process } = await runPySpark<ShuffleJobResult>(
            run,
            'shuffle_groupby.py',
            [cluster.masterUrl, String(shuffle.port)],
            {
              name: 'driver',
              timeoutMs: 300_000,
              env: {
                SPARKPLANE_JOB_CONF: JSON.stringify({ ...FETCH_THROUGH_SERVICE, ...authConf }),
              },
            },
          );
          keep(process);
          assert.deepEqual(result.first, EXPECTED_GROUPS);
          assert.equal(result.executorsAfterIdle, 0);
          assert.deepEqual(result.second, EXPECTED_GROUPS);
          const metrics = await shuffleMetrics(shuffle);
          assert.ok(metricValue(metrics, 'sparkplane_shuffle_registered_executors') >= 2, metrics);
          assert.ok(
            metricValue(metrics, 'sparkplane_shuffle_bytes_transferred_total') > 0,
            'no bytes served',
          );
          const authenticated = metrics
            .split('\n')
            .find((line) =>
              line.startsWith(
                `sparkplane_shuffle_authentications_total{method="${variant.method}"}`,
              ),
            );
          assert.ok(
            authenticated !== undefined && Number(authenticated.split(' ').at(-1)) >= 2,
            `executors should authenticate with ${variant.method}: ${String(authenticated)}`,
          );

          // The same registrations are out of reach without the secret.
          const anonymous = createShuffleClient({
            host: '127.0.0.1',
            port: shuffle.port,
            maxRetries: 0,
          });
          const wrong = createShuffleClient({
            host: '127.0.0.1',
            port: shuffle.port,
            maxRetries: 0,
            auth: { appId: result.appId, secret: 'wrong' },
          });
          try {
            await assert.rejects(
              anonymous.getLocalDirs(result.appId, ['0']),
              /Expected SaslMessage/,
            );
            await assert.rejects(
              wrong.getLocalDirs(result.appId, ['0']),
              /authentication with the shuffle service failed/,
            );
          } finally {
            anonymous.close();
            wrong.close();
          }
        });
      },
    );
});
