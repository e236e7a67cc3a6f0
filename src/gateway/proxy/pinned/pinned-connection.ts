// A client connection relayed to the one Spark Connect server its sessions live on, over a TCP
// connection of its own (`--relay pinned`). The gateway reads the client's frames: every request
// header block is decoded (its HPACK table mirrored) and re-encoded for the server, every call's
// first message routed as in the terminating path, stream ids mapped; request and response DATA,
// the server's header blocks, flow control and pings pass through as they came. A call whose
// session lives on another server makes the connection go away (GOAWAY: the client retries the
// call on a new connection, which is then terminated and routed call by call).
import net from 'node:net';
import { GatewayError, GrpcStatus } from '../../errors.ts';
import { gatewayChannels } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import type { Route } from '../../routing/router.ts';
import {
  CLIENT_PREFACE,
  FrameFlag,
  FrameSizeError,
  FrameType,
  H2Error,
  MAX_FRAME_PAYLOAD,
  Setting,
  createFrameParser,
  encodeGoaway,
  encodeHeaderFrames,
  encodePingAck,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  parseSettings,
  setStreamId,
  unpadded,
  type Frame,
} from '../../wire/h2-frames.ts';
import { createHpackDecoder, encodeHeaderBlock, HpackError } from '../../wire/hpack.ts';
import { encodeReleaseSessionResponse } from '../../wire/spark-connect-codecs.ts';
import { readRoutingFields, responseNamesOperations } from '../../wire/spark-connect.ts';
import type { ClientConnection } from '../front-server.ts';
import { routeCall } from '../call-routing.ts';
import { createResponseScan } from '../session-bookkeeping.ts';
import { GENERIC_ROUTING, type ProxyDependencies } from '../stream-proxy.ts';
import { messageResponse, plainResponse, trailers, trailersOnly } from './answers.ts';
import { createFrameOutput } from './frame-output.ts';
import type { MixedClients } from './mixed-clients.ts';
import {
  completeCall,
  createPinnedStream,
  noteFailure,
  parseMethodPath,
  requestHead,
  upstreamFields,
  type PinnedStream,
} from './pinned-stream.ts';
import { createAbuseLimits } from './abuse-limits.ts';

export interface PinnedRelayDependencies extends ProxyDependencies {
  readonly maxConcurrentStreams: number;
  readonly mixedClients: MixedClients;
  /** Whether the gateway has a backend up, for grpc.health.v1.Health/Check. */
  readonly serving: () => boolean;
}

export interface PinnedConnection {
  /** GOAWAY to the client; the connection ends once its calls have. */
  close(): void;
  destroy(): void;
  readonly closed: boolean;
}

const WHOLE_FIRST_MESSAGE_BYTES = 256 * 1024;
/** Request bytes held for calls not yet routed, per connection. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;
/** HPACK tables may grow to what the peers announce; this bounds what the gateway mirrors. */
const MAX_MIRRORED_TABLE = 64 * 1024;
const DEFAULT_FRAME_PAYLOAD = 16_384;
const MAX_UNSENT_BYTES = 1024 * 1024;
const NOT_GRPC_TEXT =
  'This is the sparkplane gateway, a Spark Connect endpoint: it takes gRPC calls (POST, content-type application/grpc). Connect with a Spark Connect client: sc://HOST:PORT\n';

