// The gateway against in-repo Spark Connect servers: affinity, placement, streaming, restarts,
// release, a persisted session table, and the answers it gives itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createMetrics } from '../../../src/core/metrics.ts';
import {
  startGateway,
  type Gateway,
  type GatewayOptions,
} from '../../../src/gateway/gateway-server.ts';
import { gatewayChannels } from '../../../src/gateway/observability-channels.ts';
import { subscribeGatewayMetrics } from '../../../src/gateway/observability.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { RELAY_VARIANTS, type RelayVariant } from '../../support/relay-variants.ts';
import {
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';

const SERVICE = '/spark.connect.SparkConnectService';

/**
 * A connection that behaves as a gRPC channel does: once the gateway sent GOAWAY, the next call
 * goes over a new connection (`--relay pinned` sends one when a connection mixes servers).
 */
function client(gateway: Gateway): http2.ClientHttp2Session {
  const connect = (): http2.ClientHttp2Session => {
    const session = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    session.on('error', () => undefined);
    session.once('goaway', () => {
      goneAway.add(session);
    });
    return session;
  };
  const goneAway = new WeakSet<http2.ClientHttp2Session>();
  const opened: http2.ClientHttp2Session[] = [connect()];
  const current = (): http2.ClientHttp2Session => {
    const last = opened.at(-1) ?? connect();
    if (!goneAway.has(last) && !last.closed && !last.destroyed) return last;
    const next = connect();
    opened.push(next);
    return next;
  };
  const [first] = opened;
  if (first === undefined) throw new Error('no connection');
  return new Proxy(first, {
    get(_target, property) {
      if (property === 'destroy')
        return () => {
          for (const session of opened) session.destroy();
        };
      const target = current();
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** A Config call; one the gateway refused unprocessed (GOAWAY) is retried, as gRPC clients do. */
async function config(
  session: http2.ClientHttp2Session,
  sessionId: string,
  userId = 'alice',
): Promise<GrpcReply> {
  const call = (): Promise<GrpcReply> =>
    grpcCall(
      session,
      `${SERVICE}/Config`,
      encodeConfigRequest({
        sessionId,
        userId,
        operation: { get: ['spark.sql.shuffle.partitions'] },
      }),
      { timeoutMs: 5000 },
    );
  try {
    const reply = await call();
    return reply.status === -1 ? await call() : reply;
  } catch (error) {
    if (!String(error).includes('REFUSED_STREAM')) throw error;
    return call();
  }
}

async function fastGateway(
  backends: FakeSparkConnect[],
  stateDir?: string,
  relay: RelayVariant['options'] & Pick<GatewayOptions, 'summarizeOkCalls'> = {
    relay: 'terminate',
  },
  sessions: { sessionIdleTimeoutMs?: number; sweepIntervalMs?: number } = {},
): Promise<Gateway> {
  const gateway = await startGateway({
    host: '127.0.0.1',
    port: 0,
    backends: backends.map((b) => ({ host: '127.0.0.1', port: b.port })),
    stateDir,
    ...relay,
    ...sessions,
    health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
  });
  await gateway.pool.checkAll();
  return gateway;
}

const backendOf = (fakes: FakeSparkConnect[], sessionId: string): number[] =>
  fakes.flatMap((fake, index) =>
    fake.calls.some((call) => call.sessionId === sessionId) ? [index] : [],
  );

for (const variant of RELAY_VARIANTS)
  describe(`gateway (--relay ${variant.name})`, variant.testOptions, () => {
    const relay = variant.options;
    let fakes: FakeSparkConnect[] = [];
    let gateway: Gateway | undefined;
    let session: http2.ClientHttp2Session | undefined;
    const dirs: string[] = [];

    let baseline: ResourceCounts = new Map();
    before(async () => {
      baseline = activeResources();
      fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    });
    afterEach(async () => {
      session?.destroy();
      session = undefined;
      await gateway?.close(1000);
      gateway = undefined;
      for (const fake of fakes) fake.reset();
    });
    after(async () => {
      for (const fake of fakes) await fake.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await assertNothingLeaked(baseline, 'the gateway tests');
    });

    it('spreads new sessions evenly and keeps every session on its server', async () => {
      gateway = await fastGateway(fakes, undefined, relay);
      session = client(gateway);
      const ids = Array.from({ length: 10 }, (): string => randomUUID());
      for (let round = 0; round < 3; round++)
        for (const id of ids) assert.equal((await config(session, id)).status, 0);
      const placed = ids.map((id) => backendOf(fakes, id));
      for (const where of placed)
        assert.equal(where.length, 1, 'each session on exactly one server');
      assert.equal(placed.filter((where) => where[0] === 0).length, 5);
      assert.equal(gateway.sessions.size, 10);
    });

    it('spreads sessions that open at the same moment evenly', async () => {
      // With the session store on disk, as by default: bindings are confirmed a moment later.
      const stateDir = mkdtempSync(join(tmpdir(), 'sparkplane-gw-'));
      dirs.push(stateDir);
      gateway = await fastGateway(fakes, stateDir, relay);
      session = client(gateway);
      const target = session;
      const perServer = (ids: readonly string[]): number[] => {
        const placed = ids.map((id) => backendOf(fakes, id)[0]);
        return [0, 1].map((index) => placed.filter((where) => where === index).length);
      };
      // One session first, then three at once (as PySpark's threads do): two on each server.
      const ids: string[] = [randomUUID()];
      assert.equal((await config(target, ids[0] ?? '')).status, 0);
      for (const count of [3, 6]) {
        const batch = Array.from({ length: count }, (): string => randomUUID());
        const replies = await Promise.all(batch.map((id) => config(target, id)));
        assert.deepEqual(
          replies.map((reply) => reply.status),
          batch.map(() => 0),
        );
        ids.push(...batch);
        const counts = perServer(ids);
        assert.deepEqual(counts, [ids.length / 2, ids.length / 2], `per server: ${String(counts)}`);
      }
    });

    it('keeps every server under its session cap, also when sessions open at once', async () => {
      gateway = await startGateway({
        host: '127.0.0.1',
        port: 0,
        backends: fakes.map((b) => ({ host: '127.0.0.1', port: b.port })),
        ...relay,
        maxSessionsPerBackend: 2,
        health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
      });
      await gateway.pool.checkAll();
      session = client(gateway);
      const target = session;
      const ids = Array.from({ length: 6 }, (): string => randomUUID());
      const replies = await Promise.all(ids.map((id) => config(target, id)));
      const statuses = replies.map((reply) => reply.status).sort();
      assert.deepEqual(statuses, [0, 0, 0, 0, 8, 8]);
      const full = replies.find((reply) => reply.status === 8);
      assert.match(
        full?.message ?? '',
        /every Spark Connect server behind the sparkplane gateway has reached its session cap \(127\.0\.0\.1:\d+ 2\/2, 127\.0\.0\.1:\d+ 2\/2\); retry after sessions end, or raise the cap or add a server/,
      );
      assert.deepEqual([...gateway.sessions.sessionsPerBackend().values()], [2, 2]);
      // At the cap a session already placed is served, a new one is refused.
      const known = ids[replies.findIndex((reply) => reply.status === 0)] ?? '';
      assert.equal((await config(target, known)).status, 0);
      assert.equal((await config(target, randomUUID())).status, 8);
    });

    it('relays a streamed ExecutePlan result with its trailers and learns the operation id', async () => {
      gateway = await fastGateway(fakes, undefined, relay);
      session = client(gateway);
      for (const fake of fakes) {
        fake.resultBatchBytes = 1024 * 1024;
        fake.resultBatches = 8;
      }
      const sessionId = randomUUID();
      const operationId = randomUUID();
      const reply = await grpcCall(
        session,
        `${SERVICE}/ExecutePlan`,
        encodeExecutePlanRequest({ sessionId, userId: 'bob', operationId, sql: 'SELECT 1' }),
        { timeoutMs: 10_000, maxReplyBytes: 64 * 1024 * 1024 },
      );
      assert.equal(reply.status, 0);
      assert.equal(reply.messages.length, 9);
      assert.equal(
        reply.messages.slice(0, 8).reduce((n, m) => n + m.length, 0) > 8 * 1024 * 1024,
        true,
      );
      const binding = gateway.sessions.findByOperation(operationId);
      assert.equal(binding?.sessionId, sessionId);
      assert.ok(binding.serverSideSessionId !== undefined, 'server-side session id recorded');
    });

    it('keeps a session while its result is still to come, past the idle timeout, then lets it go', async () => {
      gateway = await fastGateway(fakes, undefined, relay, {
        sessionIdleTimeoutMs: 300,
        sweepIntervalMs: 50,
      });
      session = client(gateway);
      const sessionId = randomUUID();
      // The first call places the session; the connection's next calls go where it was placed.
      assert.equal((await config(session, sessionId, 'bob')).status, 0);
      for (const fake of fakes) fake.executePlanDelayMs = 1500;
      const streaming = grpcCall(
        session,
        `${SERVICE}/ExecutePlan`,
        encodeExecutePlanRequest({ sessionId, userId: 'bob', sql: 'SELECT slow' }),
        { timeoutMs: 10_000 },
      );
      const sessions = gateway.sessions;
      const count = (): number => sessions.size;
      await sleep(1000);
      assert.equal(count(), 1, 'the session of an open ExecutePlan was kept');
      assert.equal((await streaming).status, 0);
      const deadline = performance.now() + 5000;
      while (count() > 0 && performance.now() < deadline) await sleep(50);
      assert.equal(count(), 0, 'the session was let go once idle');
    });

    // Summed up, OK calls are counted the same: the native core then reports the OK unary calls
    // of sessions it routes itself in summaries (the other relays ignore the option).
    for (const summarizeOkCalls of [false, true])
      it(`counts calls by method and status, their latency and bytes, once each however often read${summarizeOkCalls ? ', OK calls summed up' : ''}`, async () => {
        gateway = await fastGateway(fakes, undefined, { ...relay, summarizeOkCalls });
        const metrics = createMetrics();
        const stop = subscribeGatewayMetrics(metrics.registry, gateway);
        let summedUp = 0;
        const stopSummaries = gatewayChannels.rpcsFinished.subscribe((event) => {
          summedUp += event.count;
        });
        try {
          session = client(gateway);
          const sessionId = randomUUID();
          // The first call is routed by the gateway; on a pinned relay the next ones go by the place
          // the connection already knows.
          for (let i = 0; i < 12; i++)
            assert.equal((await config(session, sessionId, 'bob')).status, 0);
          const plan = await grpcCall(
            session,
            `${SERVICE}/ExecutePlan`,
            encodeExecutePlanRequest({ sessionId, userId: 'bob', sql: 'SELECT 1' }),
            { timeoutMs: 5000 },
          );
          assert.equal(plan.status, 0);
          const unknown = await grpcCall(session, `${SERVICE}/NoSuchMethod`, Buffer.alloc(0), {
            timeoutMs: 5000,
          });
          assert.notEqual(unknown.status, 0);
          for (let read = 0; read < 2; read++) {
            const text = await metrics.render();
            const value = (pattern: RegExp): number => Number(pattern.exec(text)?.[1] ?? NaN);
            assert.equal(
              value(/^sparkplane_gateway_rpcs_total\{method="Config",code="OK"\} (\S+)$/m),
              12,
            );
            assert.equal(
              value(/^sparkplane_gateway_rpcs_total\{method="ExecutePlan",code="OK"\} (\S+)$/m),
              1,
            );
            assert.equal(
              value(/^sparkplane_gateway_rpc_duration_seconds_count\{method="Config"\} (\S+)$/m),
              12,
            );
            assert.ok(value(/^sparkplane_gateway_bytes_total\{direction="in"\} (\S+)$/m) > 12 * 20);
            assert.ok(
              value(/^sparkplane_gateway_bytes_total\{direction="out"\} (\S+)$/m) > 12 * 20,
            );
            assert.equal(value(/^sparkplane_gateway_active_calls (\S+)$/m), 0);
          }
          if (summarizeOkCalls && relay.relayCore === 'native')
            // The first calls wait for the server-side session id; the rest are summed up.
            assert.ok(summedUp >= 8, `${String(summedUp)} Config calls summed up`);
          else assert.equal(summedUp, 0);
        } finally {
          stopSummaries();
          stop();
          metrics.close();
        }
      });

    // The native core leaves summaries to gather over a few reads of its own sockets and reports
    // them within a few ms, or at once when the counts are read.
    if (relay.relayCore === 'native')
      it('reports OK calls it summed up on its own within moments, and all of them when counts are read', async () => {
        gateway = await fastGateway(fakes, undefined, { ...relay, summarizeOkCalls: true });
        const metrics = createMetrics();
        const stop = subscribeGatewayMetrics(metrics.registry, gateway);
        let summedUp = 0;
        const stopSummaries = gatewayChannels.rpcsFinished.subscribe((event) => {
          summedUp += event.count;
        });
        const okConfigCalls = async (): Promise<number> => {
          const text = await metrics.render();
          return Number(
            /^sparkplane_gateway_rpcs_total\{method="Config",code="OK"\} (\S+)$/m.exec(text)?.[1] ??
              0,
          );
        };
        try {
          session = client(gateway);
          const sessionId = randomUUID();
          for (let i = 0; i < 20; i++) assert.equal((await config(session, sessionId)).status, 0);
          assert.equal(await okConfigCalls(), 20, 'every call counted when the counts are read');
          assert.ok(summedUp > 0, 'some calls were summed up');
          const before = summedUp;
          for (let i = 0; i < 10; i++) assert.equal((await config(session, sessionId)).status, 0);
          // Nothing else happens on the connection: the engine reports the rest by itself.
          const deadline = performance.now() + 2000;
          while (summedUp < before + 10 && performance.now() < deadline) await sleep(5);
          assert.equal(
            summedUp,
            before + 10,
            'the last calls reported without a read of the counts',
          );
          assert.equal(await okConfigCalls(), 30);
        } finally {
          stopSummaries();
          stop();
          metrics.close();
        }
      });

    it('answers UNAVAILABLE for sessions of a restarted server and places new sessions on', async () => {
      gateway = await fastGateway(fakes, undefined, relay);
      session = client(gateway);
      const ids = Array.from({ length: 4 }, (): string => randomUUID());
      for (const id of ids) assert.equal((await config(session, id)).status, 0);
      const onFirst = ids.filter((id) => backendOf(fakes, id)[0] === 0);
      const onSecond = ids.filter((id) => backendOf(fakes, id)[0] === 1);
      fakes[0]?.restart();
      await gateway.pool.checkAll();
      for (const id of onFirst) {
        const reply = await config(session, id);
        assert.equal(reply.status, 14);
        assert.match(
          reply.message,
          /session .* is gone: the Spark Connect server 127\.0\.0\.1:\d+ restarted/,
        );
        assert.match(reply.message, /create a new Spark session/);
      }
      for (const id of onSecond) assert.equal((await config(session, id)).status, 0);
      assert.equal((await config(session, randomUUID())).status, 0);
    });

    it('never sends a session of a stopped server elsewhere; new sessions land on live servers', async () => {
      const doomed = await startFakeSparkConnect();
      gateway = await fastGateway([doomed, ...fakes]);
      session = client(gateway);
      const ids = Array.from({ length: 6 }, (): string => randomUUID());
      for (const id of ids) assert.equal((await config(session, id)).status, 0);
      const stranded = ids.filter((id) => doomed.calls.some((call) => call.sessionId === id));
      assert.equal(stranded.length, 2);
      await doomed.close();
      for (const id of stranded) {
        const reply = await config(session, id);
        assert.equal(reply.status, 14, reply.message);
        assert.match(reply.message, /is gone/);
      }
      for (const fake of fakes)
        assert.equal(fake.calls.filter((c) => stranded.includes(c.sessionId)).length, 0);
      for (let i = 0; i < 4; i++) assert.equal((await config(session, randomUUID())).status, 0);
    });

    it('forgets a released session and answers ReleaseSession for an unknown one itself', async () => {
      gateway = await fastGateway(fakes, undefined, relay);
      session = client(gateway);
      const id = randomUUID();
      assert.equal((await config(session, id)).status, 0);
      assert.equal(gateway.sessions.size, 1);
      const release = await grpcCall(
        session,
        `${SERVICE}/ReleaseSession`,
        encodeReleaseSessionRequest({ sessionId: id, userId: 'alice' }),
        { timeoutMs: 5000 },
      );
      assert.equal(release.status, 0);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(gateway.sessions.size, 0);
      const calls = fakes.reduce((n, fake) => n + fake.calls.length, 0);
      const unknown = await grpcCall(
        session,
        `${SERVICE}/ReleaseSession`,
        encodeReleaseSessionRequest({ sessionId: randomUUID(), userId: 'alice' }),
        { timeoutMs: 5000 },
      );
      assert.equal(unknown.status, 0);
      assert.equal(
        fakes.reduce((n, fake) => n + fake.calls.length, 0),
        calls,
        'no server was asked',
      );
    });

    it('keeps every session on its server across a gateway restart with a state folder', async () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'sparkplane-gw-'));
      dirs.push(stateDir);
      gateway = await fastGateway(fakes, stateDir, relay);
      session = client(gateway);
      const ids = Array.from({ length: 6 }, (): string => randomUUID());
      for (const id of ids) assert.equal((await config(session, id)).status, 0);
      const before = ids.map((id) => backendOf(fakes, id));
      session.destroy();
      await gateway.close(1000);
      gateway = await fastGateway([...fakes].reverse(), stateDir);
      session = client(gateway);
      for (const id of ids) assert.equal((await config(session, id)).status, 0);
      assert.deepEqual(
        ids.map((id) => backendOf(fakes, id)),
        before,
      );
    });

    it('refuses a request without a session id, an oversize message and HTTP/1.1, and keeps serving', async () => {
      gateway = await startGateway({
        host: '127.0.0.1',
        port: 0,
        backends: fakes.map((b) => ({ host: '127.0.0.1', port: b.port })),
        maxMessageBytes: 1024,
      });
      await gateway.pool.checkAll();
      session = client(gateway);
      const noSession = await grpcCall(
        session,
        `${SERVICE}/Config`,
        encodeConfigRequest({ sessionId: '', userId: 'x', operation: { get: ['a'] } }),
        { timeoutMs: 5000 },
      );
      assert.equal(noSession.status, 3);
      assert.match(noSession.message, /carries no session_id/);
      const big = await grpcCall(
        session,
        `${SERVICE}/ExecutePlan`,
        encodeExecutePlanRequest({
          sessionId: randomUUID(),
          userId: 'x',
          planBytes: new Uint8Array(4096),
        }),
        { timeoutMs: 5000 },
      );
      assert.equal(big.status, 8);
      assert.match(big.message, /larger than the limit/);
      const http1 = await new Promise<string>((resolve) => {
        const socket = net.connect(gateway?.address.port ?? 0, '127.0.0.1', () => {
          socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
        socket.on('close', () => {
          resolve(text);
        });
      });
      assert.match(http1, /^HTTP\/1\.1 426 /);
      assert.match(http1, /Spark Connect endpoint/);
      assert.equal((await config(session, randomUUID())).status, 0);
    });
  });
