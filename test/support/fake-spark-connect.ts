// An in-repo Spark Connect server for fast tests and the proxy-overhead benchmark: it speaks the
// gRPC framing and the few messages the gateway relies on (Config for health probes, ExecutePlan
// streaming results of a chosen size, AnalyzePlan, ReleaseSession, AddArtifacts), remembers which
// sessions it saw, and can be told to stall, reset or restart (a new application id). It never
// replaces the interop tests against real Spark.
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { createGrpcMessageDecoder } from '../../src/gateway/wire/grpc-frame.ts';
import { scanMessage } from '../../src/gateway/wire/proto-scanner.ts';
import {
  isSparkConnectMethod,
  parseMethodPath,
  readRoutingFields,
  requestScanSpec,
} from '../../src/gateway/wire/spark-connect.ts';
import {
  encodeConfigResponse,
  encodeExecutePlanResponse,
  encodeReleaseSessionResponse,
} from '../../src/gateway/wire/spark-connect-codecs.ts';
import { encodeGrpcMessage } from '../../src/gateway/wire/grpc-frame.ts';

export interface FakeCall {
  readonly method: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly operationId: string | undefined;
  readonly headers: http2.IncomingHttpHeaders;
  readonly requestBytes: number;
}

export interface FakeSparkConnect {
  readonly port: number;
  readonly address: string;
  /** Every non-probe call, in arrival order. */
  readonly calls: FakeCall[];
  readonly sessions: ReadonlySet<string>;
  appId: string;
  /** Bytes per ExecutePlan arrow batch, and batches per result. */
  resultBatchBytes: number;
  resultBatches: number;
  /**
   * Arrow batches whose bytes differ by batch and position (`resultBatchData`) instead of one
   * repeated byte, so that a relay that mixes up its buffers shows.
   */
  resultPattern: boolean;
  /**
   * Answer every call with this gRPC status instead (probes included), when set; `details` goes
   * in grpc-status-details-bin, as Spark sends its errors.
   */
  failWith: { status: number; message: string; details?: Buffer } | undefined;
  /** Delay before answering unary calls. */
  delayMs: number;
  /** Delay before an ExecutePlan's first response (the call stays open meanwhile). */
  executePlanDelayMs: number;
  /** More key/value pairs every Config reply carries (a server's conf as a client reads it). */
  extraConf: Record<string, string>;
  /** When above 0, unary replies are written in pieces of this many bytes, 5 ms apart. */
  replyPieceBytes: number;
  /** HTTP/2 connections the server accepted so far (the gateway's, probes included). */
  readonly connections: number;
  /** Ends every open HTTP/2 connection at once, as a crashing driver would. */
  dropConnections(): void;
  /** Number of ExecutePlan streams cancelled by the client. */
  readonly cancelled: number;
  /** Bytes of ExecutePlan results handed to HTTP/2 so far, over all calls. */
  resultBytesSent: number;
  /** Simulates a driver restart: new application id, every session forgotten. */
  restart(): void;
  /** Between tests: the call log emptied, every knob above back to its default. */
  reset(): void;
  close(): Promise<void>;
}

/** A run of bytes whose length is prime, so no buffer size a relay uses is a multiple of it. */
const PATTERN_BYTES = 4093;

/** The bytes of arrow batch `index` of a result when `resultPattern` is set. */
export function resultBatchData(index: number, bytes: number): Buffer {
  const pattern = Buffer.allocUnsafe(PATTERN_BYTES);
  for (let at = 0; at < PATTERN_BYTES; at++) pattern[at] = (at * 31 + index * 17 + 1) & 0xff;
  return Buffer.allocUnsafe(bytes).fill(pattern);
}

