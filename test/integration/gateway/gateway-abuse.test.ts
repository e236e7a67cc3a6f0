// Bad input and HTTP/2 abuse at the gateway: malformed protobuf, non-gRPC requests, bytes that are
// not HTTP at all, rapid stream resets, stream floods, clients that never send their request and
// clients that never read their result. Each is answered or cut off, and a well-behaved client on
// another connection is served throughout.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Gateway, type GatewayOptions } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { RELAY_VARIANTS } from '../../support/relay-variants.ts';
import { encodeGrpcMessage } from '../../../src/gateway/wire/grpc-frame.ts';
import {
  encodeConfigRequest,
  encodeExecutePlanRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import { gatewayChannels, type RpcFinished } from '../../../src/gateway/observability-channels.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

function config(session: http2.ClientHttp2Session, sessionId: string): Promise<GrpcReply> {
  return grpcCall(
    session,
    `${SERVICE}/Config`,
    encodeConfigRequest({ sessionId, userId: 'u', operation: { get: ['x'] } }),
    { timeoutMs: 5000 },
  );
}

/** Sends `body` (already framed or not) as one request and collects the answer. */
function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = GRPC_HEADERS,
): Promise<{ status: number; grpcStatus: string; grpcMessage: string; text: string }> {
  return new Promise((resolve, reject) => {
    const bodyless = headers[':method'] === 'GET';
    const stream = session.request({ ...headers, ':path': path }, { endStream: bodyless });
    let status = 0;
    let grpcStatus = '';
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    const note = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined)
        grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', (h) => {
      status = Number(h[':status']);
      note(h);
    });
    stream.on('trailers', note);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('close', () => {
      resolve({ status, grpcStatus, grpcMessage, text: Buffer.concat(chunks).toString() });
    });
    stream.on('error', reject);
    if (!bodyless) stream.end(body);
  });
}

