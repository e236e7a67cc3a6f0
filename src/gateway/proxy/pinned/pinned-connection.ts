// A client connection relayed to the one Spark Connect server its sessions live on, over a TCP
// connection of its own (`--relay pinned`). This module owns the connection: its sockets, the
// frames of the whole connection (SETTINGS, PING, its WINDOW_UPDATE, GOAWAY), the request header
// blocks (the client's HPACK table mirrored) and the end; client-faults.ts reads the preface and
// names what ends it. pinned-calls.ts takes each call to its server, response-side.ts relays the
// server's frames back (read into reused slabs: slab-reads.ts), call-answers.ts ends a call with
// the gateway's own answer. A call whose session lives on another server makes the connection go
// away (GOAWAY: the client retries on a new connection, then terminated and routed call by call).
import type net from 'node:net';
import { GatewayError, GrpcStatus } from '../../errors.ts';
import { gatewayChannels } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameFlag,
  FrameProtocolError,
  FrameType,
  H2Error,
  MAX_FRAME_PAYLOAD,
  Setting,
  createFrameParser,
  createHeaderBlockReader,
  encodeGoaway,
  encodeHeaderFrames,
  encodePingAck,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  parseSettings,
  type Frame,
  type HeaderBlock,
} from '../../wire/h2-frames.ts';
import { createHpackDecoder, encodeHeaderBlock } from '../../wire/hpack.ts';
import type { ClientConnection } from '../front-server.ts';
import { createAbuseLimits } from './abuse-limits.ts';
import { holdBackWhileBacklogged } from './back-pressure.ts';
import { clientFaultCode, createPrefaceReader } from './client-faults.ts';
import { createFrameOutput } from './frame-output.ts';
import { connectReadingSlabs, slabFrameBuffers } from './slab-reads.ts';
import { createPinnedCalls, type PinnedRelayDependencies } from './pinned-calls.ts';
import { createCallAnswers } from './call-answers.ts';
import { completeCall, type PinnedStream } from './pinned-stream.ts';
import { MAX_MIRRORED_TABLE, createResponseSide } from './response-side.ts';

export interface PinnedConnection {
  /** GOAWAY to the client; the connection ends once its calls have. */
  close(): void;
  destroy(): void;
  readonly closed: boolean;
}

