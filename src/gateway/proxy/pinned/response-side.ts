// The server's half of a pinned connection: its frames go to the client as they came, with
// stream ids mapped back. The gateway reads along only what a call record needs (response
// headers and trailers, the first response message's ids) and what the client may now send (the
// server's SETTINGS); a server's GOAWAY answers the calls it will not take.
//
// Header blocks pass as they came while the client's HPACK table follows the server's encoder.
// It stops following when a block that changed the server's table cannot go to the client (its
// call is over for the client), or when the gateway must change a block (it names the backend
// token): from then on every block is decoded and re-encoded without the dynamic table.
// With a backend token, response bytes pass through a masker that keeps the token out of them.
import { GatewayError, GrpcStatus } from '../../errors.ts';
import {
  DEFAULT_MAX_FRAME_PAYLOAD,
  FrameFlag,
  FrameProtocolError,
  FrameType,
  H2Error,
  Setting,
  createHeaderBlockReader,
  encodeFrame,
  encodeHeaderFrames,
  encodeWindowUpdate,
  parseSettings,
  setStreamId,
  unpadded,
  type Frame,
  type HeaderBlock,
} from '../../wire/h2-frames.ts';
import {
  createHpackDecoder,
  encodeHeaderBlock,
  leadingSizeUpdates,
  type HeaderField,
} from '../../wire/hpack.ts';
import {
  headerNamesSecret,
  maskHeaderValue,
  maskInText,
  type SecretMasker,
} from '../secret-masker.ts';
import type { FrameOutput } from './frame-output.ts';
import type { PinnedStream } from './pinned-stream.ts';

/** HPACK tables may grow to what the peers announce; this bounds what the gateway mirrors. */
export const MAX_MIRRORED_TABLE = 64 * 1024;

/** What the response side needs of its connection. */
export interface ResponseSideLink {
  /** The connection's calls at the server, by the server's stream id. */
  readonly byUpstreamId: ReadonlyMap<number, PinnedStream>;
  readonly toClient: FrameOutput;
  readonly toUpstream: FrameOutput;
  readonly maxConcurrentStreams: number;
  /** Kept out of everything the client gets. */
  readonly backendToken: string | undefined;
  readonly backendId: () => string;
  /** The server's SETTINGS frame carried this setting (client → server limits). */
  readonly serverSetting: (id: number, value: number) => void;
  readonly answerError: (stream: PinnedStream, error: unknown) => void;
  /** The server ended the call (END_STREAM or RST_STREAM). */
  readonly callEnded: (stream: PinnedStream) => void;
  /** Tells the client to take its next calls to a new connection. */
  readonly goAway: (reason: string) => void;
}

export interface ResponseSide {
  onFrame(frame: Frame): void;
  /** The client announced SETTINGS_HEADER_TABLE_SIZE: the server's encoder may grow to it. */
  allowTableSize(size: number): void;
}

