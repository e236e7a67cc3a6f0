// HTTP/2 frames as a server's first bytes: a server's connection preface is a SETTINGS frame on
// stream 0, so one frame header proves HTTP/2 (gRPC, Spark Connect) answered. A GOAWAY right after
// it carries the server's complaint, e.g. PROTOCOL_ERROR when it was sent HTTP/1 or Thrift bytes.

export const HTTP2_FRAME_HEADER_BYTES = 9;
const FRAME_SETTINGS = 0x4;
const FRAME_GOAWAY = 0x7;
/** SETTINGS_MAX_FRAME_SIZE's upper bound; anything larger is not an HTTP/2 frame header. */
const MAX_FRAME_LENGTH = 0xffffff;

export const HTTP2_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: 'NO_ERROR',
  1: 'PROTOCOL_ERROR',
  2: 'INTERNAL_ERROR',
  3: 'FLOW_CONTROL_ERROR',
  4: 'SETTINGS_TIMEOUT',
  5: 'STREAM_CLOSED',
  6: 'FRAME_SIZE_ERROR',
  7: 'REFUSED_STREAM',
  8: 'CANCEL',
  9: 'COMPRESSION_ERROR',
  10: 'CONNECT_ERROR',
  11: 'ENHANCE_YOUR_CALM',
  12: 'INADEQUATE_SECURITY',
  13: 'HTTP_1_1_REQUIRED',
};

interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
}

function readFrameHeader(bytes: Buffer, at: number): FrameHeader | undefined {
  if (at + HTTP2_FRAME_HEADER_BYTES > bytes.length) return undefined;
  return {
    length: bytes.readUIntBE(at, 3),
    type: bytes[at + 3] ?? 0,
    flags: bytes[at + 4] ?? 0,
    streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
  };
}

export interface Http2ServerStart {
  /** The SETTINGS frame's length, a multiple of 6. */
  readonly settingsBytes: number;
  /** A GOAWAY among the first frames: its error and debug text. */
  readonly goaway?: { readonly error: string; readonly debug: string };
}

/**
 * Reads a server's first frames. `undefined` when the bytes cannot be an HTTP/2 server's start;
 * `partial` while the first frame header is incomplete.
 */
export function readHttp2ServerStart(bytes: Buffer): Http2ServerStart | 'partial' | undefined {
  const first = readFrameHeader(bytes, 0);
  if (first === undefined) {
    // Only a prefix of a SETTINGS header so far: three length bytes, type 4.
    if (bytes.length > 3 && bytes[3] !== FRAME_SETTINGS) return undefined;
    return bytes.length === 0 || bytes[0] === 0 ? 'partial' : undefined;
  }
  const isSettings =
    first.type === FRAME_SETTINGS &&
    first.streamId === 0 &&
    (first.flags & ~0x1) === 0 &&
    first.length % 6 === 0 &&
    first.length <= MAX_FRAME_LENGTH &&
    first.length <= 6 * 64;
  if (!isSettings) return undefined;
  const start: { settingsBytes: number; goaway?: { error: string; debug: string } } = {
    settingsBytes: first.length,
  };
  let at = HTTP2_FRAME_HEADER_BYTES + first.length;
  for (let frames = 0; frames < 8; frames++) {
    const header = readFrameHeader(bytes, at);
    if (header === undefined || at + HTTP2_FRAME_HEADER_BYTES + header.length > bytes.length) break;
    const payload = bytes.subarray(
      at + HTTP2_FRAME_HEADER_BYTES,
      at + HTTP2_FRAME_HEADER_BYTES + header.length,
    );
    if (header.type === FRAME_GOAWAY && payload.length >= 8) {
      const code = payload.readUInt32BE(4);
      start.goaway = {
        error: HTTP2_ERROR_NAMES[code] ?? `error ${String(code)}`,
        debug: payload.subarray(8, 8 + 200).toString('utf8'),
      };
      break;
    }
    at += HTTP2_FRAME_HEADER_BYTES + header.length;
  }
  return start;
}
