// One client call, end to end: reads the first request message far enough to know the session,
// routes it, then relays both directions as they flow — request and response bodies are never
// collected, each side's backpressure pauses the other, headers, trailers and status pass through,
// and a client cancel cancels the call on the server. Answers the gateway gives itself (bad input,
// no backend, a session whose server is gone) are gRPC statuses with a message saying what to do.
import http2 from 'node:http2';
import type { BackendPool } from '../backends/backend-pool.ts';
import { GatewayError, GrpcStatus } from '../errors.ts';
import { gatewayChannels } from '../observability-channels.ts';
import type { Route, Router } from '../routing/router.ts';
import type { SessionTable } from '../routing/session-table.ts';
import {
  SPARK_CONNECT_METHODS,
  assertSingleUserContext,
  sparkConnectMethodOf,
  parseMethodPath,
  readRoutingFields,
  requestScanSpec,
  responseNamesOperations,
  type RoutingFields,
  type SparkConnectMethodName,
} from '../wire/spark-connect.ts';
import type { ClientConnection } from './front-server.ts';
import {
  answerHealth,
  grpcStatusOf,
  messageOf,
  respondNotGrpc,
  respondWithError,
  respondWithMessage,
} from './grpc-respond.ts';
import { clientHeaders, upstreamHeaders } from './relay-headers.ts';
import { afterCall, createResponseScan, noteResponseIds } from './session-bookkeeping.ts';
import { encodeReleaseSessionResponse } from '../wire/spark-connect-codecs.ts';
import { continueScan, peekRequest, type PeekedRequest } from './request-peek.ts';
import { createSecretMasker } from './secret-masker.ts';
import {
  finished,
  firstMessageBytes,
  newCallRecord,
  noteStatus,
  routeCall,
  type CallRecord,
} from './call-routing.ts';

export interface ProxyDependencies {
  readonly router: Router;
  readonly sessions: SessionTable;
  readonly pool: BackendPool;
  readonly maxMessageBytes: number;
  readonly firstMessageTimeoutMs: number;
  /** Verifies the caller; resolves to its identity ('' when the gateway does not authenticate). */
  readonly authenticate: (headers: http2.IncomingHttpHeaders) => Promise<string>;
  /** Set the verified identity as user_context.user_id on the way to the server. */
  readonly rewriteUserId: boolean;
  /** Sent to servers as `authorization: Bearer …` and masked in everything sent back. */
  readonly backendToken: string | undefined;
}

/** Methods of other services (Spark Connect plugins) are routed by the same fields. */
export const GENERIC_ROUTING: SparkConnectMethodName = 'ReleaseSession';
/** First messages up to this size are read whole before routing (almost every request). */
const WHOLE_FIRST_MESSAGE_BYTES = 256 * 1024;

export function createStreamProxy(
  deps: ProxyDependencies,
): (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  connection: ClientConnection,
) => void {
  return (stream, headers, connection) => {
    stream.on('error', () => undefined);
    void proxyCall(deps, stream, headers, connection);
  };
}

async function proxyCall(
  deps: ProxyDependencies,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  connection: ClientConnection,
): Promise<void> {
  const call = newCallRecord(headers[':path'] ?? '', connection.remote);
  const fail = (error: unknown): void => {
    call.status = grpcStatusOf(error);
    call.message = messageOf(error);
    if (error instanceof GatewayError && error.code !== 'GW_CANCELLED')
      gatewayChannels.requestRejected.publish({
        kind: error.code,
        client: connection.remote,
        detail: `${call.method}: ${error.message}`,
      });
    respondWithError(stream, error);
    finished(call);
  };

  const contentType = headers['content-type'] ?? '';
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    respondNotGrpc(stream, headers);
    gatewayChannels.requestRejected.publish({
      kind: 'not-grpc',
      client: connection.remote,
      detail: `${String(headers[':method'])} ${call.method} (content-type ${contentType || 'none'})`,
    });
    return;
  }
  const path = parseMethodPath(call.method);
  if (path === undefined) {
    fail(new GatewayError('GW_UNIMPLEMENTED', `${call.method} is not a gRPC method path`));
    return;
  }
  if (path.service === 'grpc.health.v1.Health' && path.method === 'Check') {
    answerHealth(
      stream,
      deps.pool.list().some((backend) => backend.health === 'up'),
    );
    return;
  }
  const method = sparkConnectMethodOf(path);
  call.method = path.method;

  try {
    call.principal = await deps.authenticate(headers);
  } catch (error) {
    fail(error);
    return;
  }

  let peeked: PeekedRequest;
  let fields: RoutingFields;
  try {
    peeked = await peekRequest(stream, {
      spec: requestScanSpec(method ?? GENERIC_ROUTING),
      maxMessageBytes: deps.maxMessageBytes,
      wholeMessageBytes: WHOLE_FIRST_MESSAGE_BYTES,
      timeoutMs: deps.firstMessageTimeoutMs,
      encoding: typeof headers['grpc-encoding'] === 'string' ? headers['grpc-encoding'] : undefined,
    });
    fields = readRoutingFields(peeked.scanner, method ?? GENERIC_ROUTING);
  } catch (error) {
    fail(error);
    return;
  }

  let route: Route;
  let key: string;
  try {
    ({ route, key } = await routeCall(deps, method, path, fields, call, connection));
  } catch (error) {
    fail(error);
    return;
  }
  if (route.kind === 'unknown-session-release') {
    // Nothing to release on any server; answer as a server does for a session it never had.
    respondWithMessage(stream, encodeReleaseSessionResponse(call.sessionId));
    call.status = GrpcStatus.OK;
    finished(call);
    return;
  }
  connection.lastSessionKey = key;
  await relay(deps, { stream, headers, method, path, call, key, peeked, route });
}

