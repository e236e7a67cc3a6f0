// The benchmark's Spark Connect client: one HTTP/2 connection per simulated user, as each PySpark
// session has a gRPC channel of its own. ExecutePlan results are read message by message as they
// arrive and only counted (rows and Arrow bytes from each ArrowBatch), never collected or decoded
// as Arrow; a stream ends at ResultComplete (4.x reattachable executions) or at its trailers.
import http2 from 'node:http2';
import { GatewayError } from '../gateway/errors.ts';
import { grpcCall } from '../gateway/proxy/grpc-call.ts';
import { createGrpcMessageDecoder, encodeGrpcMessage } from '../gateway/wire/grpc-frame.ts';
import { decodeGrpcMessageText } from '../gateway/wire/grpc-status-text.ts';
import { decodeExecutePlanResponse } from '../gateway/wire/spark-connect-codecs.ts';
import { describeSystemError } from '../core/system-errors.ts';
import { BenchError } from './errors.ts';

const SERVICE = '/spark.connect.SparkConnectService';
/** Spark Connect's own limit on one gRPC message (spark.connect.grpc.maxInboundMessageSize). */
const MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const CANCEL = http2.constants.NGHTTP2_CANCEL;

export interface ConnectEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** PEM of a private CA the server's certificate is checked against. */
  readonly ca?: Buffer;
  /** Sent on every call: authorization and the URL's other parameters. */
  readonly metadata: Readonly<Record<string, string>>;
  /** `sc://…` as the user gave it (token hidden), for messages. */
  readonly label: string;
}

export interface ExecuteOutcome {
  /** gRPC status; -1 when the stream ended without one. */
  readonly status: number;
  readonly message: string;
  readonly rows: number;
  readonly arrowBytes: number;
  readonly batches: number;
  readonly resultComplete: boolean;
  /** The server's own id of the session (Spark 4.0+), as the first response gave it. */
  readonly serverSideSessionId?: string;
  /** The deadline passed and the call was cancelled. */
  readonly timedOut: boolean;
  /** The connection failed under the call (reset, GOAWAY, protocol error). */
  readonly transportError?: string;
}

export interface ConnectConnection {
  executePlan(request: Uint8Array, timeoutMs: number): Promise<ExecuteOutcome>;
  /** A unary call; resolves with its status and message. */
  unary(method: string, request: Uint8Array, timeoutMs: number): Promise<ExecuteOutcome>;
  readonly usable: boolean;
  close(): void;
}