export async function startFakeSparkConnect(
  options: { readonly requireToken?: string; readonly appId?: string; readonly port?: number } = {},
): Promise<FakeSparkConnect> {
  const calls: FakeCall[] = [];
  const sessions = new Set<string>();
  const serverSideIds = new Map<string, string>();
  let cancelled = 0;
  let connections = 0;
  const server = http2.createServer({
    settings: { initialWindowSize: 8 * 1024 * 1024, maxConcurrentStreams: 10_000 },
  });
  const state: FakeSparkConnect = {
    port: 0,
    address: '',
    calls,
    sessions,
    appId: options.appId ?? `local-${String(Date.now())}-${randomUUID().slice(0, 8)}`,
    resultBatchBytes: 64,
    resultBatches: 1,
    resultPattern: false,
    failWith: undefined,
    delayMs: 0,
    executePlanDelayMs: 0,
    extraConf: {},
    replyPieceBytes: 0,
    resultBytesSent: 0,
    get cancelled() {
      return cancelled;
    },
    get connections() {
      return connections;
    },
    dropConnections() {
      for (const session of open) session.destroy();
    },
    reset() {
      calls.length = 0;
      state.resultBatchBytes = 64;
      state.resultBatches = 1;
      state.resultPattern = false;
      state.failWith = undefined;
      state.delayMs = 0;
      state.executePlanDelayMs = 0;
      state.extraConf = {};
      state.replyPieceBytes = 0;
      state.resultBytesSent = 0;
    },
    restart() {
      state.appId = `local-${String(Date.now())}-${randomUUID().slice(0, 8)}`;
      sessions.clear();
      serverSideIds.clear();
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const session of open) session.destroy();
      }),
  };
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    connections++;
    open.add(session);
    session.on('close', () => open.delete(session));
    session.on('error', () => undefined);
  });

  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const path = parseMethodPath(String(headers[':path']));
    const method = path?.method ?? '';
    const decoder = createGrpcMessageDecoder({ maxMessageBytes: 256 * 1024 * 1024 });
    let first: Buffer[] | undefined = [];
    let firstBody: Buffer | undefined;
    let requestBytes = 0;
    if (process.env.FAKE_DEBUG) console.log('fake stream', headers);
    stream.on('data', (chunk: Buffer) => {
      requestBytes += chunk.length;
      for (const event of decoder.push(chunk)) {
        if (first === undefined) continue;
        if (event.kind === 'data') first.push(Buffer.from(event.bytes));
        else if (event.kind === 'end') {
          firstBody = Buffer.concat(first);
          first = undefined;
        }
      }
    });
    stream.on('end', () => {
      if (process.env.FAKE_DEBUG) console.log('fake end', method, requestBytes);
      const token = options.requireToken;
      if (token !== undefined && headers.authorization !== `Bearer ${token}`) {
        trailersOnly(stream, 16, 'Invalid authentication token');
        return;
      }
      if (state.failWith !== undefined) {
        trailersOnly(stream, state.failWith.status, state.failWith.message, state.failWith.details);
        return;
      }
      if (!isSparkConnectMethod(method) || firstBody === undefined) {
        trailersOnly(stream, 12, `Method not found: ${String(headers[':path'])}`);
        return;
      }
      const fields = readRoutingFields(scanMessage(firstBody, requestScanSpec(method)), method);
      const sessionId = fields.sessionId ?? '';
      const probe = fields.userId === 'sparkplane-gateway-probe';
      if (!probe) {
        calls.push({
          method,
          sessionId,
          userId: fields.userId ?? '',
          operationId: fields.operationId,
          headers,
          requestBytes,
        });
        sessions.add(sessionId);
      }
      let serverSideId = serverSideIds.get(sessionId);
      if (serverSideId === undefined) {
        serverSideId = randomUUID();
        serverSideIds.set(sessionId, serverSideId);
      }
      const reply = (body: Uint8Array): void => {
        const send = (): void => {
          unary(stream, body, state.replyPieceBytes);
        };
        if (state.delayMs > 0) setTimeout(send, state.delayMs);
        else send();
      };
      switch (method) {
        case 'Config':
          reply(
            encodeConfigResponse({
              sessionId,
              serverSideSessionId: serverSideId,
              pairs: [
                { key: 'spark.app.id', value: state.appId },
                { key: 'spark.app.startTime', value: '1700000000000' },
                ...Object.entries(state.extraConf).map(([key, value]) => ({ key, value })),
              ],
            }),
          );
          return;
        case 'ExecutePlan':
          executePlan(
            stream,
            sessionId,
            serverSideId,
            fields.operationId ?? randomUUID(),
            state,
            () => {
              cancelled++;
            },
          );
          return;
        case 'ReleaseSession':
          sessions.delete(sessionId);
          reply(encodeReleaseSessionResponse(sessionId, serverSideId));
          return;
        default:
          reply(
            new BinaryWriter()
              .tag(
                method === 'AddArtifacts' || method === 'ArtifactStatus' ? 2 : 1,
                WireType.LengthDelimited,
              )
              .string(sessionId)
              .finish(),
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  Object.assign(state, { port: address.port, address: `127.0.0.1:${String(address.port)}` });
  return state;
}

function executePlan(
  stream: http2.ServerHttp2Stream,
  sessionId: string,
  serverSideId: string,
  operationId: string,
  state: FakeSparkConnect,
  onCancel: () => void,
): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => {
    stream.sendTrailers({ 'grpc-status': '0' });
  });
  let finished = false;
  stream.once('close', () => {
    if (!finished) onCancel();
  });
  const repeated = Buffer.alloc(state.resultBatchBytes, 7);
  let sent = 0;
  const pump = (): void => {
    while (sent < state.resultBatches) {
      const message = encodeGrpcMessage(
        encodeExecutePlanResponse({
          sessionId,
          operationId,
          responseId: String(sent),
          serverSideSessionId: serverSideId,
          arrowBatch: {
            rowCount: 1n,
            data: state.resultPattern ? resultBatchData(sent, state.resultBatchBytes) : repeated,
          },
        }),
      );
      sent++;
      if (stream.destroyed || stream.closed) return;
      state.resultBytesSent += message.length;
      if (!stream.write(message)) {
        stream.once('drain', pump);
        return;
      }
    }
    finished = true;
    stream.end(
      encodeGrpcMessage(
        encodeExecutePlanResponse({
          sessionId,
          operationId,
          serverSideSessionId: serverSideId,
          resultComplete: true,
        }),
      ),
    );
  };
  if (state.executePlanDelayMs > 0) setTimeout(pump, state.executePlanDelayMs);
  else pump();
}

function unary(stream: http2.ServerHttp2Stream, body: Uint8Array, pieceBytes = 0): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => {
    stream.sendTrailers({ 'grpc-status': '0' });
  });
  const message = encodeGrpcMessage(body);
  if (pieceBytes <= 0) {
    stream.end(message);
    return;
  }
  let at = 0;
  const next = (): void => {
    if (stream.destroyed || stream.closed) return;
    const piece = message.subarray(at, at + pieceBytes);
    at += piece.length;
    if (at >= message.length) stream.end(piece);
    else {
      stream.write(piece);
      setTimeout(next, 5);
    }
  };
  next();
}

function trailersOnly(
  stream: http2.ServerHttp2Stream,
  status: number,
  message: string,
  details?: Buffer,
): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(
    {
      ':status': 200,
      'content-type': 'application/grpc',
      'grpc-status': String(status),
      'grpc-message': encodeURIComponent(message),
      // Binary values are base64 without padding, as gRPC sends them.
      ...(details === undefined
        ? {}
        : { 'grpc-status-details-bin': details.toString('base64').replace(/=+$/, '') }),
    },
    { endStream: true },
  );
}