/** Request bytes held for calls not yet routed, per connection. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;
const HELD_TOO_MUCH = `more than ${String(MAX_HELD_BYTES)} bytes of calls not yet routed`;

export function relayPinned(
  client: net.Socket,
  deps: PinnedRelayDependencies,
  connection: ClientConnection,
  onClosed: () => void,
): PinnedConnection {
  const address = client.remoteAddress ?? '';
  const requestDecoder = createHpackDecoder({ maxTableSize: MAX_MIRRORED_TABLE });
  const requestBlocks = createHeaderBlockReader();
  const requestFrames = createFrameParser(DEFAULT_MAX_FRAME_PAYLOAD);
  const toClient = createFrameOutput(() => client, deps.slabs);
  const toUpstream = createFrameOutput(() => upstream, deps.slabs);
  const responseFrames = createFrameParser(
    MAX_FRAME_PAYLOAD,
    slabFrameBuffers(deps.slabs, toClient),
  );
  const limits = createAbuseLimits();
  let upstream: net.Socket | undefined;
  /** Calls the server ended in the read being handled, completed once it was written on. */
  let endedInRead: PinnedStream[] | undefined;
  let backend: Backend | undefined;
  let upstreamSpoke = false;
  /** Client frames for the server that arrived before there was one: SETTINGS, WINDOW_UPDATE. */
  let beforePin: Buffer[] = [];
  const preface = createPrefaceReader();
  let ownSettingsAcked = false;
  let lastClientId = 0;
  let goawayLast: number | undefined;
  let closed = false;
  const { answer, answerError, answerMessage, refundClient, serversShare } = createCallAnswers({
    sessions: deps.sessions,
    toClient,
    toUpstream,
    flushClient,
    flushUpstream,
    drop: (stream) => {
      calls.drop(stream);
    },
    maybeEnd,
  });
  const calls = createPinnedCalls({
    deps,
    connection,
    toUpstream,
    lastClientId: () => lastClientId,
    pinnedTo: (target) => backend ?? pin(target),
    refundClient,
    answer,
    answerError,
    answerMessage,
    sendAway,
    maybeEnd,
    flush() {
      flushUpstream();
      flushClient();
    },
  });
  const responses = createResponseSide({
    byUpstreamId: calls.byUpstreamId,
    toClient,
    toUpstream,
    maxConcurrentStreams: deps.maxConcurrentStreams,
    backendToken: deps.backendToken,
    backendId: () => backend?.id ?? '?',
    serverSetting(id, value) {
      // The client's encoder may grow its table up to what the server's decoder allows, and send
      // frames as large as the server takes.
      if (id === Setting.HEADER_TABLE_SIZE)
        requestDecoder.allowTableSize(Math.min(value, MAX_MIRRORED_TABLE));
      if (id === Setting.MAX_FRAME_SIZE)
        requestFrames.maxPayload = Math.min(
          Math.max(value, DEFAULT_MAX_FRAME_PAYLOAD),
          MAX_FRAME_PAYLOAD,
        );
    },
    answerError,
    callEnded: upstreamEnded,
    goAway: (reason) => {
      goAway(lastClientId, reason);
    },
  });

  // The client hears from "the server" at once; the real one's SETTINGS follow when it is known.
  toClient.push(encodeSettings([[Setting.MAX_CONCURRENT_STREAMS, deps.maxConcurrentStreams]]));
  flushClient();

  function flushClient(): void {
    toClient.flush();
    holdBackWhileBacklogged(client, upstream);
  }
  function flushUpstream(): void {
    toUpstream.flush();
    if (upstream !== undefined) holdBackWhileBacklogged(upstream, client);
  }

  function failConnection(code: number, kind: string, detail: string): void {
    if (closed) return;
    gatewayChannels.requestRejected.publish({ kind, client: connection.remote, detail });
    toClient.push(encodeGoaway(lastClientId, code, detail));
    flushClient();
    cancelAll(`the connection was closed: ${detail}`);
    shutdown();
  }

  /** Every call still open ends with the connection; one without a status was cancelled. */
  function cancelAll(message: string): void {
    for (const stream of [...calls.streams.values()]) {
      if (stream.call.status === -1) {
        stream.call.status = GrpcStatus.CANCELLED;
        stream.call.message = message;
      }
      calls.drop(stream);
      completeCall(deps.sessions, stream);
    }
  }

  /** GOAWAY, once: calls above `last` were not taken, and the connection ends with its calls. */
  function goAway(last: number, reason: string): void {
    if (goawayLast === undefined) {
      goawayLast = last;
      toClient.push(encodeGoaway(last, H2Error.NO_ERROR, reason));
    }
    maybeEnd();
  }

  function shutdown(): void {
    if (closed) return;
    // What the last frames put in the outputs (a call's trailers) leaves before the end.
    flushUpstream();
    flushClient();
    closed = true;
    client.end();
    upstream?.destroy();
    setTimeout(() => client.destroy(), 1000).unref();
  }

  function maybeEnd(): void {
    if (goawayLast !== undefined && calls.streams.size === 0) shutdown();
  }

  // ---- client → server ------------------------------------------------------------------------

  function onClientData(chunk: Buffer): void {
    try {
      const frames = preface.read(chunk);
      if (frames === 'wrong')
        failConnection(H2Error.PROTOCOL_ERROR, 'not-http2', 'the HTTP/2 preface is wrong');
      if (frames === 'wrong' || frames === undefined) return;
      requestFrames.push(frames, onClientFrame);
      calls.startTimers();
      if (calls.heldBytes > MAX_HELD_BYTES)
        failConnection(H2Error.ENHANCE_YOUR_CALM, 'http2-held-bytes', HELD_TOO_MUCH);
    } catch (error) {
      const code = clientFaultCode(error);
      if (code !== undefined && error instanceof Error)
        failConnection(code, 'http2-frame-error', error.message);
      else {
        gatewayChannels.relayFailed.publish({ method: '', backend: backend?.id ?? '', error });
        failConnection(H2Error.INTERNAL_ERROR, 'relay-failed', String(error));
      }
    }
    flushUpstream();
    flushClient();
  }

  function onClientFrame(frame: Frame): void {
    if (closed) return;
    if (requestBlocks.open || frame.type === FrameType.HEADERS) {
      const block = requestBlocks.push(frame);
      if (block !== undefined) onRequestHeaderBlock(block);
      return;
    }
    switch (frame.type) {
      case FrameType.DATA:
        calls.onData(frame);
        return;
      case FrameType.CONTINUATION:
        throw new FrameProtocolError('a CONTINUATION frame without HEADERS');
      case FrameType.RST_STREAM:
        onClientReset(frame);
        return;
      case FrameType.SETTINGS:
        onClientSettings(frame);
        return;
      case FrameType.PING:
        if (upstream !== undefined) toUpstream.push(frame.raw);
        else if ((frame.flags & FrameFlag.ACK) === 0) toClient.push(encodePingAck(frame.payload));
        return;
      case FrameType.WINDOW_UPDATE:
        onClientWindowUpdate(frame);
        return;
      case FrameType.GOAWAY:
        goawayLast ??= lastClientId;
        if (upstream !== undefined) toUpstream.push(frame.raw);
        maybeEnd();
        return;
      case FrameType.PUSH_PROMISE:
        failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'a client sent PUSH_PROMISE');
        return;
      default:
        // PRIORITY and unknown frame types carry nothing a call needs (RFC 9113 §5.1, §5.5).
        return;
    }
  }

  function onClientSettings(frame: Frame): void {
    if (frame.streamId !== 0 || parseSettings(frame.payload) === undefined) {
      failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'a malformed SETTINGS frame');
      return;
    }
    if ((frame.flags & FrameFlag.ACK) !== 0) {
      // The first ACK answers the gateway's own SETTINGS; the server never sent those.
      if (!ownSettingsAcked) ownSettingsAcked = true;
      else if (upstream !== undefined) toUpstream.push(frame.raw);
      return;
    }
    (parseSettings(frame.payload) ?? []).forEach(([id, value], index) => {
      if (id !== Setting.HEADER_TABLE_SIZE) return;
      // The server's encoder may grow its table to what it reads here, and the gateway mirrors
      // that table: the server reads no more than the gateway mirrors.
      if (value > MAX_MIRRORED_TABLE)
        frame.payload.writeUInt32BE(MAX_MIRRORED_TABLE, index * 6 + 2);
      responses.allowTableSize(Math.min(value, MAX_MIRRORED_TABLE));
    });
    if (upstream !== undefined) toUpstream.push(frame.raw);
    else beforePin.push(frame.raw);
  }

  function onClientWindowUpdate(frame: Frame): void {
    if (frame.payload.length !== 4) {
      failConnection(H2Error.FRAME_SIZE_ERROR, 'http2-frame-error', 'a malformed WINDOW_UPDATE');
      return;
    }
    if (frame.streamId === 0) {
      const increment = frame.payload.readUInt32BE(0) & 0x7fffffff;
      const share = serversShare(increment);
      if (share === 0) return;
      const out = share === increment ? frame.raw : encodeWindowUpdate(0, share);
      if (upstream !== undefined) toUpstream.push(out);
      else beforePin.push(out);
      return;
    }
    calls.onWindowUpdate(frame);
  }

  function onClientReset(frame: Frame): void {
    if (!limits.reset()) {
      failConnection(
        H2Error.ENHANCE_YOUR_CALM,
        'http2-rapid-reset',
        'the client reset streams faster than the gateway allows',
      );
      return;
    }
    calls.onReset(frame);
  }

  function onRequestHeaderBlock(block: HeaderBlock): void {
    // Decoded even for a call that is refused: the client's HPACK table changes either way.
    const fields = requestDecoder.decode(block.block);
    const existing = calls.streams.get(block.streamId);
    if (existing !== undefined) {
      // Request trailers: rare in gRPC, relayed when the call is at its server.
      if (existing.state === 'upstream') {
        for (const out of encodeHeaderFrames(
          existing.upstreamId,
          encodeHeaderBlock(fields),
          block.endStream,
          DEFAULT_MAX_FRAME_PAYLOAD,
        ))
          toUpstream.push(out);
      } else if (existing.state === 'peeking' || existing.state === 'routing')
        answerError(
          existing,
          new GatewayError('GW_BAD_REQUEST', 'the request sent trailers before its first message'),
        );
      if (block.endStream) existing.clientEnded = true;
      return;
    }
    // Trailers of a call already over (the client had not seen its end yet): nothing to do.
    if (block.streamId % 2 === 1 && block.streamId <= lastClientId) return;
    if (block.streamId % 2 === 0) {
      failConnection(
        H2Error.PROTOCOL_ERROR,
        'http2-frame-error',
        `stream ${String(block.streamId)} is not a new client stream`,
      );
      return;
    }
    lastClientId = block.streamId;
    if (goawayLast !== undefined && block.streamId > goawayLast) return;
    if (calls.streams.size >= deps.maxConcurrentStreams) {
      if (!limits.refused())
        failConnection(
          H2Error.ENHANCE_YOUR_CALM,
          'http2-stream-flood',
          `the client kept opening more than ${String(deps.maxConcurrentStreams)} streams`,
        );
      else toClient.push(encodeRstStream(block.streamId, H2Error.REFUSED_STREAM));
      return;
    }
    calls.open(block.streamId, fields, block.endStream);
  }

  /** The call's session lives on another server than this connection's. */
  function sendAway(stream: PinnedStream): void {
    deps.mixedClients.flag(address);
    goAway(
      Math.max(stream.clientId - 2, calls.lastForwardedClientId, 0),
      'this connection carries sessions of more than one Spark Connect server; reconnect',
    );
    if (goawayLast !== undefined && stream.clientId > goawayLast) {
      // Never processed: the client's gRPC library retries it on a new connection.
      gatewayChannels.requestRejected.publish({
        kind: 'pinned-session-elsewhere',
        client: connection.remote,
        detail: `${stream.call.method} for session ${stream.call.sessionId} on ${stream.call.backend || 'another server'}`,
      });
      refundClient(stream.heldDataBytes);
      stream.state = 'refused';
      calls.drop(stream);
      maybeEnd();
      return;
    }
    answerError(
      stream,
      new GatewayError(
        'GW_BACKEND_UNREACHABLE',
        `the ${stream.call.method} call's session is on another Spark Connect server than the other calls of this connection; retry the call (it goes over a new connection)`,
      ),
    );
  }

  // ---- server → client ------------------------------------------------------------------------

  function pin(target: Backend): Backend {
    backend = target;
    const socket = connectReadingSlabs(target, deps.slabs, toClient, onUpstreamData);
    upstream = socket;
    socket.on('error', (error: Error) => {
      onUpstreamGone(error);
    });
    socket.on('close', () => {
      onUpstreamGone(undefined);
    });
    toUpstream.push(CLIENT_PREFACE);
    for (const raw of beforePin) toUpstream.push(raw);
    beforePin = [];
    return target;
  }

  function onUpstreamData(chunk: Buffer): void {
    upstreamSpoke = true;
    const ended: PinnedStream[] = [];
    endedInRead = ended;
    try {
      responseFrames.push(chunk, (frame) => {
        responses.onFrame(frame);
      });
    } catch (error) {
      gatewayChannels.relayFailed.publish({ method: '', backend: backend?.id ?? '', error });
      failConnection(
        H2Error.INTERNAL_ERROR,
        'relay-failed',
        `the Spark Connect server ${backend?.id ?? '?'} sent what the gateway cannot relay: ${String(error)}`,
      );
    } finally {
      endedInRead = undefined;
    }
    flushClient();
    flushUpstream();
    for (const stream of ended) completeCall(deps.sessions, stream);
  }

  function onUpstreamGone(error: Error | undefined): void {
    const gone = backend;
    if (upstream === undefined || gone === undefined || closed) return;
    upstream = undefined;
    if (!upstreamSpoke && error !== undefined) deps.pool.connectFailed(gone.id, error);
    const reason = upstreamSpoke
      ? `the Spark Connect server ${gone.id} closed the connection during the call`
      : `cannot open a call to the Spark Connect server ${gone.id}: ${error?.message ?? 'connection closed'}`;
    for (const stream of [...calls.streams.values()]) {
      if (stream.state !== 'upstream') continue;
      if (!upstreamSpoke && stream.binding !== undefined && stream.call.status === -1)
        // A session placed by this call was never used: the retry is placed afresh.
        void deps.router.unplace(stream.binding).catch(() => undefined);
      answerError(stream, new GatewayError('GW_BACKEND_UNREACHABLE', `${reason}; retry the call`));
    }
    goAway(lastClientId, reason);
    flushClient();
  }

  function upstreamEnded(stream: PinnedStream): void {
    if (stream.call.status === -1) {
      stream.call.status = GrpcStatus.UNKNOWN;
      stream.call.message = `the Spark Connect server ${stream.call.backend} ended the call without a gRPC status`;
    }
    calls.drop(stream);
    // Read from the server's socket: the client gets the call's end before its bookkeeping.
    if (endedInRead !== undefined) endedInRead.push(stream);
    else completeCall(deps.sessions, stream);
    maybeEnd();
  }

  // ---- the connection -------------------------------------------------------------------------

  client.setNoDelay(true);
  client.on('data', onClientData);
  client.on('error', () => undefined);
  client.once('close', () => {
    cancelAll('the client closed the connection');
    closed = true;
    upstream?.destroy();
    onClosed();
  });
  client.resume();

  return {
    get closed() {
      return closed;
    },
    close() {
      goAway(lastClientId, 'the gateway is shutting down');
      flushClient();
    },
    destroy() {
      client.destroy();
      upstream?.destroy();
    },
  };
}