export function createResponseSide(link: ResponseSideLink): ResponseSide {
  const decoder = createHpackDecoder({ maxTableSize: MAX_MIRRORED_TABLE });
  const headerBlocks = createHeaderBlockReader();
  const { byUpstreamId, toClient, backendToken } = link;
  /** The client's HPACK table no longer follows the server's: blocks are re-encoded. */
  let reencoding = false;

  /** A frame of a call that is still relayed gets the client's stream id; others are dropped. */
  function toCall(frame: Frame): PinnedStream | undefined {
    const stream = byUpstreamId.get(frame.streamId);
    if (stream !== undefined) {
      setStreamId(frame.raw, stream.clientId);
      toClient.push(frame.raw);
    }
    return stream;
  }

  function onHeaderBlock(block: HeaderBlock): void {
    // Decoded whatever becomes of it: the server's HPACK table changed either way.
    const changes = decoder.tableChanges;
    const fields = decoder.decode(block.block);
    const stream = byUpstreamId.get(block.streamId);
    if (stream === undefined) {
      if (decoder.tableChanges !== changes) reencoding = true;
      return;
    }
    if (!reencoding && backendToken !== undefined && namesSecret(fields, backendToken))
      reencoding = true;
    const trailerBlock = stream.responseStarted || block.endStream;
    stream.responseStarted = true;
    // Bytes the masker held back were not the token after all: the message ends with the call.
    const held = stream.masker?.flush();
    if (held !== undefined && held.length > 0)
      toClient.push(encodeFrame(FrameType.DATA, 0, stream.clientId, held));
    if (reencoding)
      for (const out of encodeHeaderFrames(
        stream.clientId,
        reencoded(block.block, fields, backendToken),
        block.endStream,
        DEFAULT_MAX_FRAME_PAYLOAD,
      ))
        toClient.push(out);
    else
      for (const raw of block.frames) {
        setStreamId(raw, stream.clientId);
        toClient.push(raw);
      }
    if (trailerBlock)
      for (const field of fields) {
        if (field[0] === 'grpc-status') stream.call.status = Number(field[1]);
        else if (field[0] === 'grpc-message') stream.call.message = field[1];
      }
    if (block.endStream) link.callEnded(stream);
  }

  function onData(frame: Frame): void {
    const payload = unpadded(frame);
    if (payload === undefined)
      throw new FrameProtocolError('the server sent a malformed DATA frame');
    const stream = byUpstreamId.get(frame.streamId);
    if (stream === undefined) {
      // The call is over for the client: the server gets its flow-control credit back.
      if (frame.payload.length > 0)
        link.toUpstream.push(encodeWindowUpdate(0, frame.payload.length));
      return;
    }
    stream.responseStarted = true;
    const scan = stream.responseScan;
    stream.call.bytesOut += payload.length;
    if (scan !== undefined && !scan.done) {
      try {
        scan.push(payload);
      } catch {
        scan.done = true;
      }
    }
    const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
    if (stream.masker === undefined) {
      setStreamId(frame.raw, stream.clientId);
      toClient.push(frame.raw);
    } else relayMasked(stream, stream.masker, frame, payload, endStream);
    if (endStream) link.callEnded(stream);
  }

  /** A DATA frame through the call's masker: as it came unless bytes are held back or let go. */
  function relayMasked(
    stream: PinnedStream,
    masker: SecretMasker,
    frame: Frame,
    payload: Buffer,
    endStream: boolean,
  ): void {
    let out = masker.push(payload);
    if (endStream && masker.heldBytes > 0) out = Buffer.concat([out, masker.flush()]);
    const padding = frame.payload.length - payload.length;
    if (out === payload && padding === 0) {
      setStreamId(frame.raw, stream.clientId);
      toClient.push(frame.raw);
      return;
    }
    if (out.length > 0 || endStream)
      toClient.push(
        encodeFrame(FrameType.DATA, endStream ? FrameFlag.END_STREAM : 0, stream.clientId, out),
      );
    // The frame goes on without its padding, which the client so never gives credit for.
    if (padding > 0) {
      link.toUpstream.push(encodeWindowUpdate(0, padding));
      if (!endStream) link.toUpstream.push(encodeWindowUpdate(frame.streamId, padding));
    }
  }

  function onReset(frame: Frame): void {
    const stream = toCall(frame);
    if (stream === undefined) return;
    if (stream.call.status === -1) {
      const code = frame.payload.length === 4 ? frame.payload.readUInt32BE(0) : -1;
      stream.call.status = code === H2Error.CANCEL ? GrpcStatus.CANCELLED : GrpcStatus.INTERNAL;
      stream.call.message = `the Spark Connect server reset the call (HTTP/2 error ${String(code)})`;
    }
    link.callEnded(stream);
  }

  function onSettings(frame: Frame): void {
    if ((frame.flags & FrameFlag.ACK) === 0)
      (parseSettings(frame.payload) ?? []).forEach(([id, value], index) => {
        // The client is held to the gateway's stream limit, as on a terminated connection.
        if (id === Setting.MAX_CONCURRENT_STREAMS && value > link.maxConcurrentStreams)
          frame.payload.writeUInt32BE(link.maxConcurrentStreams, index * 6 + 2);
        // The client's encoder may grow its table to what it reads here, and the gateway mirrors
        // that table: the client reads no more than the gateway mirrors.
        if (id === Setting.HEADER_TABLE_SIZE && value > MAX_MIRRORED_TABLE)
          frame.payload.writeUInt32BE(MAX_MIRRORED_TABLE, index * 6 + 2);
        link.serverSetting(id, value);
      });
    toClient.push(frame.raw);
  }

  function onGoaway(frame: Frame): void {
    const lastUpstream = frame.payload.length >= 8 ? frame.payload.readUInt32BE(0) & 0x7fffffff : 0;
    // Calls the server will not process are answered; the client goes to a new connection.
    for (const stream of [...byUpstreamId.values()])
      if (stream.upstreamId > lastUpstream)
        link.answerError(
          stream,
          new GatewayError(
            'GW_BACKEND_UNREACHABLE',
            `the Spark Connect server ${link.backendId()} is shutting down and did not take the call; retry it`,
          ),
        );
    link.goAway('the Spark Connect server is going away');
  }

  return {
    allowTableSize(size) {
      decoder.allowTableSize(Math.min(size, MAX_MIRRORED_TABLE));
    },
    onFrame(frame) {
      if (headerBlocks.open || frame.type === FrameType.HEADERS) {
        const block = headerBlocks.push(frame);
        if (block !== undefined) onHeaderBlock(block);
        return;
      }
      switch (frame.type) {
        case FrameType.DATA:
          onData(frame);
          return;
        case FrameType.RST_STREAM:
          onReset(frame);
          return;
        case FrameType.SETTINGS:
          onSettings(frame);
          return;
        case FrameType.WINDOW_UPDATE:
          if (frame.streamId === 0) toClient.push(frame.raw);
          else toCall(frame);
          return;
        case FrameType.PING:
          toClient.push(frame.raw);
          return;
        case FrameType.GOAWAY:
          onGoaway(frame);
          return;
        case FrameType.CONTINUATION:
          throw new FrameProtocolError('the server sent CONTINUATION without HEADERS');
        case FrameType.PUSH_PROMISE:
          throw new FrameProtocolError('the server sent PUSH_PROMISE');
        default:
          return;
      }
    },
  };
}

function namesSecret(fields: readonly HeaderField[], secret: string): boolean {
  for (const field of fields) if (headerNamesSecret(field[0], field[1], secret)) return true;
  return false;
}

/**
 * A header block for a client whose table no longer follows the server's: the same fields from
 * the static table and literals only, the token masked, after the block's own table size updates
 * (the client's decoder may wait for one after changing its SETTINGS_HEADER_TABLE_SIZE).
 */
function reencoded(
  block: Buffer,
  fields: readonly HeaderField[],
  secret: string | undefined,
): Buffer {
  const masked =
    secret === undefined
      ? fields
      : fields.map((field): HeaderField => [
          maskInText(field[0], secret),
          maskHeaderValue(field[0], field[1], secret),
        ]);
  const updates = leadingSizeUpdates(block);
  const body = encodeHeaderBlock(masked);
  return updates.length === 0 ? body : Buffer.concat([updates, body]);
}
