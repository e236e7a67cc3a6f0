// The Spark Connect servers the gateway launches itself, started through a spark-submit that runs
// the in-repo server (test/support/fake-spark-home.ts): minimum kept, placement over them, crash
// and restart, isolation per user with its maximum, idle stop, a server that fails to start.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startGateway, type Gateway } from '../../../src/gateway/gateway-server.ts';
import type {
  ManagedServerView,
  ManagedSettings,
} from '../../../src/gateway/managed/managed-servers.ts';
import { describeSparkHome } from '../../../src/gateway/managed/spark-install.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import {
  encodeConfigRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { makeFakeSparkHome, type FakeSparkHomeOptions } from '../../support/fake-spark-home.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { isRunning } from '../../support/process-alive.ts';

const SERVICE = '/spark.connect.SparkConnectService';
// A port range of its own per run, away from the usual ephemeral ports.
const BASE_PORT = 21000 + Math.floor(Math.random() * 400) * 20;

function call(gateway: Gateway, sessionId: string, userId: string): Promise<GrpcReply> {
  const session = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
  session.on('error', () => undefined);
  return grpcCall(
    session,
    `${SERVICE}/Config`,
    encodeConfigRequest({ sessionId, userId, operation: { get: ['spark.app.id'] } }),
    { timeoutMs: 20_000 },
  ).finally(() => closeClient(session));
}

function release(gateway: Gateway, sessionId: string, userId: string): Promise<GrpcReply> {
  const session = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
  session.on('error', () => undefined);
  return grpcCall(
    session,
    `${SERVICE}/ReleaseSession`,
    encodeReleaseSessionRequest({ sessionId, userId }),
    {
      timeoutMs: 5000,
    },
  ).finally(() => closeClient(session));
}

function closeClient(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    session.close(() => {
      resolve();
    });
  });
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const serversOf = (gateway: Gateway): ManagedServerView[] => gateway.managed?.list() ?? [];

