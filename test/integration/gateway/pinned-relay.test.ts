// `--relay pinned` against in-repo Spark Connect servers: a client connection gets a server
// connection of its own and its calls pass through frame by frame; a connection that mixes two
// servers' sessions is sent away and then served call by call; a server lost mid-call is named in
// the call's status.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Gateway } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { gatewayChannels } from '../../../src/gateway/observability-channels.ts';
import { loadNativeCore } from '../../../src/gateway/native/native-core.ts';
import {
  encodeConfigRequest,
  encodeExecutePlanRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import {
  CLIENT_PREFACE,
  FrameFlag,
  FrameType,
  Setting,
  createFrameParser,
  createHeaderBlockReader,
  encodeFrame,
  encodeHeaderFrames,
  encodeSettings,
  encodeWindowUpdate,
} from '../../../src/gateway/wire/h2-frames.ts';
import { encodeGrpcMessage } from '../../../src/gateway/wire/grpc-frame.ts';
import { createHpackDecoder, encodeHeaderBlock } from '../../../src/gateway/wire/hpack.ts';
import { decodeExecutePlanResponse } from '../../../src/gateway/wire/spark-connect-codecs.ts';
import {
  resultBatchData,
  startFakeSparkConnect,
  type FakeSparkConnect,
} from '../../support/fake-spark-connect.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import { makeTestCertificate } from '../../support/tls-cert.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { PINNED_VARIANTS } from '../../support/relay-variants.ts';

const SERVICE = '/spark.connect.SparkConnectService';

function config(session: http2.ClientHttp2Session, sessionId: string): Promise<GrpcReply> {
  return grpcCall(
    session,
    `${SERVICE}/Config`,
    encodeConfigRequest({ sessionId, userId: 'ada', operation: { get: ['x'] } }),
    { timeoutMs: 5000 },
  );
}

/** A socket that sent one ExecutePlan and offers the gateway an unlimited HTTP/2 window. */
async function executePlanUnlimited(port: number, sessionId: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const unlimited = 0x7fffffff;
  const request = encodeExecutePlanRequest({ sessionId, userId: 'ada', sql: 'SELECT big' });
  socket.write(
    Buffer.concat([
      CLIENT_PREFACE,
      encodeSettings([[Setting.INITIAL_WINDOW_SIZE, unlimited]]),
      encodeWindowUpdate(0, unlimited - 65_535),
      ...encodeHeaderFrames(
        1,
        encodeHeaderBlock([
          [':method', 'POST'],
          [':scheme', 'http'],
          [':path', `${SERVICE}/ExecutePlan`],
          [':authority', `127.0.0.1:${String(port)}`],
          ['content-type', 'application/grpc'],
          ['te', 'trailers'],
        ]),
        false,
        16_384,
      ),
      encodeFrame(FrameType.DATA, FrameFlag.END_STREAM, 1, encodeGrpcMessage(request)),
    ]),
  );
  return socket;
}

/**
 * One ExecutePlan over a plain socket that offers the gateway an unlimited HTTP/2 window and then
 * does not read for `stallMs`: the result piles up in the gateway's socket to the client, not in
 * flow control. Returns the gRPC status and the messages' bodies.
 */
async function executePlanStalled(
  port: number,
  sessionId: string,
  stallMs: number,
): Promise<{ status: string; messages: Buffer[] }> {
  const socket = await executePlanUnlimited(port, sessionId);
  try {
    await sleep(stallMs);
    const frames = createFrameParser(16_384);
    const blocks = createHeaderBlockReader();
    const decoder = createHpackDecoder();
    const body: Buffer[] = [];
    let status = '';
    await new Promise<void>((resolve, reject) => {
      socket.once('close', () => {
        reject(new Error('the gateway closed the connection before the trailers'));
      });
      socket.on('data', (chunk: Buffer) => {
        frames.push(chunk, (frame) => {
          if (blocks.open || frame.type === FrameType.HEADERS) {
            const block = blocks.push(frame);
            if (block === undefined) return;
            for (const [name, value] of decoder.decode(block.block))
              if (name === 'grpc-status') status = value;
            if (block.endStream) resolve();
          } else if (frame.type === FrameType.DATA && frame.streamId === 1)
            body.push(Buffer.from(frame.payload));
          else if (frame.type === FrameType.SETTINGS && (frame.flags & FrameFlag.ACK) === 0)
            socket.write(encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
        });
      });
    });
    const bytes = Buffer.concat(body);
    const messages: Buffer[] = [];
    for (let at = 0; at < bytes.length;) {
      const length = bytes.readUInt32BE(at + 1);
      messages.push(bytes.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    return { status, messages };
  } finally {
    socket.destroy();
  }
}

/** Whether every arrow batch of a result holds the bytes the in-repo server put in it. */
function batchesIntact(messages: readonly Uint8Array[], batchBytes: number): string[] {
  const wrong: string[] = [];
  messages.forEach((message, index) => {
    const batch = decodeExecutePlanResponse(message).arrowBatch;
    if (batch !== undefined && !resultBatchData(index, batchBytes).equals(batch.data))
      wrong.push(`batch ${String(index)}`);
  });
  return wrong;
}

for (const variant of PINNED_VARIANTS)
  describe(`gateway --relay ${variant.name}`, variant.testOptions, () => {
    let fakes: FakeSparkConnect[] = [];
    let gateway: Gateway | undefined;
    const clients: http2.ClientHttp2Session[] = [];
    const open = (target: Gateway): http2.ClientHttp2Session => {
      const session = http2.connect(`http://127.0.0.1:${String(target.address.port)}`);
      session.on('error', () => undefined);
      clients.push(session);
      return session;
    };

    /** Every server answers ExecutePlan with `batches` patterned arrow batches of `batchBytes`. */
    const patternedResults = (batchBytes: number, batches: number): void => {
      for (const fake of fakes) {
        fake.resultBatchBytes = batchBytes;
        fake.resultBatches = batches;
        fake.resultPattern = true;
      }
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
      // Sockets the native core reads itself are not Node's: it counts them.
      assert.equal(
        loadNativeCore().core?.pinnedLinksOpen() ?? 0,
        0,
        'every pinned connection closed the sockets the native core held',
      );
    });

    it('gives each client connection a server connection of its own and relays every call', async () => {
      const [fake] = fakes;
      assert.ok(fake !== undefined);
      gateway = await startTestGateway([fake], { ...variant.options });
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

    it('relays results byte for byte while a client stops reading and others stream', async () => {
      const batchBytes = 1024 * 1024;
      const batches = 24;
      patternedResults(batchBytes, batches);
      gateway = await startTestGateway(fakes, { ...variant.options });
      const port = gateway.address.port;
      const streaming = Array.from({ length: 3 }, async () => {
        const reply = await grpcCall(
          open(gateway ?? assert.fail('no gateway')),
          `${SERVICE}/ExecutePlan`,
          encodeExecutePlanRequest({ sessionId: randomUUID(), userId: 'ada', sql: 'SELECT big' }),
          { timeoutMs: 20_000, maxReplyBytes: 64 * 1024 * 1024 },
        );
        return { status: String(reply.status), messages: reply.messages };
      });
      const results = await Promise.all([
        executePlanStalled(port, randomUUID(), 700),
        executePlanStalled(port, randomUUID(), 300),
        ...streaming,
      ]);
      for (const [index, result] of results.entries()) {
        assert.equal(result.status, '0', `result ${String(index)}`);
        assert.equal(result.messages.length, batches + 1, `result ${String(index)}`);
        assert.deepEqual(batchesIntact(result.messages, batchBytes), [], `result ${String(index)}`);
      }
    });

    it("keeps the other clients' results intact when clients vanish while results wait for them", async () => {
      const batchBytes = 1024 * 1024;
      const batches = 16;
      patternedResults(batchBytes, batches);
      gateway = await startTestGateway(fakes, { ...variant.options });
      const port = gateway.address.port;
      // Their results pile up at the gateway, then the sockets they waited for are gone.
      const vanishing = Array.from({ length: 3 }, async (_, index) => {
        const socket = await executePlanUnlimited(port, randomUUID());
        await sleep(150 + index * 100);
        socket.destroy();
      });
      const results = await Promise.all([
        executePlanStalled(port, randomUUID(), 600),
        executePlanStalled(port, randomUUID(), 900),
        ...vanishing,
      ]);
      for (const result of results.slice(0, 2)) {
        assert.ok(result !== undefined);
        assert.equal(result.status, '0');
        assert.equal(result.messages.length, batches + 1);
        assert.deepEqual(batchesIntact(result.messages, batchBytes), []);
      }
      // The gateway serves on, and the next results are whole too.
      const after = await executePlanStalled(port, randomUUID(), 0);
      assert.deepEqual(batchesIntact(after.messages, batchBytes), []);
    });

    it('closes a connection idle for the idle timeout, and not one that keeps calling', async () => {
      gateway = await startTestGateway(fakes, { ...variant.options, connectionIdleTimeoutMs: 400 });
      const idle = open(gateway);
      const busy = open(gateway);
      const [a, b] = [randomUUID(), randomUUID()];
      assert.equal((await config(idle, a)).status, 0);
      assert.equal((await config(busy, b)).status, 0);
      if (variant.options.relayCore === 'native')
        assert.equal(
          loadNativeCore().core?.pinnedLinksOpen(),
          2,
          'the native core reads and writes both cleartext connections itself',
        );
      const idleClosed = once(idle, 'close');
      for (let call = 0; call < 10; call++) {
        await sleep(100);
        assert.equal((await config(busy, b)).status, 0);
      }
      await idleClosed;
      assert.equal(busy.closed, false, 'the connection that kept calling stays open');
      assert.equal((await config(open(gateway), a)).status, 0, 'the idle client connects again');
    });

    it('sends a connection that mixes two servers away, then serves its client call by call', async () => {
      gateway = await startTestGateway(fakes, { ...variant.options });
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
          fakes.flatMap((fake, index) =>
            fake.calls.some((c) => c.sessionId === id) ? [index] : [],
          );
        assert.equal(where(a).length, 1, 'session a stayed on one server');
        assert.equal(where(b).length, 1, 'session b stayed on one server');
        assert.notDeepEqual(where(a), where(b));
      } finally {
        stop();
      }
    });

    it('relays TLS connections frame by frame, and serves a TLS client that mixes servers call by call', async () => {
      const certificate = makeTestCertificate();
      try {
        const [first] = fakes;
        assert.ok(first !== undefined);
        gateway = await startTestGateway(fakes, {
          ...variant.options,
          tls: { cert: certificate.cert, key: certificate.key },
        });
        const url = `https://127.0.0.1:${String(gateway.address.port)}`;
        const openTls = (): http2.ClientHttp2Session => {
          const session = http2.connect(url, { ca: certificate.cert });
          session.on('error', () => undefined);
          clients.push(session);
          return session;
        };
        const before = fakes.map((fake) => fake.connections);
        const pinnedTls = [openTls(), openTls()];
        const a = randomUUID();
        for (const connection of pinnedTls) assert.equal((await config(connection, a)).status, 0);
        const serverOfA = fakes.findIndex((fake) => fake.sessions.has(a));
        assert.equal(
          (fakes[serverOfA]?.connections ?? 0) - (before[serverOfA] ?? 0),
          2,
          'one server connection per TLS client connection',
        );
        // A streamed result through TLS, whole.
        patternedResults(256 * 1024, 12);
        const result = await grpcCall(
          pinnedTls[0] ?? assert.fail('no connection'),
          `${SERVICE}/ExecutePlan`,
          encodeExecutePlanRequest({ sessionId: a, userId: 'ada', sql: 'SELECT big' }),
          { timeoutMs: 10_000, maxReplyBytes: 64 * 1024 * 1024 },
        );
        assert.equal(result.status, 0);
        assert.equal(result.messages.length, 13);
        assert.deepEqual(batchesIntact(result.messages, 256 * 1024), []);
        // The next session goes to the other server: refused on this connection, then served
        // call by call over a new TLS connection.
        const b = randomUUID();
        await assert.rejects(
          config(pinnedTls[1] ?? assert.fail('no connection'), b),
          /REFUSED_STREAM/,
        );
        const again = openTls();
        for (const id of [a, b, a, b]) assert.equal((await config(again, id)).status, 0);
        assert.notEqual(
          fakes.findIndex((fake) => fake.sessions.has(b)),
          serverOfA,
          'session b is on the other server',
        );
      } finally {
        certificate.remove();
      }
    });

    it('ends a TLS connection whose HTTP/2 preface is wrong with GOAWAY, even when it comes in pieces', async () => {
      const certificate = makeTestCertificate();
      try {
        gateway = await startTestGateway(fakes, {
          ...variant.options,
          tls: { cert: certificate.cert, key: certificate.key },
        });
        const socket = tls.connect({
          host: '127.0.0.1',
          port: gateway.address.port,
          ca: certificate.cert,
          servername: 'localhost',
          ALPNProtocols: ['h2'],
        });
        socket.on('error', () => undefined);
        await once(socket, 'secureConnect');
        const received: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        const closed = once(socket, 'close');
        // The first 10 bytes are the preface's; then it goes wrong.
        socket.write(CLIENT_PREFACE.subarray(0, 10));
        await sleep(50);
        socket.write(Buffer.from('x'.repeat(CLIENT_PREFACE.length - 10)));
        // At most 5 s, so a relay that never ends the connection fails the test instead of hanging it.
        const limit = setTimeout(() => socket.destroy(), 5000);
        await closed;
        clearTimeout(limit);
        const frames: { type: number; code: number; debug: string }[] = [];
        createFrameParser(16_384).push(Buffer.concat(received), (frame) => {
          if (frame.type === FrameType.GOAWAY)
            frames.push({
              type: frame.type,
              code: frame.payload.readUInt32BE(4),
              debug: frame.payload.subarray(8).toString(),
            });
        });
        assert.deepEqual(frames, [
          { type: FrameType.GOAWAY, code: 1, debug: 'the HTTP/2 preface is wrong' },
        ]);
      } finally {
        certificate.remove();
      }
    });

    it('answers a call whose server went away with UNAVAILABLE naming it, and sends the client on', async () => {
      const doomed = await startFakeSparkConnect();
      try {
        gateway = await startTestGateway([doomed], { ...variant.options });
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
      gateway = await startTestGateway([fake], { ...variant.options });
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
  });
