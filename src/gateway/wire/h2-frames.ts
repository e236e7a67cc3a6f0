// HTTP/2 frames as bytes (RFC 9113 §4, §6): a push parser that cuts a connection's byte stream
// into whole frames, and encoders for the few frames the gateway writes itself. Pure functions and
// buffers only; what a frame means to a call is decided by the relay that reads them.

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const FrameFlag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const H2Error = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const FRAME_HEADER_BYTES = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value, and the least any peer may announce. */
export const DEFAULT_MAX_FRAME_PAYLOAD = 16_384;
/** The largest frame payload HTTP/2 can express (a 24-bit length). */
export const MAX_FRAME_PAYLOAD = 0xffffff;
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  /** The payload, padding included (see `unpadded`). */
  readonly payload: Buffer;
  /** Header and payload as they arrived; its stream id may be rewritten in place. */
  readonly raw: Buffer;
}

/** A peer broke a rule of HTTP/2 framing (RFC 9113): the connection cannot go on. */
export class FrameProtocolError extends Error {}

export class FrameSizeError extends Error {
  readonly length: number;
  constructor(length: number, limit: number) {
    super(`an HTTP/2 frame of ${String(length)} bytes is larger than the ${String(limit)} allowed`);
    this.length = length;
  }
}

export interface FrameParser {
  /** Calls `onFrame` for every whole frame; a frame cut by the chunk's end waits for the next. */
  push(chunk: Buffer, onFrame: (frame: Frame) => void): void;
  /** The largest payload accepted; checked before a frame's bytes are collected. */
  maxPayload: number;
  /** Bytes of an incomplete frame held until the rest arrives. */
  readonly pendingBytes: number;
}

/** Where a cut frame is completed: a buffer of `size` bytes, and a call once it was emitted. */
export interface FrameBuffers {
  allocate(size: number): Buffer;
  /** The frame completed in `buffer` was emitted and `onFrame` returned: its buffer is the caller's. */
  emitted(buffer: Buffer): void;
}

const OWN_BUFFERS: FrameBuffers = {
  allocate: (size) => Buffer.allocUnsafe(size),
  emitted: () => undefined,
};

export function createFrameParser(
  maxPayload: number,
  buffers: FrameBuffers = OWN_BUFFERS,
): FrameParser {
  // A frame cut by a chunk's end: its header collected here, then the whole frame in `partial`,
  // allocated once its length is known (and checked). Only a cut frame's bytes are ever copied.
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  let headerFilled = 0;
  let partial: Buffer | undefined;
  let partialFilled = 0;

  const emit = (bytes: Buffer, at: number, end: number, onFrame: (frame: Frame) => void): void => {
    onFrame({
      type: bytes.readUInt8(at + 3),
      flags: bytes.readUInt8(at + 4),
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + FRAME_HEADER_BYTES, end),
      raw: bytes.subarray(at, end),
    });
  };
  const checked = (length: number): number => {
    if (length > parser.maxPayload) throw new FrameSizeError(length, parser.maxPayload);
    return length;
  };

  /** Goes on with a cut frame; returns where the chunk's own frames begin (or its length). */
  const resume = (chunk: Buffer, onFrame: (frame: Frame) => void): number => {
    let at = 0;
    if (partial === undefined) {
      const used = Math.min(FRAME_HEADER_BYTES - headerFilled, chunk.length);
      chunk.copy(header, headerFilled, 0, used);
      headerFilled += used;
      at = used;
      if (headerFilled < FRAME_HEADER_BYTES) return at;
      partial = buffers.allocate(FRAME_HEADER_BYTES + checked(header.readUIntBE(0, 3)));
      header.copy(partial);
      partialFilled = FRAME_HEADER_BYTES;
      headerFilled = 0;
    }
    const used = Math.min(partial.length - partialFilled, chunk.length - at);
    chunk.copy(partial, partialFilled, at, at + used);
    partialFilled += used;
    at += used;
    if (partialFilled === partial.length) {
      const frame = partial;
      partial = undefined;
      emit(frame, 0, frame.length, onFrame);
      buffers.emitted(frame);
    }
    return at;
  };

  const parser: FrameParser = {
    maxPayload,
    get pendingBytes() {
      return headerFilled + (partial === undefined ? 0 : partialFilled);
    },
    push(chunk, onFrame) {
      let at = headerFilled > 0 || partial !== undefined ? resume(chunk, onFrame) : 0;
      if (headerFilled > 0 || partial !== undefined) return;
      while (chunk.length - at >= FRAME_HEADER_BYTES) {
        const end = at + FRAME_HEADER_BYTES + checked(chunk.readUIntBE(at, 3));
        if (end > chunk.length) break;
        emit(chunk, at, end, onFrame);
        at = end;
      }
      // The rest is the start of a frame; copied, as the caller may reuse the chunk it gave.
      if (at < chunk.length) resume(chunk.subarray(at), onFrame);
    },
  };
  return parser;
}

export interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  /** The HPACK block: the HEADERS and CONTINUATION payloads joined. */
  readonly block: Buffer;
  /** The frames as they arrived, to pass on as they are. */
  readonly frames: Buffer[];
}

