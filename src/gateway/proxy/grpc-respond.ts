// Replies the gateway gives itself, in gRPC's own failure form: a trailers-only response whose
// grpc-status and grpc-message say what happened and what to do.
import type http2 from 'node:http2';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError, GrpcStatus } from '../errors.ts';
import { encodeGrpcMessage } from '../wire/grpc-frame.ts';
import { encodeGrpcMessageText } from '../wire/grpc-status-text.ts';

export function grpcStatusOf(error: unknown): number {
  return error instanceof GatewayError ? error.grpcStatus : GrpcStatus.INTERNAL;
}

export function messageOf(error: unknown): string {
  if (error instanceof GatewayError) return error.message;
  return `internal error in the sparkplane gateway: ${error instanceof Error ? error.message : String(error)}`;
}

/** Ends the stream with the error as its gRPC status; safe to call on a stream in any state. */
export function respondWithError(stream: http2.ServerHttp2Stream, error: unknown): void {
  const status = grpcStatusOf(error);
  const message = messageOf(error);
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(status),
        'grpc-message': encodeGrpcMessageText(message),
      },
      { endStream: true },
    );
    releaseUnfinishedRequest(stream);
    return;
  }
  // Headers went out already: the status can only travel in trailers, if they are still expected.
  stream.close(http2ConstantsInternalError);
}

const http2ConstantsInternalError = 2;
const http2ConstantsNoError = 0;

/**
 * After a complete answer to a request the client has not finished sending, tells the client to
 * stop (RST_STREAM NO_ERROR, RFC 9113 §8.1) so the stream does not hold one of the connection's
 * stream slots until the client ends it, which it may never do.
 */
function releaseUnfinishedRequest(stream: http2.ServerHttp2Stream): void {
  if (stream.readableEnded || stream.closed) return;
  stream.once('finish', () => {
    if (!stream.closed) stream.close(http2ConstantsNoError);
  });
}

/** Answers a unary call with one message and OK. */
export function respondWithMessage(stream: http2.ServerHttp2Stream, body: Uint8Array): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => {
    stream.sendTrailers({ 'grpc-status': String(GrpcStatus.OK) });
    setImmediate(() => {
      if (!stream.readableEnded && !stream.closed) stream.close(http2ConstantsNoError);
    });
  });
  stream.end(encodeGrpcMessage(body));
}

/** Answers an HTTP/2 request that is not gRPC with text saying what this endpoint is. */
export function respondNotGrpc(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
): void {
  if (stream.closed || stream.destroyed) return;
  stream.respond({ ':status': 415, 'content-type': 'text/plain; charset=utf-8' });
  stream.end(notGrpcText(String(headers[':method']), String(headers[':path'])));
  releaseUnfinishedRequest(stream);
}

/** The body of the answer to an HTTP/2 request that is not gRPC. */
export function notGrpcText(method: string, path: string): string {
  return `This is the sparkplane gateway, a Spark Connect endpoint: it takes gRPC calls (POST, content-type application/grpc), not ${method} ${path}. Connect with a Spark Connect client: sc://HOST:PORT\n`;
}

/** grpc.health.v1.HealthCheckResponse: SERVING while a backend is up, else NOT_SERVING. */
export function healthCheckResponse(serving: boolean): Uint8Array {
  return new BinaryWriter()
    .tag(1, WireType.Varint)
    .int32(serving ? 1 : 2)
    .finish();
}

/** grpc.health.v1.Health/Check on the gateway itself. */
export function answerHealth(stream: http2.ServerHttp2Stream, serving: boolean): void {
  respondWithMessage(stream, healthCheckResponse(serving));
}
