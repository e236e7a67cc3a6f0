// The gateway benchmark's client: plain node:http2 connections that carry Spark Connect calls the
// way a pool of clients would — unary Config calls from many in-flight workers, each its own
// session of the same user; one large streamed ExecutePlan result, counted as it arrives and
// never collected; and many new sessions opened and then left idle. The same code drives every
// path, so what differs between them is only what sits between client and server.
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { grpcCall } from '../../src/gateway/proxy/grpc-call.ts';
import { createGrpcMessageDecoder, encodeGrpcMessage } from '../../src/gateway/wire/grpc-frame.ts';
import { encodeConfigRequest } from '../../src/gateway/wire/spark-connect-codecs.ts';
import { percentile } from './measure.ts';

const SERVICE = '/spark.connect.SparkConnectService';
export const USER_ID = 'bench';
/** Streams per connection; the gateway allows 256 per client connection. */
const STREAMS_PER_CONNECTION = 128;
const CALL_TIMEOUT_MS = 10_000;
/** A cell stops early after this many failed calls: the numbers would mean nothing. */
const MAX_ERRORS = 1000;

export async function connect(port: number, count: number): Promise<http2.ClientHttp2Session[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const session = http2.connect(`http://127.0.0.1:${String(port)}`, {
            settings: { initialWindowSize: 8 * 1024 * 1024, enablePush: false },
          });
          session.once('error', reject);
          session.once('connect', () => {
            session.setLocalWindowSize(64 * 1024 * 1024);
            session.off('error', reject);
            session.on('error', () => undefined);
            resolve(session);
          });
        }),
    ),
  );
}

export function disconnect(connections: readonly http2.ClientHttp2Session[]): void {
  for (const connection of connections) connection.destroy();
}

export const connectionsFor = (streams: number): number =>
  Math.ceil(streams / STREAMS_PER_CONNECTION);

/** A Config GetOption of one key: small, answered from the session's SQL conf. */
export function configRequest(sessionId: string): Buffer {
  return encodeConfigRequest({
    sessionId,
    userId: USER_ID,
    operation: { getOption: ['spark.sql.shuffle.partitions'] },
  });
}

export interface UnaryResult {
  readonly streams: number;
  readonly calls: number;
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
}

/**
 * `sessionIds.length` workers, each with one call in flight on its own session, for `seconds`;
 * each connection carries at most 128 of them.
 */
export async function unaryLoad(
  port: number,
  sessionIds: readonly string[],
  seconds: number,
): Promise<UnaryResult> {
  const connections = await connect(port, connectionsFor(sessionIds.length));
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  try {
    await Promise.all(
      sessionIds.map(async (sessionId, index) => {
        const connection = connections[index % connections.length];
        if (connection === undefined) return;
        const request = configRequest(sessionId);
        while (performance.now() < deadline && errors < MAX_ERRORS) {
          const begin = performance.now();
          try {
            const reply = await grpcCall(connection, `${SERVICE}/Config`, request, {
              timeoutMs: CALL_TIMEOUT_MS,
            });
            if (reply.status === 0) latencies.push(performance.now() - begin);
            else errors++;
          } catch {
            errors++;
          }
        }
      }),
    );
  } finally {
    disconnect(connections);
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    streams: sessionIds.length,
    calls: latencies.length,
    callsPerSecond: latencies.length / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
  };
}

export interface StreamResult {
  /** Bytes of the gRPC messages' bodies, framing not counted. */
  readonly payloadBytes: number;
  readonly messages: number;
  readonly seconds: number;
  readonly mbPerSecond: number;
}

/** One ExecutePlan call; its result is decoded as it arrives and only counted. */
export async function streamExecutePlan(
  port: number,
  request: Uint8Array,
  timeoutMs: number,
): Promise<StreamResult> {
  const [connection] = await connect(port, 1);
  if (connection === undefined) throw new Error('no connection');
  const decoder = createGrpcMessageDecoder({ maxMessageBytes: 256 * 1024 * 1024 });
  let payloadBytes = 0;
  const started = performance.now();
  try {
    const status = await new Promise<string>((resolve, reject) => {
      const stream = connection.request({
        ':method': 'POST',
        ':path': `${SERVICE}/ExecutePlan`,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      let grpcStatus = 'none';
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`ExecutePlan did not finish within ${String(timeoutMs)} ms`));
      }, timeoutMs);
      stream.on('response', (headers) => {
        grpcStatus = String(headers['grpc-status'] ?? grpcStatus);
      });
      stream.on('trailers', (trailers: http2.IncomingHttpHeaders) => {
        grpcStatus = String(trailers['grpc-status'] ?? grpcStatus);
      });
      stream.on('data', (chunk: Buffer) => {
        for (const event of decoder.push(chunk))
          if (event.kind === 'data') payloadBytes += event.bytes.length;
      });
      stream.on('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
      stream.on('close', () => {
        clearTimeout(timer);
        resolve(grpcStatus);
      });
      stream.end(encodeGrpcMessage(request));
    });
    if (status !== '0') throw new Error(`ExecutePlan ended with gRPC status ${status}`);
  } finally {
    disconnect([connection]);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    payloadBytes,
    messages: decoder.messages,
    seconds,
    mbPerSecond: payloadBytes / 1024 / 1024 / seconds,
  };
}

/**
 * Opens `count` new sessions (one Config call each, fresh session ids) with `workers` calls in
 * flight, each worker on a connection of its own, and leaves the connections open: the caller
 * gets them back to close once it has measured the idle state.
 */
export async function openSessions(
  port: number,
  count: number,
  workers: number,
): Promise<{ connections: http2.ClientHttp2Session[]; opened: number; errors: number }> {
  const connections = await connect(port, workers);
  let next = 0;
  let opened = 0;
  let errors = 0;
  await Promise.all(
    connections.map(async (connection) => {
      while (next < count && errors < MAX_ERRORS) {
        next++;
        try {
          const reply = await grpcCall(
            connection,
            `${SERVICE}/Config`,
            configRequest(randomUUID()),
            {
              timeoutMs: CALL_TIMEOUT_MS,
            },
          );
          if (reply.status === 0) opened++;
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { connections, opened, errors };
}
