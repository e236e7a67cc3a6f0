// The calls of a pinned connection on their way to the server: a new stream is checked (gRPC,
// a method path, the gateway's own health check), its frames are held until its first message
// names its session, it is routed as in the terminating relay, and then sent to the connection's
// server with its header block re-encoded and its stream id mapped.
import { GatewayError, GrpcStatus } from '../../errors.ts';
import { gatewayChannels } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import type { Route } from '../../routing/router.ts';
import {
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameFlag,
  FrameProtocolError,
  encodeHeaderFrames,
  encodeWindowUpdate,
  setStreamId,
  unpadded,
  type Frame,
} from '../../wire/h2-frames.ts';
import { encodeHeaderBlock, type HeaderField } from '../../wire/hpack.ts';
import { encodeReleaseSessionResponse } from '../../wire/spark-connect-codecs.ts';
import {
  parseMethodPath,
  readRoutingFields,
  responseNamesOperations,
} from '../../wire/spark-connect.ts';
import type { ClientConnection } from '../front-server.ts';
import { routeRequestOf } from '../call-routing.ts';
import { healthCheckResponse, notGrpcText } from '../grpc-respond.ts';
import { upstreamFields } from '../relay-headers.ts';
import { createSecretMasker } from '../secret-masker.ts';
import { createResponseScan } from '../session-bookkeeping.ts';
import { GENERIC_ROUTING, type ProxyDependencies } from '../stream-proxy.ts';
import { plainResponse } from './answers.ts';
import type { FrameOutput } from './frame-output.ts';
import type { MixedClients } from './mixed-clients.ts';
import {
  checkPinnedIdentity,
  completeCall,
  createPinnedStream,
  requestHead,
  type PinnedStream,
} from './pinned-stream.ts';
import type { SlabPool } from './slab-pool.ts';

export interface PinnedRelayDependencies extends ProxyDependencies {
  /** Whether `authenticate` verifies callers (else it answers '' for everyone at once). */
  readonly authenticating: boolean;
  readonly maxConcurrentStreams: number;
  readonly mixedClients: MixedClients;
  /** Whether the gateway has a backend up, for grpc.health.v1.Health/Check. */
  readonly serving: () => boolean;
  /** What pinned connections read their servers' bytes into. */
  readonly slabs: SlabPool;
  /** See GatewayOptions.summarizeOkCalls (the native core only). */
  readonly summarizeOkCalls: boolean;
  /**
   * Moves on each change to sessions or backends that can make a routing decision made earlier
   * wrong (the native core asks again then); one number the native core reads itself.
   */
  readonly routeEpoch: Uint32Array;
  /** A connection that sends and receives nothing for this long is closed. */
  readonly idleTimeoutMs: number;
}

/** What the calls need of their connection. */
export interface PinnedCallsLink {
  readonly deps: PinnedRelayDependencies;
  readonly connection: ClientConnection;
  readonly toUpstream: FrameOutput;
  /** The highest stream id the client opened. */
  readonly lastClientId: () => number;
  /** The server the connection relays to; pinned now to `target` when it has none yet. */
  readonly pinnedTo: (target: Backend) => Backend;
  readonly refundClient: (bytes: number) => void;
  readonly answer: (stream: PinnedStream, frames: Buffer[]) => void;
  readonly answerError: (stream: PinnedStream, error: unknown) => void;
  readonly answerMessage: (stream: PinnedStream, body: Uint8Array) => void;
  /** The call's session lives on another server than the connection's. */
  readonly sendAway: (stream: PinnedStream) => void;
  readonly maybeEnd: () => void;
  /** Writes what the outputs gathered (after work done outside a socket's read). */
  readonly flush: () => void;
}

export interface PinnedCalls {
  /** Open calls by the client's stream id, and by the server's. */
  readonly streams: ReadonlyMap<number, PinnedStream>;
  readonly byUpstreamId: ReadonlyMap<number, PinnedStream>;
  /** Bytes held for calls not routed yet. */
  readonly heldBytes: number;
  /** The highest client stream id sent to the server. */
  readonly lastForwardedClientId: number;
  open(clientId: number, fields: readonly HeaderField[], endStream: boolean): void;
  onData(frame: Frame): void;
  onWindowUpdate(frame: Frame): void;
  /** The client reset the stream: the call is cancelled, at its server too. */
  onReset(frame: Frame): void;
  /** Calls the last chunk opened and left without a first message get a deadline. */
  startTimers(): void;
  /** Forgets the call (its frames are no longer relayed). */
  drop(stream: PinnedStream): void;
}

export const WHOLE_FIRST_MESSAGE_BYTES = 256 * 1024;

/** The request headers the authenticator reads, from a decoded header list. */
function authenticationHeaders(fields: readonly HeaderField[]): { authorization?: string } {
  for (const field of fields) if (field[0] === 'authorization') return { authorization: field[1] };
  return {};
}

