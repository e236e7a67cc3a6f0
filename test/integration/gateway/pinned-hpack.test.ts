// `--relay pinned` keeps the client's HPACK table in step with the server's encoder. A response
// header block of a call that is already over for the client (the client reset it while the
// server answered) never reaches the client; when that block added to the server's table, the
// server's later blocks refer to an entry the client does not have. The server here is a plain
// HTTP/2 speaker that answers exactly so, with a table of its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PROBE_SESSION_ID } from '../../../src/gateway/health/probe.ts';
import { grpcCall } from '../../../src/gateway/proxy/grpc-call.ts';
import {
  CLIENT_PREFACE,
  FrameFlag,
  FrameType,
  createFrameParser,
  createHeaderBlockReader,
  encodeFrame,
  encodeHeaderFrames,
  encodeSettings,
} from '../../../src/gateway/wire/h2-frames.ts';
import { encodeGrpcMessage } from '../../../src/gateway/wire/grpc-frame.ts';
import { createHpackDecoder, encodeHeaderBlock } from '../../../src/gateway/wire/hpack.ts';
import {
  encodeConfigRequest,
  encodeConfigResponse,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startGateway, type Gateway } from '../../../src/gateway/gateway-server.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const NOTE = 'from-a-call-the-client-reset';

/** A literal header field with incremental indexing and a new name: the server's table grows. */
function indexedLiteral(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x40, name.length]),
    Buffer.from(name, 'latin1'),
    Buffer.from([value.length]),
    Buffer.from(value, 'latin1'),
  ]);
}
/** The newest entry of the dynamic table (index 62). */
const NEWEST_ENTRY = Buffer.from([0xbe]);

const RESPONSE_HEAD = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);

interface ScriptedServer {
  readonly port: number;
  /** Calls other than the gateway's probes, in order of arrival. */
  readonly calls: number[];
  /** The client reset the held call, and the server answered it anyway. */
  readonly answeredAfterReset: Promise<void>;
  close(): Promise<void>;
}

/**
 * Answers probes and calls with a Config reply, except the first call, which it holds; once that
 * call is reset, it answers it anyway with a block that adds `x-note` to its table, and every
 * later reply's headers refer to that entry.
 */
async function startScriptedServer(): Promise<ScriptedServer> {
  const calls: number[] = [];
  let resolveAnswered: () => void = () => undefined;
  const answeredAfterReset = new Promise<void>((resolve) => {
    resolveAnswered = resolve;
  });
  const sockets = new Set<net.Socket>();
  let noteAdded = false;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(encodeSettings([]));
    const frames = createFrameParser(16_384);
    const blocks = createHeaderBlockReader();
    const decoder = createHpackDecoder();
    const bodies = new Map<number, Buffer[]>();
    let held: number | undefined;
    let preface = Buffer.alloc(0);

    const reply = (streamId: number, body: Buffer, head: Buffer): void => {
      socket.write(
        Buffer.concat([
          ...encodeHeaderFrames(streamId, head, false, 16_384),
          encodeFrame(FrameType.DATA, 0, streamId, encodeGrpcMessage(body)),
          ...encodeHeaderFrames(streamId, encodeHeaderBlock([['grpc-status', '0']]), true, 16_384),
        ]),
      );
    };
    const onRequest = (streamId: number, body: Buffer): void => {
      const probe = body.includes(Buffer.from(PROBE_SESSION_ID));
      const configReply = encodeConfigResponse({
        sessionId: probe ? PROBE_SESSION_ID : 'call',
        pairs: [
          { key: 'spark.app.id', value: 'scripted' },
          { key: 'spark.app.startTime', value: '1' },
        ],
      });
      if (probe) {
        reply(streamId, configReply, RESPONSE_HEAD);
        return;
      }
      calls.push(streamId);
      if (calls.length === 1) {
        held = streamId;
        return;
      }
      reply(
        streamId,
        configReply,
        noteAdded ? Buffer.concat([RESPONSE_HEAD, NEWEST_ENTRY]) : RESPONSE_HEAD,
      );
    };
    socket.on('data', (chunk: Buffer) => {
      if (preface.length < CLIENT_PREFACE.length) {
        const need = CLIENT_PREFACE.length - preface.length;
        preface = Buffer.concat([preface, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
      }
      frames.push(chunk, (frame) => {
        if (blocks.open || frame.type === FrameType.HEADERS) {
          const block = blocks.push(frame);
          if (block !== undefined) {
            decoder.decode(block.block);
            bodies.set(block.streamId, []);
          }
          return;
        }
        if (frame.type === FrameType.SETTINGS && (frame.flags & FrameFlag.ACK) === 0)
          socket.write(encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
        else if (frame.type === FrameType.DATA) {
          bodies.get(frame.streamId)?.push(Buffer.from(frame.payload));
          if ((frame.flags & FrameFlag.END_STREAM) !== 0)
            onRequest(frame.streamId, Buffer.concat(bodies.get(frame.streamId) ?? []));
        } else if (frame.type === FrameType.RST_STREAM && frame.streamId === held) {
          // The answer was on its way when the reset came: it adds to the table all the same.
          socket.write(
            Buffer.concat(
              encodeHeaderFrames(
                frame.streamId,
                Buffer.concat([
                  RESPONSE_HEAD,
                  encodeHeaderBlock([['grpc-status', '1']]),
                  indexedLiteral('x-note', NOTE),
                ]),
                true,
                16_384,
              ),
            ),
          );
          noteAdded = true;
          held = undefined;
          resolveAnswered();
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    calls,
    answeredAfterReset,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe('gateway --relay pinned: HPACK across dropped blocks', () => {
  let server: ScriptedServer;
  let gateway: Gateway | undefined;
  let baseline: ResourceCounts = new Map();
  before(async () => {
    baseline = activeResources();
    server = await startScriptedServer();
  });
  after(async () => {
    await gateway?.close(1000);
    await server.close();
    await assertNothingLeaked(baseline, 'the pinned HPACK tests');
  });

  it("keeps the client's table in step when a block that grew the server's never reaches it", async () => {
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      backends: [{ host: '127.0.0.1', port: server.port }],
      relay: 'pinned',
      health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
    });
    await gateway.pool.checkAll();
    const client = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    client.on('error', () => undefined);
    try {
      const sessionId = randomUUID();
      const request = encodeConfigRequest({ sessionId, userId: 'ada', operation: { get: ['x'] } });
      // The first call is held by the server; the client gives up on it once it is there.
      const first = client.request({
        ':method': 'POST',
        ':path': `${SERVICE}/Config`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      first.on('error', () => undefined);
      first.end(encodeGrpcMessage(request));
      while (server.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      first.close(http2.constants.NGHTTP2_CANCEL);
      await server.answeredAfterReset;

      // The next replies refer to the entry the dropped block added.
      for (let call = 0; call < 3; call++) {
        const reply = await grpcCall(client, `${SERVICE}/Config`, request, { timeoutMs: 5000 });
        assert.equal(reply.status, 0, `call ${String(call)}: ${reply.message}`);
        assert.equal(
          reply.headers['x-note'],
          NOTE,
          `call ${String(call)} has the header its server sent`,
        );
      }
      assert.equal(client.destroyed, false, 'the client connection is still up');
    } finally {
      client.destroy();
    }
  });
});
