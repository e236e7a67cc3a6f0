// Two gateway replicas in front of the same two Spark Connect servers, sharing one Redis affinity
// store (a real redis-server): a session placed through one is served through the other on the
// same server, a release through one is seen by the other, and concurrent first calls through both
// never split a session over two servers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { isDeepStrictEqual } from 'node:util';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { startGateway, type Gateway } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { sessionKey, type AffinityStore } from '../../../src/gateway/routing/affinity-store.ts';
import { openRedisAffinityStore } from '../../../src/gateway/routing/redis-affinity-store.ts';
import {
  encodeConfigRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import {
  redisTestOptions,
  startRedisServer,
  type RedisServer,
} from '../../support/redis-server.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const USER = 'alice';

interface Replica {
  readonly gateway: Gateway;
  readonly client: http2.ClientHttp2Session;
}

function config(replica: Replica, sessionId: string): Promise<GrpcReply> {
  return grpcCall(
    replica.client,
    `${SERVICE}/Config`,
    encodeConfigRequest({ sessionId, userId: USER, operation: { get: ['spark.app.id'] } }),
    { timeoutMs: 5000 },
  );
}

function release(replica: Replica, sessionId: string): Promise<GrpcReply> {
  return grpcCall(
    replica.client,
    `${SERVICE}/ReleaseSession`,
    encodeReleaseSessionRequest({ sessionId, userId: USER }),
    { timeoutMs: 5000 },
  );
}

const keyOfSession = (sessionId: string): string => sessionKey('', USER, sessionId);

/**
 * The store as if Redis were a little way off: a bind arrives 20 ms late, so replicas placing one
 * session at once have both looked it up (and found nothing) before either bind lands.
 */
function withBindLatency(store: AffinityStore): AffinityStore {
  return {
    ...store,
    bind: async (binding) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return store.bind(binding);
    },
  };
}

