// One contract, every affinity store: the in-memory and file SQLite stores and the Redis store
// (a real redis-server), run through the same cases. "Another instance" is a second store opened
// on the same storage, as a second gateway replica would; the in-memory store has only itself.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  keyOf,
  openSqliteAffinityStore,
  sessionKey,
  type AffinityStore,
  type SessionBinding,
} from '../../../src/gateway/routing/affinity-store.ts';
import { openRedisAffinityStore } from '../../../src/gateway/routing/redis-affinity-store.ts';
import { GatewayError } from '../../../src/gateway/errors.ts';
import {
  redisTestOptions,
  startRedisServer,
  type RedisServer,
} from '../../support/redis-server.ts';

/** A fresh, empty storage; each `open` is one more store instance on it. */
interface Storage {
  open(): Promise<AffinityStore>;
  /** Whether what was written survives every instance being closed. */
  readonly persistent: boolean;
}

interface Flavor {
  readonly name: string;
  readonly options: { skip?: string };
  setUp(): Promise<void>;
  storage(): Storage;
  tearDown(): Promise<void>;
}

const dirs: string[] = [];
let redis: RedisServer | undefined;

const flavors: Flavor[] = [
  {
    name: 'in-memory SQLite store',
    options: {},
    setUp: () => Promise.resolve(),
    storage() {
      let store: AffinityStore | undefined;
      return {
        persistent: false,
        open: () => Promise.resolve((store ??= openSqliteAffinityStore(undefined))),
      };
    },
    tearDown: () => Promise.resolve(),
  },
  {
    name: 'SQLite file store',
    options: {},
    setUp: () => Promise.resolve(),
    storage() {
      const dir = mkdtempSync(join(tmpdir(), 'sparkplane-affinity-'));
      dirs.push(dir);
      return { persistent: true, open: () => Promise.resolve(openSqliteAffinityStore(dir)) };
    },
    tearDown() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  },
  {
    name: 'Redis store',
    options: redisTestOptions(),
    async setUp() {
      redis = await startRedisServer();
    },
    storage() {
      const server = redis;
      if (server === undefined) throw new Error('redis-server did not start');
      const keyPrefix = `sparkplane:test:${randomUUID()}:`;
      return {
        persistent: true,
        open: () => openRedisAffinityStore({ url: server.url, keyPrefix }),
      };
    },
    async tearDown() {
      await redis?.stop();
      redis = undefined;
    },
  },
];

const T0 = 1_760_000_000_000;

function binding(overrides: Partial<SessionBinding> = {}): SessionBinding {
  return {
    principal: 'alice@EXAMPLE.COM',
    userId: 'alice',
    sessionId: randomUUID(),
    backend: '10.0.0.1:15002',
    incarnation: 'app-20250101000000-0001',
    createdAt: T0,
    lastSeenAt: T0,
    serverSideSessionId: undefined,
    clientAddress: '192.0.2.7:51234',
    ...overrides,
  };
}

const byKey = (a: SessionBinding, b: SessionBinding): number => keyOf(a).localeCompare(keyOf(b));