export interface HeaderBlockReader {
  /**
   * Takes HEADERS and CONTINUATION frames; returns the block once END_HEADERS came. Throws a
   * FrameProtocolError for a CONTINUATION out of place or another frame inside a block.
   */
  push(frame: Frame): HeaderBlock | undefined;
  /** Whether a block started and did not end yet: only its CONTINUATION may come next. */
  readonly open: boolean;
}

export function createHeaderBlockReader(): HeaderBlockReader {
  let open: { streamId: number; endStream: boolean; parts: Buffer[]; frames: Buffer[] } | undefined;
  return {
    get open() {
      return open !== undefined;
    },
    push(frame) {
      let part: Buffer | undefined = frame.payload;
      if (open === undefined) {
        if (frame.type !== FrameType.HEADERS)
          throw new FrameProtocolError('a CONTINUATION frame without HEADERS');
        part = unpadded(frame);
        if (part === undefined || frame.streamId === 0)
          throw new FrameProtocolError('a malformed HEADERS frame');
        const endStream = (frame.flags & FrameFlag.END_STREAM) !== 0;
        if ((frame.flags & FrameFlag.END_HEADERS) !== 0)
          return { streamId: frame.streamId, endStream, block: part, frames: [frame.raw] };
        open = { streamId: frame.streamId, endStream, parts: [], frames: [] };
      } else if (frame.type !== FrameType.CONTINUATION || frame.streamId !== open.streamId)
        throw new FrameProtocolError('a header block was cut off by another frame');
      // A block of several frames may span reads: its frames are copied, as the buffer they
      // arrived in may be read into again before the block ends.
      const raw = Buffer.from(frame.raw);
      const partAt = part.byteOffset - frame.raw.byteOffset;
      open.frames.push(raw);
      open.parts.push(raw.subarray(partAt, partAt + part.length));
      if ((frame.flags & FrameFlag.END_HEADERS) === 0) return undefined;
      const { streamId, endStream, parts, frames } = open;
      open = undefined;
      const [only] = parts;
      return {
        streamId,
        endStream,
        block: parts.length === 1 && only !== undefined ? only : Buffer.concat(parts),
        frames,
      };
    },
  };
}

/** A frame's payload without its padding; undefined when the padding is longer than the frame. */
export function unpadded(frame: Frame): Buffer | undefined {
  if ((frame.flags & FrameFlag.PADDED) === 0) {
    if (frame.type === FrameType.HEADERS && (frame.flags & FrameFlag.PRIORITY) !== 0)
      return frame.payload.length < 5 ? undefined : frame.payload.subarray(5);
    return frame.payload;
  }
  if (frame.payload.length < 1) return undefined;
  const padding = frame.payload.readUInt8(0);
  let start = 1;
  if (frame.type === FrameType.HEADERS && (frame.flags & FrameFlag.PRIORITY) !== 0) start += 5;
  const end = frame.payload.length - padding;
  return end < start ? undefined : frame.payload.subarray(start, end);
}

export function setStreamId(raw: Buffer, streamId: number): void {
  raw.writeUInt32BE(streamId & 0x7fffffff, 5);
}

export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = EMPTY,
): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame[0] = (payload.length >>> 16) & 0xff;
  frame[1] = (payload.length >>> 8) & 0xff;
  frame[2] = payload.length & 0xff;
  frame[3] = type;
  frame[4] = flags;
  frame.writeUInt32BE(streamId & 0x7fffffff, 5);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

const EMPTY = new Uint8Array(0);

/** A header block as HEADERS plus as many CONTINUATION frames as `maxPayload` requires. */
export function encodeHeaderFrames(
  streamId: number,
  block: Buffer,
  endStream: boolean,
  maxPayload: number,
): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  do {
    const piece = block.subarray(at, at + maxPayload);
    at += piece.length;
    const last = at >= block.length;
    const type = frames.length === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    let flags = last ? FrameFlag.END_HEADERS : 0;
    if (type === FrameType.HEADERS && endStream) flags |= FrameFlag.END_STREAM;
    frames.push(encodeFrame(type, flags, streamId, piece));
  } while (at < block.length);
  return frames;
}

export function encodeSettings(settings: readonly (readonly [number, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value, index * 6 + 2);
  });
  return encodeFrame(FrameType.SETTINGS, 0, 0, payload);
}

/** The settings of a SETTINGS frame, in order; undefined when its length is not a multiple of 6. */
export function parseSettings(payload: Buffer): [number, number][] | undefined {
  if (payload.length % 6 !== 0) return undefined;
  const settings: [number, number][] = [];
  for (let at = 0; at < payload.length; at += 6)
    settings.push([payload.readUInt16BE(at), payload.readUInt32BE(at + 2)]);
  return settings;
}

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff, 0);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function encodeRstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function encodeGoaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
}

export function encodePingAck(payload: Buffer): Buffer {
  return encodeFrame(FrameType.PING, FrameFlag.ACK, 0, payload);
}