/** Sockets, timers and child processes of this test process. */
function openHandles(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((kind) => ['TCPSocketWrap', 'PipeWrap', 'ProcessWrap', 'Timeout'].includes(kind))
    .sort();
}

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 5000; !(await condition());) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('two gateway replicas sharing a Redis affinity store', redisTestOptions(), () => {
  let redis: RedisServer | undefined;
  let fakes: FakeSparkConnect[] = [];
  let replicas: Replica[] = [];
  let handlesBefore: string[] = [];

  const backendsOf = (sessionId: string): number[] =>
    fakes.flatMap((fake, index) =>
      fake.calls.some((call) => call.sessionId === sessionId) ? [index] : [],
    );
  const callCount = (): number => fakes.reduce((n, fake) => n + fake.calls.length, 0);

  const startReplica = async (
    url: string,
    keyPrefix: string,
    backends: readonly FakeSparkConnect[],
  ): Promise<Replica> => {
    const gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      backends: backends.map((fake) => ({ host: '127.0.0.1', port: fake.port })),
      store: withBindLatency(await openRedisAffinityStore({ url, keyPrefix })),
      health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
    });
    await gateway.pool.checkAll();
    const client = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    client.on('error', () => undefined);
    return { gateway, client };
  };

  before(async () => {
    redis = await startRedisServer();
    fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    // stdout and stderr are opened on first use; open them now so that they count on both sides.
    assert.ok(process.stdout.writable && process.stderr.writable);
    handlesBefore = openHandles();
  });
  beforeEach(async () => {
    assert.ok(redis !== undefined);
    const keyPrefix = `sparkplane:replicas:${randomUUID()}:`;
    // The second lists the servers in the other order: left to itself, it would place a new
    // session on the other server than the first does.
    replicas = [
      await startReplica(redis.url, keyPrefix, fakes),
      await startReplica(redis.url, keyPrefix, [...fakes].reverse()),
    ];
  });
  afterEach(async () => {
    for (const { client } of replicas) client.destroy();
    for (const { gateway } of replicas) assert.equal(await gateway.close(1000), true);
    replicas = [];
    for (const fake of fakes) fake.reset();
    // Checked while Redis and the servers still run, so that they cannot close what a gateway
    // left open; a closed socket gives its handle back a few turns of the event loop later.
    await until(
      () => isDeepStrictEqual(openHandles(), handlesBefore),
      'every handle is closed',
    ).catch(() => undefined);
    assert.deepEqual(openHandles(), handlesBefore, 'no socket, timer or process left behind');
  });
  after(async () => {
    for (const fake of fakes) await fake.close();
    await redis?.stop();
  });

  const pair = (): [Replica, Replica] => {
    const [a, b] = replicas;
    assert.ok(a !== undefined && b !== undefined);
    return [a, b];
  };

  it('serves a session placed through one replica on the same server through the other', async () => {
    const [a, b] = pair();
    const ids = Array.from({ length: 6 }, (): string => randomUUID());
    for (const id of ids) assert.equal((await config(a, id)).status, 0);
    const placed = ids.map((id) => backendsOf(id));
    assert.deepEqual(
      placed.map((where) => where.length),
      ids.map(() => 1),
    );
    assert.deepEqual(new Set(placed.flat()), new Set([0, 1]), 'a spread them over both servers');
    for (let round = 0; round < 2; round++)
      for (const id of ids) assert.equal((await config(b, id)).status, 0);
    assert.deepEqual(
      ids.map((id) => backendsOf(id)),
      placed,
    );
    for (const id of ids)
      assert.equal(
        b.gateway.sessions.find(keyOfSession(id))?.backend,
        a.gateway.sessions.find(keyOfSession(id))?.backend,
      );
  });

  it('answers for a session released through the other replica', async () => {
    const [a, b] = pair();
    // Released through a before b ever saw it: b answers a second release itself.
    const unseen = randomUUID();
    assert.equal((await config(a, unseen)).status, 0);
    assert.equal((await release(a, unseen)).status, 0);
    await until(
      async () => (await b.gateway.store.findSession(keyOfSession(unseen))) === undefined,
      'the store forgot the released session',
    );
    const calls = callCount();
    assert.equal((await release(b, unseen)).status, 0);
    assert.equal(callCount(), calls, 'no server was asked');
    assert.equal(b.gateway.sessions.find(keyOfSession(unseen)), undefined);

    // Placed through a, released through b, which never saw it: b finds it in the store, and the
    // release reaches the server the session is on.
    const placed = randomUUID();
    assert.equal((await config(a, placed)).status, 0);
    const [server] = backendsOf(placed);
    assert.equal((await release(b, placed)).status, 0);
    assert.deepEqual(backendsOf(placed), [server]);
    assert.equal(
      fakes[server ?? -1]?.calls.filter((call) => call.sessionId === placed).at(-1)?.method,
      'ReleaseSession',
    );
    await until(
      async () => (await a.gateway.store.findSession(keyOfSession(placed))) === undefined,
      'the store forgot the released session',
    );

    // Used through b, then released through a: b's release still reaches only that server.
    const seen = randomUUID();
    assert.equal((await config(a, seen)).status, 0);
    assert.equal((await config(b, seen)).status, 0);
    assert.equal((await release(a, seen)).status, 0);
    await until(
      async () => (await a.gateway.store.findSession(keyOfSession(seen))) === undefined,
      'the store forgot the released session',
    );
    assert.equal((await release(b, seen)).status, 0);
    assert.equal(backendsOf(seen).length, 1);
    await until(
      () => b.gateway.sessions.find(keyOfSession(seen)) === undefined,
      'b forgot the released session',
    );
    const again = callCount();
    assert.equal((await release(a, seen)).status, 0);
    assert.equal(callCount(), again, 'a answered the third release itself');
  });

  it('never splits a session whose first calls reach both replicas at once', async () => {
    const [a, b] = pair();
    const ids = Array.from({ length: 20 }, (): string => randomUUID());
    const replies = await Promise.all(
      ids.flatMap((id) => [config(a, id), config(b, id), config(a, id), config(b, id)]),
    );
    assert.deepEqual(
      replies.map((reply) => reply.status),
      replies.map(() => 0),
    );
    for (const id of ids) {
      assert.equal(backendsOf(id).length, 1, `session ${id} on one server`);
      const onA = a.gateway.sessions.find(keyOfSession(id));
      assert.ok(onA !== undefined);
      const onB = b.gateway.sessions.find(keyOfSession(id));
      assert.deepEqual([onB?.backend, onB?.createdAt], [onA.backend, onA.createdAt]);
      assert.equal(fakes[backendsOf(id)[0] ?? -1]?.address, onA.backend);
    }
    assert.equal((await a.gateway.store.loadSessions()).length, ids.length);
  });
});