for (const flavor of flavors) {
  describe(flavor.name, flavor.options, () => {
    let opened: AffinityStore[] = [];
    let storage: Storage;
    const open = async (): Promise<AffinityStore> => {
      const store = await storage.open();
      if (!opened.includes(store)) opened.push(store);
      return store;
    };

    before(() => flavor.setUp());
    after(() => flavor.tearDown());
    beforeEach(() => {
      storage = flavor.storage();
    });
    afterEach(async () => {
      for (const store of opened) await store.close();
      opened = [];
    });

    it('binds a session once; a second bind gets the binding that holds', async () => {
      const store = await open();
      const first = binding();
      const result = await store.bind(first);
      assert.equal(result.created, true);
      assert.deepEqual(result.binding, first);
      const again = await store.bind({ ...first, backend: '10.0.0.2:15002', createdAt: T0 + 5 });
      assert.equal(again.created, false);
      assert.deepEqual(again.binding, first);
      assert.deepEqual(await store.findSession(keyOf(first)), first);
    });

    it('gives concurrent binds of one session from two instances the same, first binding', async () => {
      const [a, b] = [await open(), await open()];
      for (let round = 0; round < 20; round++) {
        const base = binding();
        const [fromA, fromB] = await Promise.all([
          a.bind({ ...base, backend: '10.0.0.1:15002' }),
          b.bind({ ...base, backend: '10.0.0.2:15002' }),
        ]);
        assert.equal(Number(fromA.created) + Number(fromB.created), 1, 'exactly one created it');
        assert.deepEqual(fromA.binding, fromB.binding);
        const winner = fromA.created ? fromA.binding : fromB.binding;
        assert.deepEqual(await a.findSession(keyOf(base)), winner);
        assert.deepEqual(await b.findSession(keyOf(base)), winner);
      }
    });

    it('finds sessions and operations, and not what was never bound', async () => {
      const [a, b] = [await open(), await open()];
      const session = binding({ serverSideSessionId: randomUUID() });
      const key = keyOf(session);
      assert.equal(await a.findSession(key), undefined);
      await a.bind(session);
      assert.deepEqual(await b.findSession(key), session);
      const operationId = randomUUID();
      assert.equal(await b.findOperation(operationId), undefined);
      await a.bindOperation({ operationId, sessionKey: key, createdAt: T0 + 1 });
      // The first binding of an operation id holds.
      await b.bindOperation({ operationId, sessionKey: 'other', createdAt: T0 + 2 });
      assert.deepEqual(await b.findOperation(operationId), {
        operationId,
        sessionKey: key,
        createdAt: T0 + 1,
      });
    });

    it('keeps the latest last-seen time whichever instance touches', async () => {
      const [a, b] = [await open(), await open()];
      const session = binding();
      const key = keyOf(session);
      await a.bind(session);
      await a.touch(new Map([[key, T0 + 100]]));
      await b.touch(new Map([[key, T0 + 50]]));
      assert.equal((await a.findSession(key))?.lastSeenAt, T0 + 100);
      await b.touch(new Map([[key, T0 + 200]]));
      assert.equal((await a.findSession(key))?.lastSeenAt, T0 + 200);
      const unknown = sessionKey('p', 'u', randomUUID());
      await a.touch(new Map([[unknown, T0]]));
      await a.touch(new Map());
      assert.equal(await a.findSession(unknown), undefined, 'touch binds nothing');
    });

    it('removes a session with its operations, and leaves the others', async () => {
      const [a, b] = [await open(), await open()];
      const gone = binding();
      const kept = binding();
      await a.bind(gone);
      await a.bind(kept);
      const goneOps = [randomUUID(), randomUUID()];
      for (const operationId of goneOps)
        await a.bindOperation({ operationId, sessionKey: keyOf(gone), createdAt: T0 });
      const keptOp = randomUUID();
      await a.bindOperation({ operationId: keptOp, sessionKey: keyOf(kept), createdAt: T0 });
      await b.remove([keyOf(gone), sessionKey('p', 'u', randomUUID())]);
      await b.remove([]);
      assert.equal(await a.findSession(keyOf(gone)), undefined);
      for (const operationId of goneOps)
        assert.equal(await a.findOperation(operationId), undefined);
      assert.deepEqual(await a.findSession(keyOf(kept)), kept);
      assert.equal((await a.findOperation(keptOp))?.sessionKey, keyOf(kept));
      assert.deepEqual(
        (await a.loadOperations()).map((operation) => operation.operationId),
        [keptOp],
      );
      // A removed session can be bound anew.
      assert.equal((await b.bind(gone)).created, true);
    });

    it('removes only the sessions idle in the store, touched through any instance', async () => {
      const [a, b] = [await open(), await open()];
      const idle = binding();
      const busy = binding();
      const edge = binding();
      for (const session of [idle, busy, edge]) await a.bind(session);
      const idleOp = randomUUID();
      const busyOp = randomUUID();
      await a.bindOperation({ operationId: idleOp, sessionKey: keyOf(idle), createdAt: T0 });
      await a.bindOperation({ operationId: busyOp, sessionKey: keyOf(busy), createdAt: T0 });
      // Another gateway saw `busy` since a last did; `edge` was last seen exactly at the cut-off.
      await b.touch(new Map([[keyOf(busy), T0 + 1000]]));
      await b.touch(new Map([[keyOf(edge), T0 + 500]]));
      const unknown = sessionKey('p', 'u', randomUUID());
      const removed = await a.removeIdle(
        [keyOf(idle), keyOf(busy), keyOf(edge), unknown],
        T0 + 500,
      );
      assert.deepEqual(removed, [keyOf(idle)]);
      assert.equal(await b.findSession(keyOf(idle)), undefined);
      assert.equal(await b.findOperation(idleOp), undefined);
      assert.equal((await b.findSession(keyOf(busy)))?.lastSeenAt, T0 + 1000);
      assert.equal((await b.findOperation(busyOp))?.sessionKey, keyOf(busy));
      assert.deepEqual(await b.findSession(keyOf(edge)), { ...edge, lastSeenAt: T0 + 500 });
      assert.deepEqual(await a.removeIdle([], T0 + 10_000), []);
    });

    it('forgets operations created before the cut-off', async () => {
      const [a, b] = [await open(), await open()];
      const session = binding();
      const key = keyOf(session);
      await a.bind(session);
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      for (const [index, operationId] of ids.entries())
        await a.bindOperation({ operationId, sessionKey: key, createdAt: T0 + 100 * (index + 1) });
      await b.pruneOperations(T0 + 200);
      assert.equal(await a.findOperation(ids[0] ?? ''), undefined);
      assert.equal((await a.findOperation(ids[1] ?? ''))?.createdAt, T0 + 200);
      assert.equal((await a.findOperation(ids[2] ?? ''))?.createdAt, T0 + 300);
      assert.deepEqual(
        (await b.loadOperations()).map((operation) => operation.operationId).sort(),
        [ids[1], ids[2]].sort(),
      );
      assert.deepEqual(await a.findSession(key), session, 'the session stays');
      // Its remaining operations still go with it.
      await b.remove([key]);
      assert.deepEqual(await a.loadOperations(), []);
    });

    it('records the server-side session id of a bound session only', async () => {
      const [a, b] = [await open(), await open()];
      const session = binding();
      const key = keyOf(session);
      await a.bind(session);
      const serverSideSessionId = randomUUID();
      await b.updateServerSideSessionId(key, serverSideSessionId);
      assert.deepEqual(await a.findSession(key), { ...session, serverSideSessionId });
      const unknown = sessionKey('p', 'u', randomUUID());
      await b.updateServerSideSessionId(unknown, randomUUID());
      assert.equal(await a.findSession(unknown), undefined);
    });

    it('loads every session and operation again after a reopen (the in-memory store: none)', async () => {
      if (!storage.persistent) {
        const forgetful = openSqliteAffinityStore(undefined);
        await forgetful.bind(binding({}));
        await forgetful.close();
        const reopened = openSqliteAffinityStore(undefined);
        assert.deepEqual(await reopened.loadSessions(), [], 'an in-memory store starts empty');
        await reopened.close();
        return;
      }
      const writer = await open();
      const sessions = Array.from({ length: 30 }, (_, index) =>
        binding({ userId: `user-${String(index)}`, createdAt: T0 + index, lastSeenAt: T0 + index }),
      );
      for (const session of sessions) await writer.bind(session);
      const first = sessions[0];
      assert.ok(first !== undefined);
      const serverSideSessionId = randomUUID();
      await writer.updateServerSideSessionId(keyOf(first), serverSideSessionId);
      await writer.touch(new Map([[keyOf(first), T0 + 9999]]));
      const operations = sessions.map((session, index) => ({
        operationId: randomUUID(),
        sessionKey: keyOf(session),
        createdAt: T0 + index,
      }));
      for (const operation of operations) await writer.bindOperation(operation);
      await writer.close();
      opened = [];
      const reader = await open();
      const expected = sessions.map((session) =>
        session === first ? { ...session, serverSideSessionId, lastSeenAt: T0 + 9999 } : session,
      );
      assert.deepEqual((await reader.loadSessions()).sort(byKey), expected.sort(byKey));
      const order = (a: { operationId: string }, b: { operationId: string }): number =>
        a.operationId.localeCompare(b.operationId);
      assert.deepEqual((await reader.loadOperations()).sort(order), operations.sort(order));
    });

    it('touches, removes and prunes more sessions than one batch holds', async () => {
      const [a, b] = [await open(), await open()];
      const sessions = Array.from({ length: 1234 }, () => binding());
      await Promise.all(sessions.map((session) => a.bind(session)));
      await Promise.all(
        sessions.map((session, index) =>
          a.bindOperation({
            operationId: randomUUID(),
            sessionKey: keyOf(session),
            createdAt: T0 + index,
          }),
        ),
      );
      const keys = sessions.map((session) => keyOf(session));
      await b.touch(new Map(keys.map((key, index) => [key, T0 + (index % 2 === 0 ? 10 : 0)])));
      const removed = await a.removeIdle(keys, T0 + 5);
      assert.deepEqual(removed.sort(), keys.filter((_, index) => index % 2 === 1).sort());
      assert.equal((await b.loadSessions()).length, 617);
      assert.equal((await b.loadOperations()).length, 617);
      await b.pruneOperations(T0 + 1234);
      assert.deepEqual(await a.loadOperations(), []);
      await a.remove(keys);
      assert.deepEqual(await b.loadSessions(), []);
    });

    it('keeps keys with unit separators, colons and non-ASCII identities apart', async () => {
      const [a, b] = [await open(), await open()];
      const sessionId = randomUUID();
      const sessions = [
        binding({ principal: 'CN=Jürgen Groß,O=Straße', userId: '用户-ß-🚀', sessionId }),
        binding({ principal: 'spiffe://example.org/ns:prod', userId: 'ünïcødé', sessionId }),
        binding({ principal: '', userId: 'session:x', sessionId }),
        binding({ principal: '', userId: '', sessionId }),
      ];
      for (const session of sessions) assert.equal((await a.bind(session)).created, true);
      for (const session of sessions) {
        const key = keyOf(session);
        assert.equal(key.split('\u001f').length, 3);
        assert.deepEqual(await b.findSession(key), session);
        await a.bindOperation({ operationId: `op-${key}`, sessionKey: key, createdAt: T0 });
        assert.equal((await b.findOperation(`op-${key}`))?.sessionKey, key);
      }
      assert.deepEqual((await b.loadSessions()).sort(byKey), [...sessions].sort(byKey));
      const [removed, ...rest] = sessions;
      assert.ok(removed !== undefined);
      assert.deepEqual(await b.removeIdle([keyOf(removed)], T0 + 1), [keyOf(removed)]);
      assert.equal(await a.findOperation(`op-${keyOf(removed)}`), undefined);
      assert.deepEqual((await a.loadSessions()).sort(byKey), rest.sort(byKey));
    });
  });
}

