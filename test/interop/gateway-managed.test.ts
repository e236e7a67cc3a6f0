// `sparkplane gateway` launching real Spark Connect servers itself with spark-submit, one per user
// (--isolation user), and the real PySpark Connect client through it: each user's sessions land
// on that user's own server and keep their temp views; a killed server's sessions get the
// gateway's UNAVAILABLE saying the session is gone; a clean stop of the gateway stops every server
// it launched.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import { runPySpark } from './harness/spark-processes.ts';
import { gatewayApi, startSparkplaneGateway } from './harness/sparkplane-processes.ts';
import { freePort, waitUntil } from './harness/wait.ts';
import { isRunning } from '../support/process-alive.ts';

interface StepOutcome {
  readonly ok: boolean;
  readonly count?: number;
  readonly error?: string;
}
interface ManagedServer {
  readonly name: string;
  readonly backend: string;
  readonly key: string | null;
  readonly state: string;
  readonly pid: number;
}
interface ApiSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly backend: string;
}

forEachSparkVersion('sparkplane gateway launching a Spark Connect server per user', (install) => {
  it(
    "puts each user's sessions on their own launched server and stops every server it launched",
    { timeout: 600_000 },
    async () => {
      await inSparkRun(install, 'gateway-managed', async (run, keep) => {
        const launched: { pid: number }[] = [];
        // Stopped after the gateway: whatever it failed to stop is killed, and the run then fails.
        keep({
          processes: launched,
          stop: () => {
            for (const { pid } of launched)
              if (isRunning(pid)) {
                try {
                  process.kill(-pid, 'SIGKILL');
                } catch {
                  // Gone meanwhile.
                }
              }
            return Promise.resolve();
          },
        });
        const first = await freePort();
        const gateway = keep(
          await startSparkplaneGateway(run, {
            backends: [],
            extraArgs: [
              '--spark-home',
              install.sparkHome,
              ...(install.connectJar === undefined
                ? []
                : ['--spark-connect-jar', install.connectJar]),
              '--isolation',
              'user',
              '--managed-max-servers',
              '2',
              '--spark-master',
              'local[1]',
              '--managed-ports',
              `${String(first)}-${String(first + 20)}`,
              ...[
                'spark.driver.host=127.0.0.1',
                'spark.driver.bindAddress=127.0.0.1',
                'spark.ui.enabled=false',
                `spark.local.dir=${run.dir}/local`,
              ].flatMap((conf) => ['--spark-conf', conf]),
            ],
          }),
        );
        const servers = async (): Promise<ManagedServer[]> =>
          (await gatewayApi<{ servers: ManagedServer[] }>(gateway, 'managed')).servers;
        assert.deepEqual(await servers(), [], 'no server before the first session');

        const [alice1, alice2, bob] = [randomUUID(), randomUUID(), randomUUID()];
        const steps = async (list: unknown[], name: string): Promise<StepOutcome[]> => {
          const { result } = await runPySpark<{ steps: StepOutcome[] }>(
            run,
            'connect_users.py',
            ['127.0.0.1', String(gateway.port), JSON.stringify(list)],
            { name, timeoutMs: 300_000 },
          );
          return result.steps;
        };
        const before = await steps(
          [
            { user: 'alice', session: alice1, action: 'create' },
            { user: 'bob', session: bob, action: 'create' },
            { user: 'alice', session: alice2, action: 'create' },
            { user: 'alice', session: alice1, action: 'read' },
            { user: 'bob', session: bob, action: 'read' },
          ],
          'connect-users-1',
        );
        assert.deepEqual(
          before.map((step) => step.count),
          [30, 50, 30, 30, 50],
          JSON.stringify(before),
        );
        const running = await servers();
        launched.push(...running.map((server) => ({ pid: server.pid })));
        assert.deepEqual(running.map((server) => [server.key, server.state]).sort(), [
          ['user:alice', 'running'],
          ['user:bob', 'running'],
        ]);
        const sessions = (await gatewayApi<{ sessions: ApiSession[] }>(gateway, 'sessions'))
          .sessions;
        const backendOf = (user: string): Set<string> =>
          new Set(sessions.filter((s) => s.userId === user).map((s) => s.backend));
        const aliceServer = running.find((server) => server.key === 'user:alice');
        const bobServer = running.find((server) => server.key === 'user:bob');
        assert.deepEqual([...backendOf('alice')], [aliceServer?.backend]);
        assert.deepEqual([...backendOf('bob')], [bobServer?.backend]);

        // Alice's server dies: her session is told it is gone; Bob's carries on.
        assert.ok(aliceServer !== undefined);
        process.kill(aliceServer.pid, 'SIGKILL');
        await waitUntil(
          async () =>
            (await servers()).some((server) => server.key === 'user:alice') ? undefined : true,
          { what: "the gateway to notice Alice's server is gone", timeoutMs: 30_000 },
        );
        const after = await steps(
          [
            { user: 'alice', session: alice1, action: 'read' },
            { user: 'bob', session: bob, action: 'read' },
          ],
          'connect-users-2',
        );
        const [aliceAfter, bobAfter] = after;
        assert.ok(aliceAfter !== undefined);
        assert.equal(aliceAfter.ok, false);
        assert.match(aliceAfter.error ?? '', /UNAVAILABLE|Unavailable/);
        assert.match(aliceAfter.error ?? '', new RegExp(`session ${alice1} is gone`));
        assert.deepEqual(bobAfter, { ok: true, count: 50 });

        // SIGTERM to the gateway alone (not its process tree): it stops its servers itself.
        process.kill(gateway.process.pid, 'SIGTERM');
        await waitUntil(() => (isRunning(gateway.process.pid) ? undefined : true), {
          what: 'the gateway to stop on SIGTERM',
          timeoutMs: 60_000,
        });
        for (const { pid } of launched)
          assert.equal(isRunning(pid), false, `launched server ${String(pid)} still runs`);
      });
    },
  );
});
