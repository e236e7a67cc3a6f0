// The real PySpark Connect client through `sparkplane gateway` in front of two real Spark Connect
// servers, for the RPCs of an operation's life rather than its first call: a query whose response
// stream the server ends early so the client reattaches (ReattachExecute), an error whose details
// the client fetches (FetchErrorDetails), a Python module and a cached relation uploaded
// (AddArtifacts, ArtifactStatus), and the session released at the end (ReleaseSession). The
// gateway's access log proves each call went to its session's server; the results prove the
// server had the session's state.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { forEachSparkVersion, inSparkRun, keepAll } from './harness/run.ts';
import { startConnectServer, startPySpark, type SparkConf } from './harness/spark-processes.ts';
import {
  gatewayApi,
  startSparkplaneGateway,
  type SparkplaneGateway,
} from './harness/sparkplane-processes.ts';
import { waitUntil } from './harness/wait.ts';

const SESSIONS = 4;
// Must match connect_operations.py.
const SLOW_ROWS = 16;
const BIG_ROWS = 200_000;
const CACHED_ROWS = 20_000;
// Spark sends at most spark.sql.execution.arrow.maxRecordsPerBatch (10 000) rows per Arrow batch;
// the big result's batches (two longs a row) are each far over senderMaxStreamSize.
const BIG_BATCHES = BIG_ROWS / 10_000;

// Static server confs that end a reattachable response stream early: one second after it opened,
// or once the responses sent on it pass 64 KiB. The client must then call ReattachExecute to read
// on, and does so for every query that runs longer or answers more than that.
const REATTACH_CONF: SparkConf = {
  'spark.connect.execute.reattachable.senderMaxStreamDuration': '1s',
  'spark.connect.execute.reattachable.senderMaxStreamSize': '64k',
};

interface StepTimes {
  readonly ok: boolean;
  readonly error?: string;
  readonly startMs: number;
  readonly endMs: number;
}
interface ErrorStep extends StepTimes {
  readonly raised?: string | null;
  readonly hasMarker?: boolean;
  readonly hasEnd?: boolean;
  readonly length?: number;
  readonly head?: string;
}
interface SessionRun {
  readonly steps: {
    readonly setup: StepTimes;
    readonly slow: StepTimes & { readonly count?: number; readonly sum?: number };
    readonly error: ErrorStep;
    readonly artifacts: StepTimes & {
      readonly tagged?: number;
      readonly cachedCount?: number;
      readonly cachedSum?: number;
    };
    readonly big: StepTimes & {
      readonly rows?: number;
      readonly distinct?: number;
      readonly sumId?: number;
      readonly sumT?: number;
    };
  };
  readonly readBacks: { readonly count: number; readonly partitions: string }[];
}
interface OperationsResult {
  readonly sparkVersion: string;
  readonly sessionIds: string[];
  readonly sessions: SessionRun[];
  readonly stops: { readonly ok: boolean; readonly error?: string }[];
}
interface ApiSession {
  readonly sessionId: string;
  readonly backend: string;
}

/** One line of the gateway's access log. */
interface AccessLine {
  readonly method: string;
  readonly sessionId: string;
  readonly backend: string;
  readonly code: string;
  readonly startMs: number;
}

function accessLog(log: string): AccessLine[] {
  const lines: AccessLine[] = [];
  for (const text of log.split('\n')) {
    if (!text.startsWith('{')) continue;
    const entry = JSON.parse(text) as Partial<
      Omit<AccessLine, 'startMs'> & { access: boolean; time: string; durationMs: number }
    >;
    if (entry.access !== true) continue;
    lines.push({
      method: entry.method ?? '',
      sessionId: entry.sessionId ?? '',
      backend: entry.backend ?? '',
      code: entry.code ?? '',
      startMs: Date.parse(entry.time ?? '') - (entry.durationMs ?? 0),
    });
  }
  return lines;
}

/** `sparkplane_gateway_rpcs_total` by method and code. */
async function rpcCounts(gateway: SparkplaneGateway): Promise<Map<string, number>> {
  const reply = await fetch(`http://127.0.0.1:${String(gateway.adminPort)}/metrics`, {
    signal: AbortSignal.timeout(5000),
  });
  const counts = new Map<string, number>();
  for (const line of (await reply.text()).split('\n')) {
    const match = /^sparkplane_gateway_rpcs_total\{([^}]*)\} (\S+)$/.exec(line);
    if (match === null) continue;
    const labels = new Map<string, string>();
    for (const [, key = '', value = ''] of (match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g))
      labels.set(key, value);
    counts.set(`${labels.get('method') ?? ''} ${labels.get('code') ?? ''}`, Number(match[2]));
  }
  return counts;
}

const sumTo = (n: number): number => ((n - 1) * n) / 2;