// Sockets and timers of this process; its own stdout and stderr count as pipes too.
const openHandles = (): string[] =>
  process
    .getActiveResourcesInfo()
    .filter((kind) => kind === 'TCPSocketWrap' || kind === 'PipeWrap' || kind === 'Timeout')
    .sort();

describe('Redis store connection', redisTestOptions(), () => {
  let server: RedisServer | undefined;
  let handlesBefore: string[] = [];
  before(async () => {
    server = await startRedisServer();
  });
  beforeEach(async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    handlesBefore = openHandles();
  });
  // Checked while the server still runs, so that it cannot close what a store left open. A
  // destroyed socket gives its handle back a few turns of the event loop later.
  afterEach(async () => {
    for (let waited = 0; waited < 500 && !isDeepStrictEqual(openHandles(), handlesBefore);) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      waited += 10;
    }
    assert.deepEqual(openHandles(), handlesBefore, 'no socket or timer left behind');
  });
  after(() => server?.stop());

  it('names the server without its password', async () => {
    const url = server?.url ?? '';
    const store = await openRedisAffinityStore({ url, keyPrefix: `t:${randomUUID()}:` });
    assert.equal(store.kind, 'redis');
    assert.equal(store.shared, true);
    assert.equal(store.location, url);
    await store.close();
    await assert.rejects(
      openRedisAffinityStore({ url: 'redis://gw:s3cret@127.0.0.1:1', connectTimeoutMs: 500 }),
      (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.equal(error.code, 'GW_STORE_UNAVAILABLE');
        assert.equal(error.grpcStatus, 14, 'clients retry it');
        assert.doesNotMatch(error.message, /s3cret/);
        assert.match(error.message, /redis:\/\/gw:\*\*\*@127\.0\.0\.1:1/);
        return true;
      },
    );
  });

  it('refuses a URL it cannot use, without echoing its password', async () => {
    for (const url of ['http://127.0.0.1:6379', 'not a url :pw@', 'unix://']) {
      await assert.rejects(openRedisAffinityStore({ url }), (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.match(error.message, /the Redis URL .* write it as redis:\/\//);
        assert.doesNotMatch(error.message, /pw/);
        return true;
      });
    }
  });

  it('fails a call on a Redis that stopped answering, and reconnects once it answers', async () => {
    assert.ok(server !== undefined);
    const store = await openRedisAffinityStore({
      url: server.url,
      keyPrefix: `t:${randomUUID()}:`,
      commandTimeoutMs: 1000,
    });
    const session = binding();
    try {
      await store.bind(session);
      process.kill(server.pid, 'SIGSTOP');
      const started = Date.now();
      try {
        await assert.rejects(store.findSession(keyOf(session)), (error: unknown) => {
          assert.ok(error instanceof GatewayError);
          assert.match(error.message, /could not look up a session at Redis unix:.*reachable/);
          return true;
        });
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      assert.ok(Date.now() - started < 6000, 'failed soon after the command timeout');
      assert.deepEqual(await store.findSession(keyOf(session)), session);
    } finally {
      await store.close();
    }
  });

  it('fails at once, saying what to check, when nothing listens', async () => {
    const started = Date.now();
    await assert.rejects(
      openRedisAffinityStore({ url: 'redis://127.0.0.1:1' }),
      (error: unknown) => {
        assert.ok(error instanceof GatewayError);
        assert.match(
          error.message,
          /could not connect at Redis redis:\/\/127\.0\.0\.1:1.*ECONNREFUSED.*check that Redis at redis:\/\/127\.0\.0\.1:1 is reachable/,
        );
        assert.ok(error.cause !== undefined);
        return true;
      },
    );
    assert.ok(Date.now() - started < 2500, 'failed without waiting for the connect timeout');
  });

  it('gives up within the connect timeout on a server that never answers', async () => {
    const silent = net.createServer(() => undefined);
    const sockets = new Set<net.Socket>();
    const ended = new Set<net.Socket>();
    silent.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('end', () => ended.add(socket)).resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      for (const url of [
        `redis://127.0.0.1:${String(port)}`,
        `redis://user:pw@127.0.0.1:${String(port)}`,
      ]) {
        const started = Date.now();
        await assert.rejects(
          openRedisAffinityStore({ url, connectTimeoutMs: 300 }),
          /could not connect .*no answer within 300 ms/,
        );
        const took = Date.now() - started;
        // The upper bound leaves room for a loaded machine; without the deadline it would never end.
        assert.ok(took >= 290 && took < 5000, `gave up after ${String(took)} ms`);
      }
      for (let waited = 0; waited < 2000 && ended.size < 2; waited += 10)
        await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(sockets.size, 2);
      assert.equal(ended.size, 2, 'the store closed every connection it gave up on');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('carries on with a restarted Redis, failing at most the call that found it gone', async () => {
    assert.ok(server !== undefined);
    const store = await openRedisAffinityStore({
      url: server.url,
      keyPrefix: `t:${randomUUID()}:`,
      connectTimeoutMs: 500,
    });
    try {
      const session = binding();
      await store.bind(session);
      await server.restart();
      // The first call finds the old connection cut; calls after it reconnect.
      const first = await store.findSession(keyOf(session)).then(
        () => undefined,
        (error: unknown) => error,
      );
      if (first !== undefined) {
        assert.ok(first instanceof GatewayError);
        assert.match(first.message, /could not look up a session at Redis unix:\/\//);
      }
      assert.equal(await store.findSession(keyOf(session)), undefined, 'a new, empty server');
      assert.equal((await store.bind(session)).created, true);
    } finally {
      await store.close();
    }
    await assert.rejects(
      store.findSession('x'),
      /the gateway session store at Redis unix:\/\/.* was closed before it could look up a session/,
    );
  });
});