for (const variant of RELAY_VARIANTS)
  describe(
    `gateway (--relay ${variant.name}) under bad input and HTTP/2 abuse`,
    variant.testOptions,
    () => {
      let fakes: FakeSparkConnect[] = [];
      let gateway: Gateway | undefined;
      const sessions: http2.ClientHttp2Session[] = [];

      const start = async (extra: Partial<GatewayOptions> = {}): Promise<Gateway> => {
        gateway = await startTestGateway(fakes, { ...variant.options, ...extra });
        return gateway;
      };
      const open = (target: Gateway): http2.ClientHttp2Session => {
        const session = http2.connect(`http://127.0.0.1:${String(target.address.port)}`);
        session.on('error', () => undefined);
        sessions.push(session);
        return session;
      };
      /** A client on its own connection that must keep being served. */
      const bystanderServed = async (target: Gateway): Promise<void> => {
        const bystander = open(target);
        const reply = await config(bystander, randomUUID());
        assert.equal(reply.status, 0, `a well-behaved client is served (${reply.message})`);
      };

      let baseline: ResourceCounts = new Map();
      before(async () => {
        baseline = activeResources();
        fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
      });
      afterEach(async () => {
        for (const session of sessions.splice(0)) session.destroy();
        await gateway?.close(1000);
        gateway = undefined;
        for (const fake of fakes) fake.reset();
      });
      after(async () => {
        for (const fake of fakes) await fake.close();
        await assertNothingLeaked(baseline, `the gateway abuse tests (--relay ${variant.name})`);
      });

      it('answers malformed protobuf with INVALID_ARGUMENT and a reason', async () => {
        const target = await start();
        const session = open(target);
        const cases: [string, Buffer][] = [
          // session_id (field 1) with a length varint that never ends
          [
            'runaway varint',
            Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
          ],
          // session_id claims 16 bytes, 3 follow
          ['truncated field', Buffer.from([0x0a, 0x10, 0x61, 0x62, 0x63])],
          // wire type 7 does not exist
          ['unknown wire type', Buffer.from([0x0f, 0x01])],
          // session_id is not UTF-8
          ['invalid UTF-8', Buffer.from([0x0a, 0x02, 0xc3, 0x28])],
        ];
        for (const [what, body] of cases) {
          const reply = await rawCall(session, `${SERVICE}/Config`, encodeGrpcMessage(body));
          assert.equal(
            reply.grpcStatus,
            '3',
            `${what}: INVALID_ARGUMENT (got ${reply.grpcStatus} ${reply.grpcMessage})`,
          );
          assert.match(reply.grpcMessage, /malformed|not valid|UTF-8|protobuf/i, what);
        }
        // A frame whose length prefix is cut short, then the stream ends.
        const cut = await rawCall(session, `${SERVICE}/Config`, Buffer.from([0, 0, 0, 0x10, 0x0a]));
        assert.equal(cut.grpcStatus, '3');
        assert.match(cut.grpcMessage, /ended in the middle of its first message/);
        // A compressed message without a grpc-encoding header.
        const compressed = await rawCall(
          session,
          `${SERVICE}/Config`,
          Buffer.concat([Buffer.from([1, 0, 0, 0, 2]), Buffer.from([0x0a, 0x00])]),
        );
        assert.notEqual(compressed.grpcStatus, '0');
        assert.notEqual(compressed.grpcMessage, '');
        assert.equal(
          fakes.flatMap((fake) => fake.calls).length,
          0,
          'nothing malformed reached a server',
        );
        await bystanderServed(target);
      });

      it('answers non-gRPC requests with HTTP errors that say what the port is', async () => {
        const target = await start();
        const session = open(target);
        const get = await rawCall(session, '/', Buffer.alloc(0), { ':method': 'GET' });
        assert.equal(get.status, 415);
        assert.match(get.text, /Spark Connect/);
        const json = await rawCall(session, `${SERVICE}/Config`, Buffer.from('{}'), {
          ':method': 'POST',
          'content-type': 'application/json',
        });
        assert.equal(json.status, 415);
        const unknownService = await rawCall(
          session,
          '/some.Other/Method',
          encodeGrpcMessage(Buffer.alloc(0)),
        );
        assert.notEqual(unknownService.grpcStatus, '0');
        await bystanderServed(target);
      });

      it('closes connections that send bytes that are not HTTP at all', async () => {
        const target = await start();
        const outcomes = await Promise.all(
          [
            Buffer.from('\x16\x03\x01\x02\x00garbage'),
            Buffer.alloc(4096, 0xab),
            Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxx'),
          ].map(
            (bytes) =>
              new Promise<string>((resolve) => {
                const socket = net.connect(target.address.port, '127.0.0.1', () => {
                  socket.write(bytes);
                });
                socket.on('error', () => undefined);
                socket.resume();
                socket.on('close', () => {
                  resolve('closed');
                });
                setTimeout(() => {
                  socket.destroy();
                  resolve('still open after 3 s');
                }, 3000).unref();
              }),
          ),
        );
        assert.deepEqual(outcomes, ['closed', 'closed', 'closed']);
        await bystanderServed(target);
      });

      it('cuts off a client that resets streams as fast as it opens them', async () => {
        const target = await start();
        const attacker = open(target);
        let goaway: number | undefined;
        attacker.on('goaway', (code: number) => {
          goaway = code;
        });
        const body = encodeGrpcMessage(
          encodeConfigRequest({ sessionId: randomUUID(), userId: 'u', operation: { get: ['x'] } }),
        );
        let opened = 0;
        for (let i = 0; i < 20_000 && !attacker.closed && !attacker.destroyed; i++) {
          try {
            const stream = attacker.request({ ...GRPC_HEADERS, ':path': `${SERVICE}/Config` });
            stream.on('error', () => undefined);
            stream.write(body);
            stream.close(http2.constants.NGHTTP2_CANCEL);
            opened++;
          } catch {
            break;
          }
          if (i % 500 === 499) await sleep(1);
        }
        await sleep(500);
        assert.ok(
          goaway !== undefined || attacker.closed || attacker.destroyed,
          `the connection is cut off (opened ${String(opened)} streams)`,
        );
        const reached = fakes.flatMap((fake) => fake.calls).length;
        assert.ok(
          reached < 2000,
          `at most a bounded number of calls reached the servers (${String(reached)})`,
        );
        await bystanderServed(target);
      });

      it('bounds a stream flood and answers streams that never send their request', async () => {
        const target = await start({ maxConcurrentStreams: 64, firstMessageTimeoutMs: 300 });
        const flood = open(target);
        const answers: Promise<string>[] = [];
        for (let i = 0; i < 200; i++)
          answers.push(
            new Promise((resolve) => {
              const stream = flood.request({ ...GRPC_HEADERS, ':path': `${SERVICE}/Config` });
              let status = 'no status';
              const note = (h: http2.IncomingHttpHeaders): void => {
                if (h['grpc-status'] !== undefined)
                  status = `${String(h['grpc-status'])} ${String(h['grpc-message'])}`;
              };
              stream.on('response', note);
              stream.on('trailers', note);
              stream.on('error', () => undefined);
              stream.on('close', () => {
                resolve(
                  stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM ? 'refused' : status,
                );
              });
              stream.resume();
              // Headers only: the request message never comes.
            }),
          );
        await bystanderServed(target);
        const outcomes = await Promise.all(answers);
        const timedOut = outcomes.filter((outcome) =>
          /^3 no complete request message arrived within 300 ms$/.test(decodeURIComponent(outcome)),
        );
        assert.equal(
          timedOut.length + outcomes.filter((outcome) => outcome === 'refused').length,
          200,
          `every flooding stream was answered INVALID_ARGUMENT or refused: ${[...new Set(outcomes)].join(' | ')}`,
        );
        assert.equal(
          fakes.flatMap((fake) => fake.calls).length,
          1,
          'only the bystander reached a server',
        );
      });

      it('records a call the client cancels after its server finished as cancelled', async () => {
        const target = await start();
        for (const fake of fakes) fake.resultBatchBytes = 512 * 1024;
        const finished: RpcFinished[] = [];
        const onFinished = (event: unknown): void => {
          finished.push(event as RpcFinished);
        };
        const unsubscribe = gatewayChannels.rpcFinished.subscribe(onFinished);
        try {
          const reader = open(target);
          const stream = reader.request({ ...GRPC_HEADERS, ':path': `${SERVICE}/ExecutePlan` });
          stream.on('error', () => undefined);
          stream.pause();
          stream.end(
            encodeGrpcMessage(
              encodeExecutePlanRequest({ sessionId: randomUUID(), userId: 'u', sql: 'SELECT 1' }),
            ),
          );
          // The result is larger than the client's window: part of it waits while the client
          // does not read, whether at the gateway or at the server.
          await sleep(500);
          stream.close(http2.constants.NGHTTP2_CANCEL);
          await sleep(300);
          assert.deepEqual(
            finished
              .filter((event) => event.method === 'ExecutePlan')
              .map((event) => ({ status: event.status, message: event.message })),
            [{ status: 1, message: 'cancelled by the client' }],
          );
        } finally {
          unsubscribe();
        }
      });

      it('stops reading from the server while a client does not read its result', async () => {
        const target = await start();
        for (const fake of fakes) {
          fake.resultBatchBytes = 1024 * 1024;
          fake.resultBatches = 256;
        }
        const slow = open(target);
        const stream = slow.request({ ...GRPC_HEADERS, ':path': `${SERVICE}/ExecutePlan` });
        stream.on('error', () => undefined);
        stream.pause();
        stream.end(
          encodeGrpcMessage(
            encodeExecutePlanRequest({ sessionId: randomUUID(), userId: 'u', sql: 'SELECT big' }),
          ),
        );
        await sleep(1500);
        const sent = fakes.reduce((total, fake) => total + fake.resultBytesSent, 0);
        assert.ok(
          sent < 160 * 1024 * 1024,
          `a 256 MiB result is held back by flow control, not buffered (${String(Math.round(sent / 1048576))} MiB left the server)`,
        );
        await bystanderServed(target);
        const cancelledBefore = fakes.reduce((total, fake) => total + fake.cancelled, 0);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        await sleep(300);
        assert.equal(
          fakes.reduce((total, fake) => total + fake.cancelled, 0),
          cancelledBefore + 1,
          "the client's cancel reached the server",
        );
      });
    },
  );
