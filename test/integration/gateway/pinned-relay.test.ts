// `--relay pinned` against in-repo Spark Connect servers: a client connection gets a server
// connection of its own and its calls pass through frame by frame; a connection that mixes two
// servers' sessions is sent away and then served call by call; a server lost mid-call is named in
// the call's status; what the relay cannot do with TLS or auth is refused at start.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, type Gateway } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { gatewayChannels } from '../../../src/gateway/observability-channels.ts';
import {
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';

const SERVICE = '/spark.connect.SparkConnectService';

function config(session: http2.ClientHttp2Session, sessionId: string): Promise<GrpcReply> {
  return grpcCall(
    session,
    `${SERVICE}/Config`,
    encodeConfigRequest({ sessionId, userId: 'ada', operation: { get: ['x'] } }),
    { timeoutMs: 5000 },
  );
}

describe('gateway --relay pinned', () => {
  let fakes: FakeSparkConnect[] = [];
  let gateway: Gateway | undefined;
  const clients: http2.ClientHttp2Session[] = [];
  const open = (target: Gateway): http2.ClientHttp2Session => {
    const session = http2.connect(`http://127.0.0.1:${String(target.address.port)}`);
    session.on('error', () => undefined);
    clients.push(session);
    return session;
  };

  let baseline: ResourceCounts = new Map();
  before(async () => {
    baseline = activeResources();
    fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
  });
  afterEach(async () => {
    for (const session of clients.splice(0)) session.destroy();
    await gateway?.close(1000);
    gateway = undefined;
    for (const fake of fakes) fake.reset();
  });
  after(async () => {
    for (const fake of fakes) await fake.close();
    await assertNothingLeaked(baseline, 'the pinned relay tests');
  });

  it('gives each client connection a server connection of its own and relays every call', async () => {
    const [fake] = fakes;
    assert.ok(fake !== undefined);
    gateway = await startTestGateway([fake], { relay: 'pinned' });
    const before = fake.connections;
    const connections = [open(gateway), open(gateway), open(gateway)];
    const ids = Array.from({ length: 30 }, () => randomUUID());
    for (let round = 0; round < 3; round++)
      await Promise.all(
        ids.map(async (id, index) => {
          const connection = connections[index % connections.length];
          assert.ok(connection !== undefined);
          const reply = await config(connection, id);
          assert.equal(reply.status, 0, reply.message);
        }),
      );
    assert.equal(fake.connections - before, 3, 'one server connection per client connection');
    assert.equal(gateway.sessions.size, 30);
    // A streamed result, its trailers, and the ids it teaches the session table.
    fake.resultBatchBytes = 1024 * 1024;
    fake.resultBatches = 8;
    const operationId = randomUUID();
    const [first] = connections;
    assert.ok(first !== undefined);
    const result = await grpcCall(
      first,
      `${SERVICE}/ExecutePlan`,
      encodeExecutePlanRequest({ sessionId: ids[0] ?? '', userId: 'ada', operationId, sql: 'x' }),
      { timeoutMs: 10_000, maxReplyBytes: 64 * 1024 * 1024 },
    );
    fake.resultBatchBytes = 64;
    fake.resultBatches = 1;
    assert.equal(result.status, 0);
    assert.equal(result.messages.length, 9);
    assert.equal(gateway.sessions.findByOperation(operationId)?.sessionId, ids[0]);
    // The gateway's own answers (with DATA) do not upset the connection's flow control.
    for (let i = 0; i < 50; i++) {
      const unknown = await grpcCall(
        first,
        `${SERVICE}/ReleaseSession`,
        encodeReleaseSessionRequest({ sessionId: randomUUID(), userId: 'ada' }),
        { timeoutMs: 5000 },
      );
      assert.equal(unknown.status, 0);
    }
    const health = await grpcCall(first, '/grpc.health.v1.Health/Check', Buffer.alloc(0), {
      timeoutMs: 5000,
    });
    assert.equal(health.status, 0);
    assert.deepEqual([...(health.messages[0] ?? [])], [0x08, 1]);
    const released = await grpcCall(
      first,
      `${SERVICE}/ReleaseSession`,
      encodeReleaseSessionRequest({ sessionId: ids[0] ?? '', userId: 'ada' }),
      { timeoutMs: 5000 },
    );
    assert.equal(released.status, 0);
    await sleep(50);
    assert.equal(gateway.sessions.size, 29, 'the released session is forgotten');
  });

  it('sends a connection that mixes two servers away, then serves its client call by call', async () => {
    gateway = await startTestGateway(fakes, { relay: 'pinned' });
    const rejected: string[] = [];
    const onRejected = (event: unknown): void => {
      rejected.push((event as { kind: string }).kind);
    };
    const stop = gatewayChannels.requestRejected.subscribe(onRejected);
    try {
      const mixed = open(gateway);
      let goaway = false;
      mixed.once('goaway', () => (goaway = true));
      const [a, b] = [randomUUID(), randomUUID()];
      assert.equal((await config(mixed, a)).status, 0);
      // Least-sessions places the second session on the other server: not this connection's.
      // Refused unprocessed (GOAWAY): a gRPC client retries it on a new connection.
      await assert.rejects(config(mixed, b), /REFUSED_STREAM/);
      assert.ok(goaway);
      assert.deepEqual(rejected, ['pinned-session-elsewhere']);
      const again = open(gateway);
      for (let round = 0; round < 3; round++) {
        assert.equal((await config(again, a)).status, 0);
        assert.equal((await config(again, b)).status, 0);
      }
      const where = (id: string): number[] =>
        fakes.flatMap((fake, index) => (fake.calls.some((c) => c.sessionId === id) ? [index] : []));
      assert.equal(where(a).length, 1, 'session a stayed on one server');
      assert.equal(where(b).length, 1, 'session b stayed on one server');
      assert.notDeepEqual(where(a), where(b));
    } finally {
      stop();
    }
  });

  it('answers a call whose server went away with UNAVAILABLE naming it, and sends the client on', async () => {
    const doomed = await startFakeSparkConnect();
    try {
      gateway = await startTestGateway([doomed], { relay: 'pinned' });
      const client = open(gateway);
      const id = randomUUID();
      assert.equal((await config(client, id)).status, 0);
      doomed.delayMs = 2000;
      const pending = config(client, id);
      await sleep(200);
      doomed.dropConnections();
      const reply = await pending;
      assert.equal(reply.status, 14);
      assert.match(reply.message, /closed the connection during the call; retry the call/);
    } finally {
      await gateway?.close(1000);
      gateway = undefined;
      await doomed.close();
    }
  });

  it('finishes open calls when the gateway stops, then closes the connection', async () => {
    const [fake] = fakes;
    assert.ok(fake !== undefined);
    gateway = await startTestGateway([fake], { relay: 'pinned' });
    const client = open(gateway);
    const id = randomUUID();
    assert.equal((await config(client, id)).status, 0);
    fake.delayMs = 300;
    const pending = config(client, id);
    await sleep(50);
    const closing = gateway.close(5000);
    assert.equal((await pending).status, 0, 'the call in flight completes');
    assert.equal(await closing, true, 'every connection ended before the deadline');
    gateway = undefined;
  });

  it('refuses to start with TLS, client authentication or a backend token', async () => {
    for (const extra of [
      { tls: { cert: Buffer.from('x'), key: Buffer.from('y') } },
      { authenticate: () => Promise.resolve('ada') },
      { backendToken: 'secret' },
    ])
      await assert.rejects(
        startGateway({ host: '127.0.0.1', port: 0, backends: [], relay: 'pinned', ...extra }),
        /--relay pinned cannot be combined with .*use --relay terminate/,
      );
  });
});