export function relayPinned(
  client: net.Socket,
  deps: PinnedRelayDependencies,
  connection: ClientConnection,
  onClosed: () => void,
): PinnedConnection {
  const address = client.remoteAddress ?? '';
  const streams = new Map<number, PinnedStream>();
  const byUpstreamId = new Map<number, PinnedStream>();
  const requestDecoder = createHpackDecoder({ maxTableSize: MAX_MIRRORED_TABLE });
  const responseDecoder = createHpackDecoder({ maxTableSize: MAX_MIRRORED_TABLE });
  const requestFrames = createFrameParser(DEFAULT_FRAME_PAYLOAD);
  const responseFrames = createFrameParser(MAX_FRAME_PAYLOAD);
  const limits = createAbuseLimits();
  let upstream: net.Socket | undefined;
  let backend: Backend | undefined;
  let upstreamSpoke = false;
  const toClient = createFrameOutput(() => client);
  const toUpstream = createFrameOutput(() => upstream);
  /** Client frames for the server that arrived before there was one: SETTINGS, WINDOW_UPDATE. */
  let beforePin: Buffer[] = [];
  let preface = Buffer.alloc(0);
  let ownSettingsAcked = false;
  let lastClientId = 0;
  let lastForwardedClientId = 0;
  let nextUpstreamId = 1;
  let goawayLast: number | undefined;
  let closed = false;
  let heldBytes = 0;
  /** Bytes of DATA the gateway sent the client itself: the client's refunds for them stay here. */
  let injected = 0;
  let requestBlock: { streamId: number; endStream: boolean; parts: Buffer[] } | undefined;
  let responseBlock:
    { streamId: number; endStream: boolean; parts: Buffer[]; raws: Buffer[] } | undefined;

  // The client hears from "the server" at once; the real one's SETTINGS follow when it is known.
  toClient.push(encodeSettings([[Setting.MAX_CONCURRENT_STREAMS, deps.maxConcurrentStreams]]));
  flushClient();

  // A side stops reading only once the other holds more than this unsent: pausing at the
  // socket's own 16 KiB mark would stop and restart a streamed result at every chunk.
  function flushClient(): void {
    toClient.flush();
    const reader = upstream;
    if (client.writableLength > MAX_UNSENT_BYTES && reader !== undefined && !reader.isPaused()) {
      reader.pause();
      client.once('drain', () => reader.resume());
    }
  }
  function flushUpstream(): void {
    toUpstream.flush();
    const writer = upstream;
    if (writer !== undefined && writer.writableLength > MAX_UNSENT_BYTES && !client.isPaused()) {
      client.pause();
      writer.once('drain', () => client.resume());
    }
  }

  function failConnection(code: number, kind: string, detail: string): void {
    if (closed) return;
    gatewayChannels.requestRejected.publish({ kind, client: connection.remote, detail });
    toClient.push(encodeGoaway(lastClientId, code, detail));
    flushClient();
    for (const stream of [...streams.values()]) {
      if (stream.call.status === -1) {
        stream.call.status = GrpcStatus.CANCELLED;
        stream.call.message = `the connection was closed: ${detail}`;
      }
      drop(stream);
      completeCall(deps.sessions, stream);
    }
    shutdown();
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

  function drop(stream: PinnedStream): void {
    streams.delete(stream.clientId);
    if (stream.upstreamId !== 0) byUpstreamId.delete(stream.upstreamId);
    heldBytes -= stream.held.reduce((sum, raw) => sum + raw.length, 0);
    stream.held = [];
  }

  function maybeEnd(): void {
    if (goawayLast !== undefined && streams.size === 0) shutdown();
  }

  function refundClient(bytes: number): void {
    if (bytes > 0) toClient.push(encodeWindowUpdate(0, bytes));
  }

  /** Ends a call with the gateway's own answer, in whatever state it is. */
  function answer(stream: PinnedStream, frames: Buffer[], clientRefund = 0): void {
    if (stream.state === 'upstream') {
      toUpstream.push(encodeRstStream(stream.upstreamId, H2Error.CANCEL));
      flushUpstream();
    }
    refundClient(stream.heldDataBytes + clientRefund);
    drop(stream);
    for (const frame of frames) toClient.push(frame);
    // RFC 9113 §8.1: a complete answer to a request still being sent ends it with NO_ERROR.
    if (!stream.clientEnded) toClient.push(encodeRstStream(stream.clientId, H2Error.NO_ERROR));
    flushClient();
    stream.state = 'answered';
    completeCall(deps.sessions, stream);
    maybeEnd();
  }

  function answerError(stream: PinnedStream, error: unknown): void {
    noteFailure(stream, error);
    const { status, message } = stream.call;
    answer(
      stream,
      stream.responseStarted
        ? trailers(stream.clientId, status, message)
        : trailersOnly(stream.clientId, status, message),
    );
  }

  function answerMessage(stream: PinnedStream, body: Uint8Array): void {
    const response = messageResponse(stream.clientId, body);
    injected += response.dataBytes;
    stream.call.status = GrpcStatus.OK;
    answer(stream, response.frames);
  }

  // ---- client → server ------------------------------------------------------------------------

  function onClientData(chunk: Buffer): void {
    try {
      if (preface.length < CLIENT_PREFACE.length) {
        const need = CLIENT_PREFACE.length - preface.length;
        preface = Buffer.concat([preface, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (preface.length < CLIENT_PREFACE.length) return;
        if (!preface.equals(CLIENT_PREFACE)) {
          failConnection(H2Error.PROTOCOL_ERROR, 'not-http2', 'the HTTP/2 preface is wrong');
          return;
        }
      }
      requestFrames.push(chunk, onClientFrame);
      if (heldBytes > MAX_HELD_BYTES)
        failConnection(
          H2Error.ENHANCE_YOUR_CALM,
          'http2-held-bytes',
          `more than ${String(MAX_HELD_BYTES)} bytes of calls not yet routed`,
        );
    } catch (error) {
      if (error instanceof FrameSizeError)
        failConnection(H2Error.FRAME_SIZE_ERROR, 'http2-frame-error', error.message);
      else if (error instanceof HpackError)
        failConnection(H2Error.COMPRESSION_ERROR, 'http2-frame-error', error.message);
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
    if (requestBlock !== undefined) {
      if (frame.type !== FrameType.CONTINUATION || frame.streamId !== requestBlock.streamId) {
        failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'a header block was cut off');
        return;
      }
      requestBlock.parts.push(frame.payload);
      if ((frame.flags & FrameFlag.END_HEADERS) !== 0) endRequestBlock();
      return;
    }
    switch (frame.type) {
      case FrameType.DATA:
        onClientDataFrame(frame);
        return;
      case FrameType.HEADERS: {
        const payload = unpadded(frame);
        if (payload === undefined || frame.streamId === 0) {
          failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'a malformed HEADERS frame');
          return;
        }
        requestBlock = {
          streamId: frame.streamId,
          endStream: (frame.flags & FrameFlag.END_STREAM) !== 0,
          parts: [payload],
        };
        if ((frame.flags & FrameFlag.END_HEADERS) !== 0) endRequestBlock();
        return;
      }
      case FrameType.CONTINUATION:
        failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'CONTINUATION without HEADERS');
        return;
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
    for (const [id, value] of parseSettings(frame.payload) ?? [])
      if (id === Setting.HEADER_TABLE_SIZE)
        responseDecoder.allowTableSize(Math.min(value, MAX_MIRRORED_TABLE));
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
      const kept = Math.min(increment, injected);
      injected -= kept;
      if (kept === increment) return;
      const out = kept === 0 ? frame.raw : encodeWindowUpdate(0, increment - kept);
      if (upstream !== undefined) toUpstream.push(out);
      else beforePin.push(out);
      return;
    }
    const stream = streams.get(frame.streamId);
    if (stream === undefined) return;
    if (stream.state === 'upstream') {
      setStreamId(frame.raw, stream.upstreamId);
      toUpstream.push(frame.raw);
    } else if (stream.state === 'peeking' || stream.state === 'routing') {
      stream.held.push(frame.raw);
      heldBytes += frame.raw.length;
    }
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
    maybeEnd();
  }

  function endRequestBlock(): void {
    const block = requestBlock;
    if (block === undefined) return;
    requestBlock = undefined;
    // Decoded even for a call that is refused: the client's HPACK table changes either way.
    const fields = requestDecoder.decode(
      block.parts.length === 1 && block.parts[0] !== undefined
        ? block.parts[0]
        : Buffer.concat(block.parts),
    );
    const existing = streams.get(block.streamId);
    if (existing !== undefined) {
      // Request trailers: rare in gRPC, relayed when the call is at its server.
      if (existing.state === 'upstream') {
        for (const out of encodeHeaderFrames(
          existing.upstreamId,
          encodeHeaderBlock(fields),
          block.endStream,
          DEFAULT_FRAME_PAYLOAD,
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
    if (streams.size >= deps.maxConcurrentStreams) {
      if (!limits.refused())
        failConnection(
          H2Error.ENHANCE_YOUR_CALM,
          'http2-stream-flood',
          `the client kept opening more than ${String(deps.maxConcurrentStreams)} streams`,
        );
      else toClient.push(encodeRstStream(block.streamId, H2Error.REFUSED_STREAM));
      return;
    }
    openStream(block.streamId, fields, block.endStream);
  }

  function openStream(
    clientId: number,
    fields: readonly (readonly [string, string])[],
    endStream: boolean,
  ): void {
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
      answer(stream, plainResponse(clientId, 415, NOT_GRPC_TEXT));
      return;
    }
    if (path === undefined) {
      answerError(
        stream,
        new GatewayError('GW_UNIMPLEMENTED', `${head.path} is not a gRPC method path`),
      );
      return;
    }
    if (path.service === 'grpc.health.v1.Health' && path.method === 'Check') {
      answerMessage(stream, Buffer.from([0x08, deps.serving() ? 1 : 2]));
      return;
    }
    if (endStream) {
      answerError(
        stream,
        new GatewayError(
          'GW_BAD_REQUEST',
          'the request carried no message; a Spark Connect call sends one request message',
        ),
      );
      return;
    }
    stream.timer = setTimeout(() => {
      if (stream.state !== 'peeking') return;
      answerError(
        stream,
        new GatewayError(
          'GW_BAD_REQUEST',
          `no complete request message arrived within ${String(deps.firstMessageTimeoutMs)} ms`,
        ),
      );
      flushUpstream();
      flushClient();
    }, deps.firstMessageTimeoutMs);
  }

  function onClientDataFrame(frame: Frame): void {
    const stream = streams.get(frame.streamId);
    const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
    if (stream === undefined) {
      if (frame.streamId === 0 || frame.streamId > lastClientId) {
        failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'DATA on an idle stream');
        return;
      }
      refundClient(frame.payload.length);
      return;
    }
    const payload = unpadded(frame);
    if (payload === undefined) {
      failConnection(H2Error.PROTOCOL_ERROR, 'http2-frame-error', 'a malformed DATA frame');
      return;
    }
    if (endStream) stream.clientEnded = true;
    try {
      stream.peek.push(payload);
    } catch (error) {
      answerError(stream, error);
      refundClient(frame.payload.length);
      return;
    }
    stream.call.bytesIn += payload.length;
    if (stream.state === 'upstream') {
      setStreamId(frame.raw, stream.upstreamId);
      toUpstream.push(frame.raw);
      return;
    }
    stream.held.push(frame.raw);
    stream.heldDataBytes += frame.payload.length;
    heldBytes += frame.raw.length;
    if (stream.state !== 'peeking') return;
    if (stream.peek.routable()) {
      route(stream);
      return;
    }
    if (endStream)
      answerError(
        stream,
        new GatewayError('GW_BAD_REQUEST', 'the request ended in the middle of its first message'),
      );
  }

  function route(stream: PinnedStream): void {
    stream.state = 'routing';
    if (stream.timer !== undefined) clearTimeout(stream.timer);
    const scanner = stream.peek.scanner;
    let routed: Promise<{ route: Route; key: string }>;
    try {
      if (scanner === undefined) throw new GatewayError('GW_BAD_REQUEST', 'no request message');
      const fields = readRoutingFields(scanner, stream.method ?? GENERIC_ROUTING);
      routed = routeCall(deps, stream.method, stream.path, fields, stream.call, connection);
    } catch (error) {
      answerError(stream, error);
      return;
    }
    routed.then(
      ({ route: where, key }) => {
        if (stream.state !== 'routing') return;
        try {
          onRouted(stream, where, key);
        } catch (error) {
          answerError(stream, error);
        }
        flushUpstream();
        flushClient();
      },
      (error: unknown) => {
        if (stream.state !== 'routing') return;
        answerError(stream, error);
      },
    );
  }

  function onRouted(stream: PinnedStream, where: Route, key: string): void {
    if (where.kind === 'unknown-session-release') {
      // Nothing to release on any server; answered as a server does for a session it never had.
      answerMessage(stream, encodeReleaseSessionResponse(stream.call.sessionId));
      return;
    }
    connection.lastSessionKey = key;
    stream.key = key;
    stream.binding = where.binding;
    if (backend === undefined) pin(where.backend);
    else if (backend.id !== where.backend.id) {
      elsewhere(stream);
      return;
    }
    forward(stream, where.backend);
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
    if (stream.streaming) deps.sessions.streamOpened(stream.key);
    gatewayChannels.rpcStarted.publish({ method: stream.call.method, backend: target.id });
    const block = encodeHeaderBlock(upstreamFields(stream.headers, stream.requestPath, target.id));
    for (const out of encodeHeaderFrames(stream.upstreamId, block, false, DEFAULT_FRAME_PAYLOAD))
      toUpstream.push(out);
    for (const raw of stream.held) {
      setStreamId(raw, stream.upstreamId);
      toUpstream.push(raw);
      heldBytes -= raw.length;
    }
    stream.held = [];
    stream.heldDataBytes = 0;
  }

  /** The call's session lives on another server than this connection's. */
  function elsewhere(stream: PinnedStream): void {
    deps.mixedClients.flag(address);
    if (goawayLast === undefined) {
      goawayLast = Math.max(stream.clientId - 2, lastForwardedClientId, 0);
      toClient.push(
        encodeGoaway(
          goawayLast,
          H2Error.NO_ERROR,
          'this connection carries sessions of more than one Spark Connect server; reconnect',
        ),
      );
    }
    if (stream.clientId > goawayLast) {
      // Never processed: the client's gRPC library retries it on a new connection.
      gatewayChannels.requestRejected.publish({
        kind: 'pinned-session-elsewhere',
        client: connection.remote,
        detail: `${stream.call.method} for session ${stream.call.sessionId} on ${stream.call.backend || 'another server'}`,
      });
      refundClient(stream.heldDataBytes);
      stream.state = 'refused';
      drop(stream);
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

  function pin(target: Backend): void {
    backend = target;
    const socket = net.connect({ host: target.host, port: target.port });
    upstream = socket;
    socket.setNoDelay(true);
    socket.on('data', onUpstreamData);
    socket.on('error', (error: Error) => {
      onUpstreamGone(error);
    });
    socket.on('close', () => {
      onUpstreamGone(undefined);
    });
    toUpstream.push(CLIENT_PREFACE);
    for (const raw of beforePin) toUpstream.push(raw);
    beforePin = [];
  }

  function onUpstreamData(chunk: Buffer): void {
    upstreamSpoke = true;
    try {
      responseFrames.push(chunk, onUpstreamFrame);
    } catch (error) {
      gatewayChannels.relayFailed.publish({ method: '', backend: backend?.id ?? '', error });
      failConnection(
        H2Error.INTERNAL_ERROR,
        'relay-failed',
        `the Spark Connect server ${backend?.id ?? '?'} sent what the gateway cannot relay: ${String(error)}`,
      );
    }
    flushClient();
    flushUpstream();
  }

  function onUpstreamGone(error: Error | undefined): void {
    const gone = backend;
    if (upstream === undefined || gone === undefined || closed) return;
    upstream = undefined;
    if (!upstreamSpoke && error !== undefined) deps.pool.connectFailed(gone.id, error);
    const reason = upstreamSpoke
      ? `the Spark Connect server ${gone.id} closed the connection during the call`
      : `cannot open a call to the Spark Connect server ${gone.id}: ${error?.message ?? 'connection closed'}`;
    for (const stream of [...streams.values()]) {
      if (stream.state !== 'upstream') continue;
      if (!upstreamSpoke && stream.binding !== undefined && stream.call.status === -1)
        // A session placed by this call was never used: the retry is placed afresh.
        void deps.router.unplace(stream.binding).catch(() => undefined);
      answerError(stream, new GatewayError('GW_BACKEND_UNREACHABLE', `${reason}; retry the call`));
    }
    if (goawayLast === undefined) {
      goawayLast = lastClientId;
      toClient.push(encodeGoaway(goawayLast, H2Error.NO_ERROR, reason));
    }
    flushClient();
    maybeEnd();
  }

  function onUpstreamFrame(frame: Frame): void {
    if (responseBlock !== undefined) {
      if (frame.type !== FrameType.CONTINUATION || frame.streamId !== responseBlock.streamId)
        throw new Error('the server cut off a header block');
      responseBlock.parts.push(frame.payload);
      responseBlock.raws.push(frame.raw);
      if ((frame.flags & FrameFlag.END_HEADERS) !== 0) endResponseBlock();
      return;
    }
    switch (frame.type) {
      case FrameType.HEADERS: {
        const payload = unpadded(frame);
        if (payload === undefined) throw new Error('the server sent a malformed HEADERS frame');
        responseBlock = {
          streamId: frame.streamId,
          endStream: (frame.flags & FrameFlag.END_STREAM) !== 0,
          parts: [payload],
          raws: [frame.raw],
        };
        if ((frame.flags & FrameFlag.END_HEADERS) !== 0) endResponseBlock();
        return;
      }
      case FrameType.DATA: {
        const stream = byUpstreamId.get(frame.streamId);
        if (stream === undefined) {
          // The call is over for the client: the server gets its flow-control credit back.
          if (frame.payload.length > 0)
            toUpstream.push(encodeWindowUpdate(0, frame.payload.length));
          return;
        }
        setStreamId(frame.raw, stream.clientId);
        toClient.push(frame.raw);
        stream.responseStarted = true;
        const payload = unpadded(frame) ?? Buffer.alloc(0);
        stream.call.bytesOut += payload.length;
        if (stream.responseScan !== undefined && !stream.responseScan.done) {
          try {
            stream.responseScan.push(payload);
          } catch {
            stream.responseScan.done = true;
          }
        }
        if ((frame.flags & FrameFlag.END_STREAM) !== 0) upstreamEnded(stream);
        return;
      }
      case FrameType.RST_STREAM: {
        const stream = byUpstreamId.get(frame.streamId);
        if (stream === undefined) return;
        if (stream.call.status === -1) {
          const code = frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : -1;
          stream.call.status = code === H2Error.CANCEL ? GrpcStatus.CANCELLED : GrpcStatus.INTERNAL;
          stream.call.message = `the Spark Connect server reset the call (HTTP/2 error ${String(code)})`;
        }
        setStreamId(frame.raw, stream.clientId);
        toClient.push(frame.raw);
        upstreamEnded(stream);
        return;
      }
      case FrameType.SETTINGS:
        if ((frame.flags & FrameFlag.ACK) === 0) onUpstreamSettings(frame);
        toClient.push(frame.raw);
        return;
      case FrameType.WINDOW_UPDATE: {
        if (frame.streamId === 0) {
          toClient.push(frame.raw);
          return;
        }
        const stream = byUpstreamId.get(frame.streamId);
        if (stream === undefined) return;
        setStreamId(frame.raw, stream.clientId);
        toClient.push(frame.raw);
        return;
      }
      case FrameType.PING:
        toClient.push(frame.raw);
        return;
      case FrameType.GOAWAY:
        onUpstreamGoaway(frame);
        return;
      case FrameType.PUSH_PROMISE:
        throw new Error('the server sent PUSH_PROMISE');
      default:
        return;
    }
  }

  function onUpstreamSettings(frame: Frame): void {
    const settings = parseSettings(frame.payload) ?? [];
    settings.forEach(([id, value], index) => {
      // The client is held to the gateway's stream limit, as on a terminated connection.
      // The client's encoder may grow its table up to what the server's decoder allows.
      if (id === Setting.HEADER_TABLE_SIZE)
        requestDecoder.allowTableSize(Math.min(value, MAX_MIRRORED_TABLE));
      if (id === Setting.MAX_CONCURRENT_STREAMS && value > deps.maxConcurrentStreams)
        frame.payload.writeUInt32BE(deps.maxConcurrentStreams, index * 6 + 2);
      // The largest frame the server takes is the largest the client may now send through here.
      if (id === Setting.MAX_FRAME_SIZE)
        requestFrames.maxPayload = Math.min(
          Math.max(value, DEFAULT_FRAME_PAYLOAD),
          MAX_FRAME_PAYLOAD,
        );
    });
  }

  function endResponseBlock(): void {
    const block = responseBlock;
    if (block === undefined) return;
    responseBlock = undefined;
    const fields = responseDecoder.decode(
      block.parts.length === 1 && block.parts[0] !== undefined
        ? block.parts[0]
        : Buffer.concat(block.parts),
    );
    const stream = byUpstreamId.get(block.streamId);
    if (stream === undefined) return;
    for (const raw of block.raws) {
      setStreamId(raw, stream.clientId);
      toClient.push(raw);
    }
    const trailerBlock = stream.responseStarted || block.endStream;
    stream.responseStarted = true;
    if (trailerBlock)
      for (const [name, value] of fields) {
        if (name === 'grpc-status') stream.call.status = Number(value);
        else if (name === 'grpc-message') stream.call.message = value;
      }
    if (block.endStream) upstreamEnded(stream);
  }

  function onUpstreamGoaway(frame: Frame): void {
    const lastUpstream = frame.payload.length >= 8 ? frame.payload.readUInt32BE(0) & 0x7fffffff : 0;
    // Calls the server will not process are answered; the client goes to a new connection.
    for (const stream of [...byUpstreamId.values()])
      if (stream.upstreamId > lastUpstream)
        answerError(
          stream,
          new GatewayError(
            'GW_BACKEND_UNREACHABLE',
            `the Spark Connect server ${backend?.id ?? '?'} is shutting down and did not take the call; retry it`,
          ),
        );
    if (goawayLast === undefined) {
      goawayLast = lastClientId;
      toClient.push(
        encodeGoaway(goawayLast, H2Error.NO_ERROR, 'the Spark Connect server is going away'),
      );
    }
    maybeEnd();
  }

  function upstreamEnded(stream: PinnedStream): void {
    if (stream.call.status === -1) {
      stream.call.status = GrpcStatus.UNKNOWN;
      stream.call.message = `the Spark Connect server ${stream.call.backend} ended the call without a gRPC status`;
    }
    completeCall(deps.sessions, stream);
    drop(stream);
    maybeEnd();
  }

  // ---- the connection -------------------------------------------------------------------------

  client.setNoDelay(true);
  client.on('data', onClientData);
  client.on('error', () => undefined);
  client.once('close', () => {
    for (const stream of [...streams.values()]) {
      if (stream.state === 'upstream' && stream.call.status === -1) {
        stream.call.status = GrpcStatus.CANCELLED;
        stream.call.message = 'the client closed the connection';
      }
      drop(stream);
      completeCall(deps.sessions, stream);
    }
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
      if (goawayLast === undefined) {
        goawayLast = lastClientId;
        toClient.push(encodeGoaway(goawayLast, H2Error.NO_ERROR, 'the gateway is shutting down'));
        flushClient();
      }
      maybeEnd();
    },
    destroy() {
      client.destroy();
      upstream?.destroy();
    },
  };
}