/** Opens one HTTP/2 connection; fails with BENCH_UNREACHABLE naming the endpoint and the fix. */
export function openConnection(
  endpoint: ConnectEndpoint,
  timeoutMs: number,
): Promise<ConnectConnection> {
  const authority = `${endpoint.tls ? 'https' : 'http'}://${
    endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host
  }:${String(endpoint.port)}`;
  return new Promise((resolve, reject) => {
    const session = http2.connect(authority, {
      settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
      ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
    });
    const fail = (error: unknown): void => {
      clearTimeout(timer);
      session.destroy();
      reject(unreachable(endpoint, error));
    };
    const timer = setTimeout(() => {
      fail(Object.assign(new Error('no connection'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    session.once('error', fail);
    session.once('connect', () => {
      clearTimeout(timer);
      session.off('error', fail);
      session.on('error', () => undefined);
      session.setLocalWindowSize(16 * 1024 * 1024);
      resolve(wrap(session, endpoint));
    });
  });
}

function unreachable(endpoint: ConnectEndpoint, error: unknown): BenchError {
  const info = describeSystemError(error);
  const tlsHint =
    info.code.startsWith('ERR_TLS') || /certificate|self.signed|ssl|tls/i.test(info.summary)
      ? '; for a private CA give --tls-ca FILE, for a cleartext server drop use_ssl/token from the URL'
      : '';
  return new BenchError(
    'BENCH_UNREACHABLE',
    `cannot reach the Spark Connect endpoint ${endpoint.host}:${String(endpoint.port)} ` +
      `(${endpoint.label}): ${info.summary} (${info.code}); ${info.hint}${tlsHint}`,
    { cause: error },
  );
}

function wrap(session: http2.ClientHttp2Session, endpoint: ConnectEndpoint): ConnectConnection {
  // After a GOAWAY no new stream may start on this connection; the next query opens another.
  let goaway = false;
  session.once('goaway', () => {
    goaway = true;
  });
  const headers = (method: string): http2.OutgoingHttpHeaders => ({
    ':method': 'POST',
    ':path': `${SERVICE}/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...endpoint.metadata,
  });
  return {
    get usable() {
      return !goaway && !session.closed && !session.destroyed;
    },
    close() {
      session.close();
      // Streams still open (a cancelled run) must not keep the process alive.
      setTimeout(() => {
        session.destroy();
      }, 1000).unref();
    },
    executePlan: (request, timeoutMs) =>
      executePlan(session, headers('ExecutePlan'), request, timeoutMs),
    async unary(method, request, timeoutMs) {
      try {
        const reply = await grpcCall(session, `${SERVICE}/${method}`, request, {
          timeoutMs,
          metadata: endpoint.metadata,
        });
        return { ...NO_OUTCOME, status: reply.status, message: reply.message };
      } catch (error) {
        const timedOut = error instanceof GatewayError && error.message.includes('no reply within');
        return {
          ...NO_OUTCOME,
          timedOut,
          message: error instanceof Error ? error.message : String(error),
          ...(timedOut ? {} : { transportError: transportText(error) }),
        };
      }
    },
  };
}

/** An outcome with nothing received: the base of every failed or answerless execution. */
export const NO_OUTCOME: ExecuteOutcome = {
  status: -1,
  message: '',
  rows: 0,
  arrowBytes: 0,
  batches: 0,
  resultComplete: false,
  timedOut: false,
};

function executePlan(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  request: Uint8Array,
  timeoutMs: number,
): Promise<ExecuteOutcome> {
  return new Promise((resolve) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch (error) {
      resolve({
        ...NO_OUTCOME,
        message: transportText(error),
        transportError: transportText(error),
      });
      return;
    }
    const decoder = createGrpcMessageDecoder({ maxMessageBytes: MAX_MESSAGE_BYTES });
    let parts: Buffer[] = [];
    let rows = 0;
    let arrowBytes = 0;
    let batches = 0;
    let resultComplete = false;
    let serverSideSessionId: string | undefined;
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    let timedOut = false;
    let failure: string | undefined;
    let transportError: string | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      stream.close(CANCEL);
    }, timeoutMs);

    stream.on('response', (received) => {
      responseHeaders = received;
    });
    stream.on('trailers', (received: http2.IncomingHttpHeaders) => {
      trailers = received;
    });
    stream.on('data', (chunk: Buffer) => {
      if (failure !== undefined) return;
      try {
        for (const event of decoder.push(chunk)) {
          if (event.kind === 'start' && event.compressed)
            throw new Error('the server sent a compressed message, which was not asked for');
          if (event.kind === 'data') parts.push(event.bytes);
          else if (event.kind === 'end') {
            const response = decodeExecutePlanResponse(
              parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts),
            );
            parts = [];
            if (response.arrowBatch !== undefined) {
              batches++;
              rows += Number(response.arrowBatch.rowCount);
              arrowBytes += response.arrowBatch.data.length;
            }
            if (response.resultComplete === true) resultComplete = true;
            serverSideSessionId ??= response.serverSideSessionId;
          }
        }
      } catch (error) {
        failure = `unreadable ExecutePlan response: ${error instanceof Error ? error.message : String(error)}`;
        stream.close(CANCEL);
      }
    });
    stream.on('error', (error: Error) => {
      transportError ??= transportText(error);
    });
    stream.on('close', () => {
      clearTimeout(timer);
      const statusText = trailers['grpc-status'] ?? responseHeaders['grpc-status'];
      const messageText = trailers['grpc-message'] ?? responseHeaders['grpc-message'];
      const outcome = {
        status: statusText === undefined ? -1 : Number(statusText),
        message: typeof messageText === 'string' ? decodeGrpcMessageText(messageText) : '',
        rows,
        arrowBytes,
        batches,
        resultComplete,
        timedOut,
        ...(serverSideSessionId === undefined ? {} : { serverSideSessionId }),
      };
      if (failure !== undefined) resolve({ ...outcome, status: -1, message: failure });
      else if (outcome.status === -1 && !timedOut) {
        const why =
          transportError ??
          `the stream closed without a gRPC status (HTTP ${String(responseHeaders[':status'] ?? 'none')}, RST_STREAM code ${String(stream.rstCode)})`;
        resolve({ ...outcome, message: why, transportError: why });
      } else resolve(outcome);
    });
    stream.end(encodeGrpcMessage(request));
  });
}

function transportText(error: unknown): string {
  const info = describeSystemError(error);
  return `${info.summary} (${info.code})`;
}