forEachSparkVersion('sparkplane gateway relays the RPCs of an operation', (install) => {
  // PySpark 3.5 has neither RPC: its client and server predate FetchErrorDetails and
  // ReleaseSession (both came with Spark 4.0). A 3.5 client takes the error text from the gRPC
  // status, and spark.stop() only closes its channel.
  const sendsErrorDetailsAndRelease = install.pin.line !== '3.5';

  it(
    'reattaches, fetches error details, uploads artifacts and releases sessions on their servers',
    { timeout: 900_000 },
    async () => {
      await inSparkRun(install, 'gateway-operations', async (run, keep) => {
        const [a, b] = await keepAll(keep, [
          startConnectServer(run, REATTACH_CONF),
          startConnectServer(run, REATTACH_CONF),
        ]);
        // Pinned relay in cleartext, on the native core, which then reads and writes both
        // sockets itself: the frame-level path meets PySpark's own HTTP/2 stack (grpc-core) here,
        // and over TLS with client authentication in gateway-auth (which runs the TypeScript
        // relay too); the other gateway interop tests run the default terminating relay.
        const gateway = keep(
          await startSparkplaneGateway(run, {
            backends: [a.port, b.port],
            extraArgs: ['--relay', 'pinned', '--relay-core', 'native'],
          }),
        );
        const workDir = join(run.dir, 'operations');
        mkdirSync(workDir, { recursive: true });
        const client = startPySpark<OperationsResult>(
          run,
          'connect_operations.py',
          [`sc://localhost:${String(gateway.port)}`, String(SESSIONS), workDir],
          { name: 'connect-operations', timeoutMs: 700_000 },
        );
        keep(client.process);
        const outcome = client.result.catch((error: unknown) => error);
        await Promise.race([
          client.process.waitForLog(/SPARKPLANE_PAUSED/, 600_000),
          outcome.then((error) => {
            throw error instanceof Error ? error : new Error('the client ended before its pause');
          }),
        ]);

        // Every session is still open: they spread over both servers.
        const placed = (await gatewayApi<{ sessions: ApiSession[] }>(gateway, 'sessions')).sessions;
        const backendOf = new Map(placed.map((session) => [session.sessionId, session.backend]));
        const perBackend = new Map<string, number>();
        for (const session of placed)
          perBackend.set(session.backend, (perBackend.get(session.backend) ?? 0) + 1);
        assert.deepEqual(
          [...perBackend.keys()].sort(),
          [`127.0.0.1:${String(a.port)}`, `127.0.0.1:${String(b.port)}`].sort(),
          `sessions per server: ${JSON.stringify([...perBackend])}`,
        );
        assert.deepEqual([...perBackend.values()], [SESSIONS / 2, SESSIONS / 2]);

        writeFileSync(join(workDir, 'continue'), '');
        const result = await outcome;
        if (result instanceof Error) throw result;
        const { sparkVersion, sessionIds, sessions, stops } = result as OperationsResult;
        assert.equal(sparkVersion, install.pin.spark);
        assert.deepEqual([...sessionIds].sort(), [...backendOf.keys()].sort());
        assert.deepEqual(stops, Array<unknown>(SESSIONS).fill({ ok: true }));

        // (4) After spark.stop().
        const listed = async (): Promise<ApiSession[]> =>
          (await gatewayApi<{ sessions: ApiSession[] }>(gateway, 'sessions')).sessions.filter(
            (session) => backendOf.has(session.sessionId),
          );
        if (sendsErrorDetailsAndRelease) {
          // The gateway forgets a session once its server answered ReleaseSession.
          await waitUntil(async () => ((await listed()).length === 0 ? true : undefined), {
            what: 'the gateway to forget the released sessions',
            timeoutMs: 10_000,
          });
        } else {
          // Nothing told the gateway the sessions ended: they stay bound to their servers until
          // --session-idle-timeout, as they stay on the servers until Spark's own.
          const still = await listed();
          assert.deepEqual(
            new Map(still.map((session) => [session.sessionId, session.backend])),
            backendOf,
          );
        }
        const metrics = await rpcCounts(gateway);
        const log = accessLog(gateway.process.log());
        sessionIds.forEach((sessionId, index) => {
          const what = `session ${String(index)} (${sessionId})`;
          const session = sessions[index];
          assert.ok(session !== undefined, what);
          const { setup, slow, error, artifacts, big } = session.steps;

          // Each step saw the session's own temp view and conf, so every call reached its server.
          assert.equal(setup.ok, true, `${what}: ${setup.error ?? ''}`);
          assert.deepEqual(
            session.readBacks,
            Array<unknown>(5).fill({ count: 1000 * (index + 1), partitions: String(index + 3) }),
            what,
          );
          const calls = log.filter((line) => line.sessionId === sessionId);
          assert.deepEqual(
            [...new Set(calls.map((line) => line.backend))],
            [backendOf.get(sessionId)],
            `${what}: every call on the session's server`,
          );
          const during = (step: StepTimes, method: string): AccessLine[] =>
            calls.filter(
              (line) =>
                line.method === method &&
                line.startMs >= step.startMs - 5 &&
                line.startMs <= step.endMs + 5,
            );
          // The one call that failed is the raise_error query: on ExecutePlan, or on
          // ReattachExecute when its first stream had ended before the query failed.
          // A call the client itself cancelled is not a failure: PySpark sometimes cancels an
          // ExecutePlan as it finishes with a result (seen once on 4.0.5, 32 ms into the call).
          const failed = calls.filter((line) => line.code !== 'OK' && line.code !== 'CANCELLED');
          assert.deepEqual(
            failed.map((line) => ({
              query: line.method === 'ExecutePlan' || line.method === 'ReattachExecute',
              code: line.code,
              inErrorStep: line.startMs >= error.startMs - 5 && line.startMs <= error.endMs + 5,
            })),
            [{ query: true, code: 'INTERNAL', inErrorStep: true }],
            `${what}: failed calls ${JSON.stringify(failed)}`,
          );

          // (1) A query running past senderMaxStreamDuration, and one answering past
          // senderMaxStreamSize with every batch: complete and exact after the reattaches.
          assert.deepEqual(
            { ok: slow.ok, count: slow.count, sum: slow.sum },
            {
              ok: true,
              count: SLOW_ROWS,
              sum: ((SLOW_ROWS - 1) * SLOW_ROWS * (2 * SLOW_ROWS - 1)) / 6,
            },
            `${what}: ${slow.error ?? ''}`,
          );
          const slowReattaches = during(slow, 'ReattachExecute');
          assert.ok(slowReattaches.length >= 1, `${what}: the slow query reattached`);
          assert.deepEqual(
            {
              ok: big.ok,
              rows: big.rows,
              distinct: big.distinct,
              sumId: big.sumId,
              sumT: big.sumT,
            },
            {
              ok: true,
              rows: BIG_ROWS,
              distinct: BIG_ROWS,
              sumId: sumTo(BIG_ROWS),
              sumT: 3 * sumTo(BIG_ROWS),
            },
            `${what}: ${big.error ?? ''}`,
          );
          const bigReattaches = during(big, 'ReattachExecute');
          assert.ok(
            bigReattaches.length >= BIG_BATCHES - 1,
            `${what}: ${String(bigReattaches.length)} reattaches for ${String(BIG_BATCHES)} batches`,
          );

          // (2) The client raised the server's error; with all its text only where it fetched
          // the details, since the gRPC status carries the first 2048 characters.
          assert.equal(error.ok, true, `${what}: ${error.error ?? ''}`);
          assert.ok(error.raised !== null && error.raised !== undefined, `${what}: no error`);
          assert.equal(error.hasMarker, true, `${what}: ${error.head ?? ''}`);
          assert.equal(error.hasEnd, sendsErrorDetailsAndRelease, `${what}: ${error.head ?? ''}`);
          const details = during(error, 'FetchErrorDetails');
          assert.equal(details.length, sendsErrorDetailsAndRelease ? 1 : 0, what);

          // (3) The uploaded module was importable by the session's UDF on its server, and the
          // cached relation was found there.
          assert.deepEqual(
            {
              ok: artifacts.ok,
              tagged: artifacts.tagged,
              cachedCount: artifacts.cachedCount,
              cachedSum: artifacts.cachedSum,
            },
            {
              ok: true,
              tagged: 1000 * sumTo(10) + 10 * index,
              cachedCount: CACHED_ROWS,
              cachedSum: sumTo(CACHED_ROWS),
            },
            `${what}: ${artifacts.error ?? ''}`,
          );
          const uploads = during(artifacts, 'AddArtifacts');
          const statuses = during(artifacts, 'ArtifactStatus');
          assert.ok(uploads.length >= 2, `${what}: the module and the relation uploaded`);
          assert.ok(statuses.length >= 1, `${what}: the cache asked before uploading`);

          // (4) spark.stop() released the session on its server, once.
          const releases = calls.filter((line) => line.method === 'ReleaseSession');
          assert.equal(releases.length, sendsErrorDetailsAndRelease ? 1 : 0, what);
        });

        // The metrics count the same calls as the access log, by method and code, and every
        // one of them was a call of the test's sessions.
        for (const method of [
          'ReattachExecute',
          'FetchErrorDetails',
          'AddArtifacts',
          'ArtifactStatus',
          'ReleaseSession',
        ]) {
          const lines = log.filter((line) => line.method === method);
          assert.deepEqual(
            lines.filter((line) => !backendOf.has(line.sessionId)),
            [],
            `${method} of other sessions`,
          );
          const fromLog = new Map<string, number>();
          for (const line of lines)
            fromLog.set(`${method} ${line.code}`, (fromLog.get(`${method} ${line.code}`) ?? 0) + 1);
          const fromMetrics = new Map(
            [...metrics].filter(([key, value]) => key.startsWith(`${method} `) && value > 0),
          );
          assert.deepEqual(fromMetrics, fromLog, `${method} in the metrics`);
        }
      });
    },
  );
});
