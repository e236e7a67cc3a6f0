// `--relay pinned` against a plain HTTP/2 speaker that answers calls frame by frame as each test
// scripts it, for what a library server rarely does on cue:
// - a response header block of a call that is already over for the client (the client reset it
//   while the server answered) never reaches the client; when that block added to the server's
//   HPACK table, the server's later blocks refer to an entry the client does not have;
// - a padded DATA frame carrying the backend token: the gateway sends it on unpadded and masked,
//   and gives the server back the flow-control credit of the padding the client never sees;
// - a call cancelled while the gateway holds back what may be the start of the token: the
//   server gets the credit for those bytes back;
// - peers announcing HPACK tables larger than the gateway mirrors are told the gateway's limit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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
  parseSettings,
  Setting,
} from '../../../src/gateway/wire/h2-frames.ts';
import { encodeGrpcMessage } from '../../../src/gateway/wire/grpc-frame.ts';
import { createHpackDecoder, encodeHeaderBlock } from '../../../src/gateway/wire/hpack.ts';
import {
  decodeConfigResponse,
  encodeConfigRequest,
  encodeConfigResponse,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import {
  startGateway,
  type Gateway,
  type GatewayOptions,
} from '../../../src/gateway/gateway-server.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { PINNED_VARIANTS } from '../../support/relay-variants.ts';

const SERVICE = '/spark.connect.SparkConnectService';

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
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);

/** What a scripted connection can send, and the frames it got. */
interface ScriptedCall {
  readonly streamId: number;
  /** Calls other than probes so far on this server, this one included. */
  readonly index: number;
  send(frames: readonly Buffer[]): void;
  /** A Config reply carrying `pairs`, as HEADERS (with `head`), one DATA frame and trailers. */
  reply(options?: {
    head?: Buffer;
    pairs?: { key: string; value: string }[];
    padding?: number;
  }): void;
}

interface ScriptedServer {
  readonly port: number;
  /** WINDOW_UPDATE frames the server got, as [stream id, increment]. */
  readonly windowUpdates: [number, number][];
  /** The settings of every SETTINGS frame the server got (not the ACKs). */
  readonly settingsReceived: [number, number][][];
  close(): Promise<void>;
}

function configReply(pairs: { key: string; value: string }[]): Buffer {
  return encodeGrpcMessage(
    encodeConfigResponse({
      sessionId: 'scripted',
      pairs: [
        { key: 'spark.app.id', value: 'scripted' },
        { key: 'spark.app.startTime', value: '1' },
        ...pairs,
      ],
    }),
  );
}

/** A DATA frame with `padding` bytes of padding (the pad length byte comes on top). */
function paddedData(streamId: number, data: Buffer, padding: number): Buffer {
  return encodeFrame(
    FrameType.DATA,
    FrameFlag.PADDED,
    streamId,
    Buffer.concat([Buffer.from([padding]), data, Buffer.alloc(padding)]),
  );
}

/**
 * Answers the gateway's probes with a Config reply; every other call goes to `onCall`, and a
 * client's RST_STREAM to `onReset`.
 */
