// `sparkplane doctor` against real Spark services from the harness: Spark's own external shuffle
// service without and with spark.authenticate, sparkplane shuffle, a Spark Connect server and its
// Spark UI. Each probe must recognise the real service (or its demand for authentication), and a
// Spark Connect probe aimed at the shuffle port must name what answers instead.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun, keepAll } from './harness/run.ts';
import { REPO_ROOT } from './harness/spark-install.ts';
import { startConnectServer, startSparkShuffleService } from './harness/spark-processes.ts';
import { startSparkplaneShuffle } from './harness/sparkplane-processes.ts';
import { freePort, waitUntil, canConnect } from './harness/wait.ts';

interface JsonCheck {
  readonly target: { host: string; port: number; service: string };
  readonly layer: string;
  readonly status: string;
  readonly reason: string;
  readonly summary: string;
}

function doctorJson(targets: string[]): Promise<JsonCheck[]> {
  return new Promise((resolve, reject) => {
    execFile(
      join(REPO_ROOT, 'bin', 'sparkplane'),
      ['doctor', ...targets, '--timeout', '10s', '--json'],
      { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
      (error, stdout, stderr) => {
        // Exit code 1 means problems were found, which some targets here are meant to show.
        if (error !== null && error.code !== 1) {
          reject(new Error(`sparkplane doctor failed (${String(error.code)}): ${stderr}`));
          return;
        }
        resolve((JSON.parse(stdout) as { checks: JsonCheck[] }).checks);
      },
    );
  });
}

forEachSparkVersion('sparkplane doctor against real Spark services', (install) => {
  it(
    'recognises the shuffle service (and its SASL demand), Spark Connect and the Spark UI',
    { timeout: 400_000 },
    async () => {
      await inSparkRun(install, 'doctor-probes', async (run, keep) => {
        const uiPort = await freePort();
        const [plain, connect, sparkplane] = await keepAll(keep, [
          startSparkShuffleService(run),
          startConnectServer(run, { 'spark.ui.enabled': 'true', 'spark.ui.port': String(uiPort) }),
          startSparkplaneShuffle(run),
        ]);
        await waitUntil(async () => ((await canConnect('127.0.0.1', uiPort)) ? true : undefined), {
          what: `the Spark UI on 127.0.0.1:${String(uiPort)}`,
          timeoutMs: 60_000,
        });

        const checks = await doctorJson([
          `127.0.0.1:${String(plain.port)}=spark-shuffle`,
          `127.0.0.1:${String(sparkplane.port)}=spark-shuffle`,
          `127.0.0.1:${String(connect.port)}=spark-connect`,
          `127.0.0.1:${String(uiPort)}=spark-ui`,
          // A Spark Connect client pointed at the shuffle port.
          `127.0.0.1:${String(plain.port)}=spark-connect`,
        ]);
        const protocol = (port: number, service: string): JsonCheck => {
          const found = checks.find(
            (check) =>
              check.target.port === port &&
              check.target.service === service &&
              check.layer === 'protocol',
          );
          assert.ok(found !== undefined, `a protocol check of ${String(port)} as ${service}`);
          return found;
        };
        for (const [port, service] of [
          [plain.port, 'spark-shuffle'],
          [sparkplane.port, 'spark-shuffle'],
          [connect.port, 'spark-connect'],
          [uiPort, 'spark-ui'],
        ] as const) {
          const check = protocol(port, service);
          assert.equal(check.status, 'pass', `${service} on ${String(port)}: ${check.summary}`);
          assert.equal(check.reason, 'protocol-ok');
        }
        const misdirected = protocol(plain.port, 'spark-connect');
        assert.equal(misdirected.status, 'fail', misdirected.summary);
        assert.equal(misdirected.reason, 'wrong-protocol');
        await plain.stop();

        const secured = keep(
          await startSparkShuffleService(run, {
            'spark.authenticate': 'true',
            'spark.authenticate.secret': 'doctor-probe-secret',
          }),
        );
        const [authCheck] = (
          await doctorJson([`127.0.0.1:${String(secured.port)}=spark-shuffle`])
        ).filter((check) => check.layer === 'protocol');
        assert.ok(authCheck !== undefined);
        assert.equal(authCheck.reason, 'auth-required', authCheck.summary);
        assert.notEqual(authCheck.status, 'pass');
      });
    },
  );
});
