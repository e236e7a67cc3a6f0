// The real PySpark Connect client through `sparkplane gateway` in front of two real Spark Connect
// servers: 20 concurrent sessions from one address spread over both servers and each keeps its
// temp view, cache and conf across calls; the gateway is SIGKILLed and restarted and every
// session carries on on its server; one server is killed, its sessions get the gateway's clear
// UNAVAILABLE while the others see no error, and new sessions land on the live server.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { killTree } from './harness/process-tree.ts';
import { forEachSparkVersion, inSparkRun, keepAll } from './harness/run.ts';
import { startConnectServer, startPySpark } from './harness/spark-processes.ts';
import { gatewayApi, startSparkplaneGateway } from './harness/sparkplane-processes.ts';
import { waitUntil } from './harness/wait.ts';

interface Attempt {
  readonly ok: boolean;
  readonly error?: string;
  readonly count?: number;
  readonly partitions?: string;
}
interface SessionsResult {
  readonly sparkVersion: string;
  readonly sessionIds: string[];
  readonly phase1: Attempt[];
  readonly phase2: Attempt[];
  readonly phase3: Attempt[];
  readonly newSessions: (Attempt & { answer?: number; sessionId: string })[];
}
interface ApiSession {
  readonly sessionId: string;
  readonly backend: string;
}
interface ApiBackend {
  readonly id: string;
  readonly health: string;
}

const SESSIONS = 20;

forEachSparkVersion('sparkplane gateway in front of real Spark Connect servers', (install) => {
  it(
    'keeps 20 sessions on their servers across a gateway SIGKILL, and fails only the sessions of a killed server',
    { timeout: 600_000 },
    async () => {
      await inSparkRun(install, 'gateway-sessions', async (run, keep) => {
        const [a, b] = await keepAll(keep, [startConnectServer(run), startConnectServer(run)]);
        const first = keep(
          await startSparkplaneGateway(run, { backends: [a.port, b.port], name: 'gateway-1' }),
        );
        const pauseDir = join(run.dir, 'pauses');
        mkdirSync(pauseDir, { recursive: true });
        const client = startPySpark<SessionsResult>(
          run,
          'connect_sessions.py',
          [first.url, String(SESSIONS), pauseDir],
          { name: 'connect-sessions', timeoutMs: 500_000 },
        );
        keep(client.process);
        const outcome = client.result.catch((error: unknown) => error);
        await Promise.race([
          client.process.waitForLog(/SPARKPLANE_PAUSED 1/, 300_000),
          outcome.then((error) => {
            throw error instanceof Error ? error : new Error('the client ended before phase 1');
          }),
        ]);

        // (a) The sessions spread over both servers.
        const placed = (await gatewayApi<{ sessions: ApiSession[] }>(first, 'sessions')).sessions;
        const perBackend = new Map<string, number>();
        for (const session of placed)
          perBackend.set(session.backend, (perBackend.get(session.backend) ?? 0) + 1);
        assert.equal(placed.length, SESSIONS, `sessions: ${JSON.stringify([...perBackend])}`);
        assert.deepEqual([...perBackend.values()].sort(), [SESSIONS / 2, SESSIONS / 2]);
        const backendOf = new Map(placed.map((session) => [session.sessionId, session.backend]));

        // (d) The gateway is SIGKILLed and started again on its port and state.
        await killTree(first.process.pid, 0);
        assert.equal((await first.process.exited).signal, 'SIGKILL');
        const second = keep(
          await startSparkplaneGateway(run, {
            backends: [a.port, b.port],
            port: first.port,
            stateDir: first.stateDir,
            name: 'gateway-2',
          }),
        );
        writeFileSync(join(pauseDir, 'continue-1'), '');
        await client.process.waitForLog(/SPARKPLANE_PAUSED 2/, 300_000);

        // (c) One server is killed; the gateway sees it down.
        const killed = `127.0.0.1:${String(a.port)}`;
        await a.stop();
        await waitUntil(
          async () =>
            (await gatewayApi<{ backends: ApiBackend[] }>(second, 'backends')).backends.find(
              (backend) => backend.id === killed,
            )?.health === 'down'
              ? true
              : undefined,
          { what: `the gateway to see ${killed} down`, timeoutMs: 30_000 },
        );
        writeFileSync(join(pauseDir, 'continue-2'), '');
        const result = await outcome;
        if (result instanceof Error) throw result;
        const { sparkVersion, sessionIds, phase1, phase2, phase3, newSessions } =
          result as SessionsResult;
        assert.equal(sparkVersion, install.pin.spark);

        sessionIds.forEach((id, index) => {
          const expected = { ok: true, count: 100 * (index + 1), partitions: String(index + 3) };
          assert.deepEqual(phase1[index], expected, `phase 1, session ${String(index)}`);
          assert.deepEqual(
            phase2[index],
            expected,
            `after the gateway restart, session ${String(index)}`,
          );
          const after = phase3[index];
          if (backendOf.get(id) === killed) {
            assert.equal(after?.ok, false, `session ${String(index)} was on the killed server`);
            assert.match(after.error ?? '', /UNAVAILABLE|Unavailable|unavailable/);
            assert.match(
              after.error ?? '',
              /session .* is gone: the Spark Connect server 127\.0\.0\.1:\d+ is down/,
            );
          } else assert.deepEqual(after, expected, `session ${String(index)} on the live server`);
        });
        const sessionsAfter = (await gatewayApi<{ sessions: ApiSession[] }>(second, 'sessions'))
          .sessions;
        for (const fresh of newSessions) {
          assert.deepEqual(
            { ok: fresh.ok, answer: fresh.answer },
            { ok: true, answer: 42 },
            fresh.error,
          );
          const landed = sessionsAfter.find((session) => session.sessionId === fresh.sessionId);
          // Listed on the live server (sessions are not stopped; none is released).
          assert.equal(landed?.backend, `127.0.0.1:${String(b.port)}`);
        }
      });
    },
  );
});