async function startScriptedServer(script: {
  onCall(call: ScriptedCall): void;
  onReset?(call: ScriptedCall): void;
  /** What the server's SETTINGS frame says. */
  settings?: [number, number][];
}): Promise<ScriptedServer> {
  let index = 0;
  const windowUpdates: [number, number][] = [];
  const settingsReceived: [number, number][][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(encodeSettings(script.settings ?? []));
    const frames = createFrameParser(16_384);
    const blocks = createHeaderBlockReader();
    const decoder = createHpackDecoder();
    const bodies = new Map<number, Buffer[]>();
    const calls = new Map<number, ScriptedCall>();
    let preface = Buffer.alloc(0);

    const callOn = (streamId: number, callIndex: number): ScriptedCall => ({
      streamId,
      index: callIndex,
      send(out) {
        socket.write(Buffer.concat(out));
      },
      reply(options = {}) {
        const body = configReply(options.pairs ?? []);
        this.send([
          ...encodeHeaderFrames(streamId, options.head ?? RESPONSE_HEAD, false, 16_384),
          options.padding === undefined
            ? encodeFrame(FrameType.DATA, 0, streamId, body)
            : paddedData(streamId, body, options.padding),
          ...encodeHeaderFrames(streamId, OK_TRAILERS, true, 16_384),
        ]);
      },
    });
    const onRequest = (streamId: number, body: Buffer): void => {
      if (body.includes(Buffer.from(PROBE_SESSION_ID))) {
        callOn(streamId, 0).reply();
        return;
      }
      const call = callOn(streamId, ++index);
      calls.set(streamId, call);
      script.onCall(call);
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
        if (frame.type === FrameType.SETTINGS && (frame.flags & FrameFlag.ACK) === 0) {
          settingsReceived.push(parseSettings(frame.payload) ?? []);
          socket.write(encodeFrame(FrameType.SETTINGS, FrameFlag.ACK, 0));
        } else if (frame.type === FrameType.WINDOW_UPDATE)
          windowUpdates.push([frame.streamId, frame.payload.readUInt32BE(0) & 0x7fffffff]);
        else if (frame.type === FrameType.DATA) {
          bodies.get(frame.streamId)?.push(Buffer.from(frame.payload));
          if ((frame.flags & FrameFlag.END_STREAM) !== 0)
            onRequest(frame.streamId, Buffer.concat(bodies.get(frame.streamId) ?? []));
        } else if (frame.type === FrameType.RST_STREAM) {
          const call = calls.get(frame.streamId);
          if (call !== undefined) script.onReset?.(call);
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    windowUpdates,
    settingsReceived,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

for (const variant of PINNED_VARIANTS)
  describe(
    `gateway --relay ${variant.name} against a scripted HTTP/2 server`,
    variant.testOptions,
    () => {
      let server: ScriptedServer | undefined;
      let gateway: Gateway | undefined;
      let client: http2.ClientHttp2Session | undefined;
      let baseline: ResourceCounts = new Map();
      before(() => {
        baseline = activeResources();
      });
      afterEach(async () => {
        client?.destroy();
        await gateway?.close(1000);
        await server?.close();
        client = undefined;
        gateway = undefined;
        server = undefined;
      });
      after(async () => {
        await assertNothingLeaked(baseline, 'the scripted-server tests');
      });

      const start = async (
        scripted: ScriptedServer,
        extra: Partial<GatewayOptions> = {},
        clientSettings: http2.Settings = {},
      ): Promise<http2.ClientHttp2Session> => {
        server = scripted;
        gateway = await startGateway({
          host: '127.0.0.1',
          port: 0,
          backends: [{ host: '127.0.0.1', port: scripted.port }],
          ...variant.options,
          health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
          ...extra,
        });
        await gateway.pool.checkAll();
        client = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`, {
          settings: clientSettings,
        });
        client.on('error', () => undefined);
        return client;
      };
      const request = encodeConfigRequest({
        sessionId: randomUUID(),
        userId: 'ada',
        operation: { get: ['x'] },
      });

      /** A Config call sent whole, for a test to read or cancel. */
      const sendConfig = (session: http2.ClientHttp2Session): http2.ClientHttp2Stream => {
        const stream = session.request({
          ':method': 'POST',
          ':path': `${SERVICE}/Config`,
          'content-type': 'application/grpc',
          te: 'trailers',
        });
        stream.on('error', () => undefined);
        stream.end(encodeGrpcMessage(request));
        return stream;
      };

      it("keeps the client's table in step when a block that grew the server's never reaches it", async () => {
        const note = 'from-a-call-the-client-reset';
        let held: ScriptedCall | undefined;
        let answered: () => void = () => undefined;
        const answeredAfterReset = new Promise<void>((resolve) => {
          answered = resolve;
        });
        const session = await start(
          await startScriptedServer({
            onCall(call) {
              // The first call is held; every later reply's headers refer to the entry the
              // answer to the first added.
              if (call.index === 1) held = call;
              else call.reply({ head: Buffer.concat([RESPONSE_HEAD, NEWEST_ENTRY]) });
            },
            onReset(call) {
              // The answer was on its way when the reset came: it adds to the table all the same.
              call.send(
                encodeHeaderFrames(
                  call.streamId,
                  Buffer.concat([
                    RESPONSE_HEAD,
                    encodeHeaderBlock([['grpc-status', '1']]),
                    indexedLiteral('x-note', note),
                  ]),
                  true,
                  16_384,
                ),
              );
              answered();
            },
          }),
        );
        const first = sendConfig(session);
        while (held === undefined) await sleep(10);
        first.close(http2.constants.NGHTTP2_CANCEL);
        await answeredAfterReset;

        for (let call = 0; call < 3; call++) {
          const reply = await grpcCall(session, `${SERVICE}/Config`, request, { timeoutMs: 5000 });
          assert.equal(reply.status, 0, `call ${String(call)}: ${reply.message}`);
          assert.equal(
            reply.headers['x-note'],
            note,
            `call ${String(call)} has its server's header`,
          );
        }
        assert.equal(session.destroyed, false, 'the client connection is still up');
      });

      it('masks the backend token in a padded DATA frame and gives the server the padding back', async () => {
        const token = 'scripted-backend-token-0123456789';
        const padding = 40;
        let paddedOn = 0;
        const scripted = await startScriptedServer({
          onCall(call) {
            paddedOn = call.streamId;
            call.reply({ pairs: [{ key: 'token', value: token }], padding });
          },
        });
        const session = await start(scripted, { backendToken: token });
        const reply = await grpcCall(session, `${SERVICE}/Config`, request, { timeoutMs: 5000 });
        assert.equal(reply.status, 0, reply.message);
        const body = Buffer.concat(reply.messages);
        assert.ok(!body.includes(token));
        assert.equal(
          decodeConfigResponse(body).pairs.find((pair) => pair.key === 'token')?.value,
          '*'.repeat(token.length),
        );
        // The pad length byte and the padding: the client never sees them, so never gives credit.
        const refund = padding + 1;
        const deadline = Date.now() + 2000;
        const refunded = (): boolean =>
          scripted.windowUpdates.some(([id, size]) => id === 0 && size === refund) &&
          scripted.windowUpdates.some(([id, size]) => id === paddedOn && size === refund);
        while (!refunded() && Date.now() < deadline) await sleep(10);
        assert.ok(
          refunded(),
          `WINDOW_UPDATEs at the server: ${JSON.stringify(scripted.windowUpdates)}`,
        );
      });

      it('gives the server back the credit of bytes held for a call the client cancels', async () => {
        const token = 'scripted-backend-token-0123456789';
        const start10 = token.slice(0, 10);
        const scripted = await startScriptedServer({
          onCall(call) {
            // A message announced at 100 bytes, cut after what may be the start of the token.
            const prefix = Buffer.from([0, 0, 0, 0, 100]);
            call.send([
              ...encodeHeaderFrames(call.streamId, RESPONSE_HEAD, false, 16_384),
              encodeFrame(
                FrameType.DATA,
                0,
                call.streamId,
                Buffer.concat([prefix, Buffer.from(`abc${start10}`)]),
              ),
            ]);
          },
        });
        const session = await start(scripted, { backendToken: token });
        const stream = sendConfig(session);
        const received: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => received.push(chunk));
        await once(stream, 'response');
        while (Buffer.concat(received).length < 8) await sleep(10);
        await sleep(50);
        assert.equal(
          Buffer.concat(received).toString('latin1').slice(5),
          'abc',
          'the possible start waits',
        );
        stream.close(http2.constants.NGHTTP2_CANCEL);
        const deadline = Date.now() + 2000;
        const refunded = (): boolean =>
          scripted.windowUpdates.some(([id, size]) => id === 0 && size === start10.length);
        while (!refunded() && Date.now() < deadline) await sleep(10);
        assert.ok(
          refunded(),
          `WINDOW_UPDATEs at the server: ${JSON.stringify(scripted.windowUpdates)}`,
        );
      });

      it('tells each side no larger HPACK table than the gateway mirrors of it', async () => {
        const huge = 1 << 20;
        const scripted = await startScriptedServer({
          onCall(call) {
            call.reply();
          },
          settings: [[Setting.HEADER_TABLE_SIZE, huge]],
        });
        const session = await start(scripted, {}, { headerTableSize: huge });
        const reply = await grpcCall(session, `${SERVICE}/Config`, request, { timeoutMs: 5000 });
        assert.equal(reply.status, 0, reply.message);
        // 64 KiB: the table the gateway keeps a copy of, each way.
        assert.equal(session.remoteSettings.headerTableSize, 65_536);
        const announced = scripted.settingsReceived
          .flat()
          .filter(([id]) => id === Setting.HEADER_TABLE_SIZE)
          .map(([, size]) => size);
        assert.ok(announced.includes(65_536), `the server read ${JSON.stringify(announced)}`);
        assert.ok(!announced.includes(huge));
      });
    },
  );
