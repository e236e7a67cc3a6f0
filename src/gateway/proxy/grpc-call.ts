// A unary gRPC call over a node:http2 session: the gateway's health probes use it against Spark
// Connect servers, and tests and benchmarks use it against the gateway. It collects the reply,
// so it is for small messages only.
import type http2 from 'node:http2';
import { GatewayError } from '../errors.ts';
import { encodeGrpcMessage } from '../wire/grpc-frame.ts';
import { decodeGrpcMessageText } from '../wire/grpc-status-text.ts';

export interface GrpcReply {
  /** gRPC status; -1 when the stream ended without one. */
  readonly status: number;
  readonly message: string;
  /** The reply messages' bodies, in order. */
  readonly messages: Buffer[];
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
}

export interface GrpcCallOptions {
  readonly timeoutMs: number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly maxReplyBytes?: number;
}

export function grpcCall(
  session: http2.ClientHttp2Session,
  path: string,
  request: Uint8Array | readonly Uint8Array[],
  options: GrpcCallOptions,
): Promise<GrpcReply> {
  const maxReplyBytes = options.maxReplyBytes ?? 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...options.metadata,
    });
    const chunks: Buffer[] = [];
    let received = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const timer = setTimeout(() => {
      stream.close(http2Cancel);
      reject(
        new GatewayError(
          'GW_BACKEND_UNREACHABLE',
          `${path} got no reply within ${String(options.timeoutMs)} ms`,
        ),
      );
    }, options.timeoutMs);
    stream.on('response', (responseHeaders) => {
      headers = responseHeaders;
    });
    stream.on('trailers', (responseTrailers: http2.IncomingHttpHeaders) => {
      trailers = responseTrailers;
    });
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxReplyBytes) {
        stream.close(http2Cancel);
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(
        new GatewayError('GW_BACKEND_UNREACHABLE', `${path} failed: ${error.message}`, {
          cause: error,
        }),
      );
    });
    stream.on('close', () => {
      clearTimeout(timer);
      const statusHeader = trailers['grpc-status'] ?? headers['grpc-status'];
      const messageHeader = trailers['grpc-message'] ?? headers['grpc-message'];
      try {
        resolve({
          status: statusHeader === undefined ? -1 : Number(statusHeader),
          message: typeof messageHeader === 'string' ? decodeGrpcMessageText(messageHeader) : '',
          messages: splitMessages(Buffer.concat(chunks)),
          headers,
          trailers,
        });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    const bodies: readonly Uint8Array[] = request instanceof Uint8Array ? [request] : request;
    for (const body of bodies) stream.write(encodeGrpcMessage(body));
    stream.end();
  });
}

const http2Cancel = 8;

/** Splits a complete reply body into its gRPC messages. */
function splitMessages(body: Buffer): Buffer[] {
  const messages: Buffer[] = [];
  let offset = 0;
  while (offset + 5 <= body.length) {
    const length = body.readUInt32BE(offset + 1);
    if (offset + 5 + length > body.length) break;
    messages.push(body.subarray(offset + 5, offset + 5 + length));
    offset += 5 + length;
  }
  if (offset !== body.length)
    throw new GatewayError('GW_MALFORMED_MESSAGE', 'the reply ended in the middle of a message');
  return messages;
}