interface RelayContext {
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  readonly method: SparkConnectMethodName | undefined;
  readonly path: { service: string; method: string };
  readonly call: CallRecord;
  readonly key: string;
  readonly peeked: PeekedRequest;
  route: Extract<Route, { kind: 'backend' }>;
}

async function relay(deps: ProxyDependencies, context: RelayContext): Promise<void> {
  const { stream, headers, method, call, key, peeked } = context;
  let upstream: http2.ClientHttp2Stream | undefined;
  // A new session whose server cannot be reached is placed once more, elsewhere.
  for (let attempt = 0; upstream === undefined; attempt++) {
    const backend = context.route.backend;
    call.backend = backend.id;
    try {
      const session = await backend.upstream.connect();
      upstream = session.request(upstreamHeaders(headers, backend.id, deps), { endStream: false });
    } catch (error) {
      deps.pool.connectFailed(backend.id, error);
      let failure: unknown = error;
      const binding = context.route.binding;
      if (context.route.placed && binding !== undefined && attempt === 0 && !stream.closed) {
        await deps.router.unplace(binding);
        try {
          const again = await deps.router.route({
            method: context.path.method,
            createsSession: true,
            principal: call.principal,
            userId: call.userId,
            sessionId: call.sessionId,
            operationId: undefined,
            client: call.client,
          });
          if (again.kind === 'backend') {
            context.route = again;
            continue;
          }
        } catch (placementError) {
          failure = placementError;
        }
      }
      if (!(failure instanceof GatewayError))
        failure = new GatewayError(
          'GW_BACKEND_UNREACHABLE',
          `cannot open a call to the Spark Connect server ${backend.id}: ${failure instanceof Error ? failure.message : 'unknown error'}`,
          { cause: failure },
        );
      respondWithError(stream, failure);
      call.status = grpcStatusOf(failure);
      call.message = messageOf(failure);
      finished(call);
      return;
    }
  }
  const streaming = method !== undefined && SPARK_CONNECT_METHODS[method].streaming !== 'unary';
  if (streaming) deps.sessions.streamOpened(key);
  gatewayChannels.rpcStarted.publish({ method: call.method, backend: call.backend });

  const requestWriter = upstream;
  let done = false;
  const complete = (): void => {
    if (done) return;
    done = true;
    if (streaming) deps.sessions.streamClosed(key);
    deps.sessions.seen(key);
    afterCall(deps.sessions, call, key);
    finished(call);
  };

  // Client → server. Without a user_context of its own, the request gets one inserted: a later
  // one the client sends would then be merged over it, so any is refused.
  const userContextInserted = peeked.scanner.first(2) === undefined;
  let first: Buffer[];
  try {
    first = firstMessageBytes(deps, context, userContextInserted);
  } catch (error) {
    requestWriter.close(http2.constants.NGHTTP2_CANCEL);
    respondWithError(stream, error);
    call.status = grpcStatusOf(error);
    call.message = messageOf(error);
    complete();
    return;
  }
  for (const chunk of first) {
    call.bytesIn += chunk.length;
    requestWriter.write(chunk);
  }
  const requestFailed = (error: unknown): void => {
    requestWriter.close(http2.constants.NGHTTP2_CANCEL);
    call.status = grpcStatusOf(error);
    call.message = messageOf(error);
    respondWithError(stream, error);
  };
  if (peeked.ended || stream.readableEnded) requestWriter.end();
  else {
    stream.on('data', (chunk: Buffer) => {
      try {
        continueScan(peeked, chunk);
        if (
          peeked.firstMessageDone &&
          method !== undefined &&
          deps.rewriteUserId &&
          call.principal !== ''
        )
          assertSingleUserContext(peeked.scanner, method, userContextInserted);
      } catch (error) {
        requestFailed(error);
        return;
      }
      call.bytesIn += chunk.length;
      if (!requestWriter.write(chunk)) {
        stream.pause();
        requestWriter.once('drain', () => stream.resume());
      }
    });
    stream.once('end', () => {
      if (!peeked.decoder.atMessageBoundary) {
        requestFailed(
          new GatewayError('GW_BAD_REQUEST', 'the request ended in the middle of a message'),
        );
        return;
      }
      requestWriter.end();
    });
    stream.resume();
  }

  // A fault of the gateway's own while relaying ends this call, never the process.
  const broken = (error: unknown): void => {
    const failure = new GatewayError(
      'GW_INTERNAL',
      `the sparkplane gateway failed while relaying the ${call.method} call (${error instanceof Error ? error.message : String(error)}); the call was cancelled, retry it`,
      { cause: error },
    );
    call.status = failure.grpcStatus;
    call.message = failure.message;
    gatewayChannels.relayFailed.publish({ method: call.method, backend: call.backend, error });
    if (!requestWriter.closed) requestWriter.close(http2.constants.NGHTTP2_CANCEL);
    if (stream.closed || stream.destroyed) return;
    if (stream.headersSent) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else respondWithError(stream, failure);
  };
  const guard =
    <A extends unknown[]>(handler: (...args: A) => void) =>
    (...args: A): void => {
      try {
        handler(...args);
      } catch (error) {
        broken(error);
      }
    };

  // Server → client.
  const masker =
    deps.backendToken === undefined ? undefined : createSecretMasker(deps.backendToken);
  // Once the session's server-side id is known, only responses that name operations are read.
  const responseScan =
    method === undefined ||
    (context.route.binding?.serverSideSessionId !== undefined && !responseNamesOperations(method))
      ? undefined
      : createResponseScan(method);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    if (!stream.destroyed) stream.uncork();
  };
  let trailers: http2.IncomingHttpHeaders | undefined;
  upstream.on(
    'response',
    guard((responseHeaders, flags) => {
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      const out = clientHeaders(responseHeaders, deps.backendToken);
      if (stream.closed || stream.destroyed) return;
      if (endStream) {
        noteStatus(call, responseHeaders);
        stream.respond(out, { endStream: true });
      } else stream.respond(out, { waitForTrailers: true });
    }),
  );
  upstream.on(
    'data',
    guard((chunk: Buffer) => {
      if (responseScan !== undefined && !responseScan.done) {
        try {
          responseScan.push(chunk);
        } catch {
          responseScan.done = true;
        }
      }
      const out = masker === undefined ? chunk : masker.push(chunk);
      call.bytesOut += out.length;
      if (stream.closed || stream.destroyed) return;
      if (!corked) {
        // Chunks that arrive in one turn of the event loop leave in one write.
        corked = true;
        stream.cork();
        setImmediate(uncork);
      }
      if (!stream.write(out)) {
        upstream.pause();
        stream.once('drain', () => upstream.resume());
      }
    }),
  );
  upstream.on(
    'trailers',
    guard((responseTrailers: http2.IncomingHttpHeaders) => {
      trailers = responseTrailers;
    }),
  );
  stream.on(
    'wantTrailers',
    guard(() => {
      const sent = trailers ?? {
        'grpc-status': String(GrpcStatus.UNKNOWN),
        'grpc-message': `the Spark Connect server ${call.backend} ended the call without a gRPC status`,
      };
      noteStatus(call, sent);
      stream.sendTrailers(clientHeaders(sent, deps.backendToken, true));
    }),
  );
  upstream.on(
    'end',
    guard(() => {
      if (masker !== undefined) {
        const rest = masker.flush();
        if (rest.length > 0 && !stream.closed) stream.write(rest);
      }
      if (!stream.closed && !stream.destroyed) stream.end();
    }),
  );
  upstream.on('error', () => undefined);
  upstream.on(
    'close',
    guard(() => {
      if (responseScan?.ids !== undefined)
        noteResponseIds(deps.sessions, key, context.route.binding, responseScan.ids, call.client);
      const code = upstream.rstCode;
      if (code !== http2.constants.NGHTTP2_NO_ERROR && !stream.closed && !stream.destroyed) {
        const error = new GatewayError(
          'GW_BACKEND_UNREACHABLE',
          `the Spark Connect server ${call.backend} reset the ${call.method} call (HTTP/2 error ${String(code)}); retry the call`,
        );
        call.status = error.grpcStatus;
        call.message = error.message;
        if (!stream.headersSent) respondWithError(stream, error);
        else stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
      if (stream.closed || stream.destroyed) complete();
    }),
  );
  stream.once('close', () => {
    // Closed before its trailers went out: the client cancelled or went away, even when the
    // server had already finished and the rest of its answer was still on its way.
    if (call.status === -1) {
      call.status = GrpcStatus.CANCELLED;
      call.message = 'cancelled by the client';
    }
    // The call is cancelled on the server too; a finished one drops what the client never read.
    if (!upstream.closed && !upstream.destroyed) upstream.close(http2.constants.NGHTTP2_CANCEL);
    else if (!upstream.destroyed) upstream.destroy();
    complete();
  });
}