export function createPinnedCalls(link: PinnedCallsLink): PinnedCalls {
  const { deps, connection, toUpstream } = link;
  const streams = new Map<number, PinnedStream>();
  const byUpstreamId = new Map<number, PinnedStream>();
  const awaitingMessage: PinnedStream[] = [];
  let heldBytes = 0;
  let lastForwardedClientId = 0;
  let nextUpstreamId = 1;

  function hold(stream: PinnedStream, raw: Buffer): void {
    stream.held.push(raw);
    heldBytes += raw.length;
  }

  function drop(stream: PinnedStream): void {
    streams.delete(stream.clientId);
    if (stream.upstreamId !== 0) byUpstreamId.delete(stream.upstreamId);
    for (const raw of stream.held) heldBytes -= raw.length;
    stream.held = [];
    // Response bytes the masker held back never reach the client, which so never gives the
    // server the credit for them.
    const masked = stream.masker?.heldBytes ?? 0;
    if (masked > 0) toUpstream.push(encodeWindowUpdate(0, masked));
    stream.masker = undefined;
  }

  function open(clientId: number, fields: readonly HeaderField[], endStream: boolean): void {
    const head = requestHead(fields);
    const path = parseMethodPath(head.path);
    const stream = createPinnedStream(
      clientId,
      fields,
      head,
      path ?? { service: '', method: head.path },
      {
        client: connection.remote,
        maxMessageBytes: deps.maxMessageBytes,
        wholeMessageBytes: WHOLE_FIRST_MESSAGE_BYTES,
        generic: GENERIC_ROUTING,
      },
    );
    stream.clientEnded = endStream;
    streams.set(clientId, stream);
    if (head.method !== 'POST' || !head.contentType.startsWith('application/grpc')) {
      gatewayChannels.requestRejected.publish({
        kind: 'not-grpc',
        client: connection.remote,
        detail: `${head.method} ${head.path} (content-type ${head.contentType || 'none'})`,
      });
      link.answer(stream, plainResponse(clientId, 415, notGrpcText(head.method, head.path)));
    } else if (path === undefined)
      link.answerError(
        stream,
        new GatewayError('GW_UNIMPLEMENTED', `${head.path} is not a gRPC method path`),
      );
    else if (path.service === 'grpc.health.v1.Health' && path.method === 'Check')
      link.answerMessage(stream, healthCheckResponse(deps.serving()));
    else if (endStream)
      link.answerError(
        stream,
        new GatewayError(
          'GW_BAD_REQUEST',
          'the request carried no message; a Spark Connect call sends one request message',
        ),
      );
    else awaitingMessage.push(stream);
  }

  function onData(frame: Frame): void {
    const stream = streams.get(frame.streamId);
    if (stream === undefined) {
      if (frame.streamId === 0 || frame.streamId > link.lastClientId())
        throw new FrameProtocolError('DATA on an idle stream');
      // A call that is over (answered, reset): the client gets its flow-control credit back.
      link.refundClient(frame.payload.length);
      return;
    }
    const payload = unpadded(frame);
    if (payload === undefined) throw new FrameProtocolError('a malformed DATA frame');
    const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
    if (endStream) stream.clientEnded = true;
    try {
      stream.peek.push(payload);
      if (stream.identityPending && stream.peek.firstMessageDone) {
        stream.identityPending = false;
        const scanner = stream.peek.scanner;
        if (scanner !== undefined)
          checkIdentity(
            stream,
            readRoutingFields(scanner, stream.method ?? GENERIC_ROUTING).userId,
          );
      }
    } catch (error) {
      link.answerError(stream, error);
      link.refundClient(frame.payload.length);
      return;
    }
    stream.call.bytesIn += payload.length;
    if (stream.state === 'upstream') {
      setStreamId(frame.raw, stream.upstreamId);
      toUpstream.push(frame.raw);
      return;
    }
    hold(stream, frame.raw);
    stream.heldDataBytes += frame.payload.length;
    if (stream.state !== 'peeking') return;
    if (stream.peek.routable()) route(stream);
    else if (endStream)
      link.answerError(
        stream,
        new GatewayError('GW_BAD_REQUEST', 'the request ended in the middle of its first message'),
      );
  }

  function onWindowUpdate(frame: Frame): void {
    const stream = streams.get(frame.streamId);
    if (stream === undefined) return;
    if (stream.state === 'upstream') {
      setStreamId(frame.raw, stream.upstreamId);
      toUpstream.push(frame.raw);
    } else if (stream.state === 'peeking' || stream.state === 'routing') hold(stream, frame.raw);
  }

  function onReset(frame: Frame): void {
    const stream = streams.get(frame.streamId);
    if (stream === undefined) return;
    if (stream.call.status === -1) {
      stream.call.status = GrpcStatus.CANCELLED;
      stream.call.message = 'cancelled by the client';
    }
    if (stream.state === 'upstream') {
      setStreamId(frame.raw, stream.upstreamId);
      toUpstream.push(frame.raw);
    }
    drop(stream);
    completeCall(deps.sessions, stream);
    link.maybeEnd();
  }

  function startTimers(): void {
    for (const stream of awaitingMessage.splice(0)) {
      // Most calls are routed within the chunk that opened them and never need the timer.
      if (stream.state !== 'peeking') continue;
      stream.timer = setTimeout(() => {
        if (stream.state !== 'peeking') return;
        link.answerError(
          stream,
          new GatewayError(
            'GW_BAD_REQUEST',
            `no complete request message arrived within ${String(deps.firstMessageTimeoutMs)} ms`,
          ),
        );
        link.flush();
      }, deps.firstMessageTimeoutMs);
    }
  }

  function route(stream: PinnedStream): void {
    stream.state = 'routing';
    if (stream.timer !== undefined) clearTimeout(stream.timer);
    if (!deps.authenticating) {
      routeAs(stream);
      return;
    }
    deps.authenticate(authenticationHeaders(stream.headers)).then(
      (principal) => {
        if (stream.state !== 'routing') return;
        stream.call.principal = principal;
        routeAs(stream);
        link.flush();
      },
      (error: unknown) => {
        if (stream.state !== 'routing') return;
        link.answerError(stream, error);
      },
    );
  }

  /** Routes a call whose caller is known (or not asked for) by its first message's fields. */
  function routeAs(stream: PinnedStream): void {
    const scanner = stream.peek.scanner;
    let routed: Promise<Route>;
    let key: string;
    try {
      if (scanner === undefined) throw new GatewayError('GW_BAD_REQUEST', 'no request message');
      const fields = readRoutingFields(scanner, stream.method ?? GENERIC_ROUTING);
      if (checksIdentity(stream)) {
        checkIdentity(stream, fields.userId);
        // A large first message is routed before its end: a user_context further on would
        // change the user id the server reads, so the rest is checked as it arrives.
        stream.identityPending = !stream.peek.firstMessageDone;
      }
      const of = routeRequestOf(deps, stream.method, stream.path, fields, stream.call, connection);
      key = of.key;
      // Most calls are of a session the gateway holds, on a server that is up: routed at once.
      const known = deps.router.routeKnown(of.request);
      if (known !== undefined) {
        onRouted(stream, known, key);
        return;
      }
      routed = deps.router.route(of.request);
    } catch (error) {
      link.answerError(stream, error);
      return;
    }
    routed.then(
      (where) => {
        if (stream.state !== 'routing') return;
        try {
          onRouted(stream, where, key);
        } catch (error) {
          link.answerError(stream, error);
        }
        link.flush();
      },
      (error: unknown) => {
        if (stream.state !== 'routing') return;
        link.answerError(stream, error);
      },
    );
  }

  /** Whether the request's user id must be the caller's verified identity (checkPinnedIdentity). */
  function checksIdentity(stream: PinnedStream): boolean {
    return deps.rewriteUserId && stream.call.principal !== '';
  }

  function checkIdentity(stream: PinnedStream, userId: string | undefined): void {
    checkPinnedIdentity(stream.call, stream.method, userId);
  }

  function onRouted(stream: PinnedStream, where: Route, key: string): void {
    if (where.kind === 'unknown-session-release') {
      // Nothing to release on any server; answered as a server does for a session it never had.
      link.answerMessage(stream, encodeReleaseSessionResponse(stream.call.sessionId));
      return;
    }
    connection.lastSessionKey = key;
    stream.key = key;
    stream.binding = where.binding;
    if (link.pinnedTo(where.backend).id === where.backend.id) forward(stream, where.backend);
    else link.sendAway(stream);
  }

  function forward(stream: PinnedStream, target: Backend): void {
    stream.state = 'upstream';
    stream.upstreamId = nextUpstreamId;
    nextUpstreamId += 2;
    byUpstreamId.set(stream.upstreamId, stream);
    lastForwardedClientId = Math.max(lastForwardedClientId, stream.clientId);
    stream.call.backend = target.id;
    const { method } = stream;
    stream.responseScan =
      method === undefined ||
      (stream.binding?.serverSideSessionId !== undefined && !responseNamesOperations(method))
        ? undefined
        : createResponseScan(method);
    if (deps.backendToken !== undefined) stream.masker = createSecretMasker(deps.backendToken);
    if (stream.streaming) deps.sessions.streamOpened(stream.key);
    gatewayChannels.rpcStarted.publish({ method: stream.call.method, backend: target.id });
    const block = encodeHeaderBlock(
      upstreamFields(stream.headers, stream.requestPath, target.id, {
        authenticated: deps.authenticating,
        backendToken: deps.backendToken,
      }),
    );
    for (const out of encodeHeaderFrames(
      stream.upstreamId,
      block,
      false,
      DEFAULT_MAX_FRAME_PAYLOAD,
    ))
      toUpstream.push(out);
    for (const raw of stream.held) {
      setStreamId(raw, stream.upstreamId);
      toUpstream.push(raw);
      heldBytes -= raw.length;
    }
    stream.held = [];
    stream.heldDataBytes = 0;
  }

  return {
    streams,
    byUpstreamId,
    get heldBytes() {
      return heldBytes;
    },
    get lastForwardedClientId() {
      return lastForwardedClientId;
    },
    open,
    onData,
    onWindowUpdate,
    onReset,
    startTimers,
    drop,
  };
}