describe('managed Spark Connect servers', () => {
  let dir = '';
  let gateway: Gateway | undefined;
  let portBlock = 0;
  let baseline: ResourceCounts = new Map();

  before(() => {
    baseline = activeResources();
    dir = mkdtempSync(join(tmpdir(), 'sparkplane-managed-'));
  });
  afterEach(async () => {
    await gateway?.close(1000);
    gateway = undefined;
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeaked(baseline, 'the managed servers tests');
  });

  const start = async (
    managed: Partial<ManagedSettings>,
    home: FakeSparkHomeOptions = {},
    maxSessionsPerBackend?: number,
  ): Promise<Gateway> => {
    portBlock++;
    const sparkHome = makeFakeSparkHome(join(dir, `spark-${String(portBlock)}`), home);
    const first = BASE_PORT + portBlock * 4;
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      backends: [],
      health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
      maxSessionsPerBackend,
      managed: {
        install: describeSparkHome(sparkHome, 'test'),
        minServers: 0,
        maxServers: 4,
        master: 'local[1]',
        conf: [],
        isolation: 'shared',
        groups: () => new Map(),
        idleTimeoutMs: 60_000,
        host: '127.0.0.1',
        ports: { first, last: first + 3 },
        logDir: join(dir, `logs-${String(portBlock)}`),
        startTimeoutMs: 10_000,
        backoff: { initialMs: 50, maxMs: 200 },
        stopGraceMs: 2000,
        ...managed,
      },
    });
    await gateway.managedStarted;
    return gateway;
  };

  it('keeps the minimum running and places sessions over it, least-sessions first', async () => {
    const g = await start({ minServers: 2 });
    const servers = serversOf(g);
    assert.deepEqual(
      servers.map((server) => server.state),
      ['running', 'running'],
    );
    for (const server of servers) assert.ok(isRunning(server.pid));
    for (let i = 0; i < 4; i++) assert.equal((await call(g, randomUUID(), 'alice')).status, 0);
    assert.deepEqual([...g.sessions.sessionsPerBackend().values()], [2, 2]);
    const pids = servers.map((server) => server.pid);
    await g.close(1000);
    gateway = undefined;
    for (const pid of pids)
      assert.equal(isRunning(pid), false, `server ${String(pid)} was stopped`);
  });

  it('restarts a crashed server after a backoff; its sessions are told their server restarted', async () => {
    const g = await start({ minServers: 1 });
    const sessionId = randomUUID();
    assert.equal((await call(g, sessionId, 'alice')).status, 0);
    const [crashed] = serversOf(g);
    assert.ok(crashed !== undefined);
    process.kill(crashed.pid, 'SIGKILL');
    const replacement = await waitFor('a new server', () =>
      serversOf(g).find((server) => server.pid !== crashed.pid && server.state === 'running'),
    );
    assert.equal(replacement.port, crashed.port, 'the new server takes the same port');
    await g.pool.checkAll();
    const reply = await call(g, sessionId, 'alice');
    assert.equal(reply.status, 14);
    assert.match(reply.message, /session .* is gone: the Spark Connect server .* restarted/);
    assert.equal((await call(g, randomUUID(), 'alice')).status, 0, 'new sessions work again');
  });

  it('gives each user servers of their own, up to the maximum', async () => {
    const g = await start({ isolation: 'user', maxServers: 2 });
    assert.equal(serversOf(g).length, 0, 'no server before the first session');
    assert.equal((await call(g, randomUUID(), 'alice')).status, 0);
    assert.equal((await call(g, randomUUID(), 'bob')).status, 0);
    assert.equal((await call(g, randomUUID(), 'alice')).status, 0);
    const byUser = new Map<string, Set<string>>();
    for (const session of g.sessions.list())
      byUser.set(session.userId, (byUser.get(session.userId) ?? new Set()).add(session.backend));
    assert.equal(byUser.get('alice')?.size, 1);
    assert.equal(byUser.get('bob')?.size, 1);
    assert.notDeepEqual([...(byUser.get('alice') ?? [])], [...(byUser.get('bob') ?? [])]);
    assert.deepEqual(
      serversOf(g)
        .map((server) => server.key)
        .sort(),
      ['user:alice', 'user:bob'],
    );
    const full = await call(g, randomUUID(), 'carol');
    assert.equal(full.status, 8);
    assert.match(full.message, /at most 2.*none free for user:carol.*--managed-max-servers/);
  });

  it('launches another shared server when every one is at its session cap', async () => {
    const g = await start({ minServers: 1, maxServers: 2 }, {}, 1);
    assert.equal((await call(g, randomUUID(), 'alice')).status, 0);
    assert.equal((await call(g, randomUUID(), 'bob')).status, 0);
    assert.equal(serversOf(g).length, 2);
    assert.equal((await call(g, randomUUID(), 'carol')).status, 8);
  });

  it('stops a server that has held no session for the idle timeout', async () => {
    const g = await start({ isolation: 'connection', idleTimeoutMs: 300 });
    const sessionId = randomUUID();
    assert.equal((await call(g, sessionId, 'alice')).status, 0);
    const [server] = serversOf(g);
    assert.ok(server !== undefined);
    assert.equal(server.key, `session:alice/${sessionId}`);
    assert.equal((await release(g, sessionId, 'alice')).status, 0);
    await waitFor('the idle server to stop', () => (serversOf(g).length === 0 ? true : undefined));
    await waitFor('its process to end', () => (isRunning(server.pid) ? undefined : true));
  });

  it('answers UNAVAILABLE with the end of the log when a server does not start', async () => {
    const g = await start(
      { isolation: 'user' },
      { failWith: 'Cannot allocate a driver in queue sparkconnect' },
    );
    const reply = await call(g, randomUUID(), 'alice');
    assert.equal(reply.status, 14);
    assert.match(
      reply.message,
      /could not start a Spark Connect server for user:alice: it exited with code 1/,
    );
    assert.match(reply.message, /Cannot allocate a driver in queue sparkconnect/);
    assert.equal(serversOf(g).length, 0);
  });
});
