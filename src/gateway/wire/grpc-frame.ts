// gRPC's length-prefixed messages (a compressed flag byte, a 4-byte big-endian length, the body),
// as the gateway sees them inside HTTP/2 DATA frames: a push decoder that reports where each message
// starts and ends and hands its body on in the slices it arrived in, never collecting it, and an
// encoder for the messages the gateway writes itself.
import { formatSize } from '../../core/units.ts';
import { GatewayError } from '../errors.ts';

/** Flag byte + 4 length bytes. */
export const GRPC_HEADER_BYTES = 5;

export type GrpcMessageEvent =
  | { readonly kind: 'start'; readonly compressed: boolean; readonly length: number }
  | { readonly kind: 'data'; readonly bytes: Buffer }
  | { readonly kind: 'end' };

export interface GrpcMessageDecoderLimits {
  /** Largest message body accepted, in bytes (gRPC's max receive message size). */
  readonly maxMessageBytes: number;
}

export interface GrpcMessageDecoder {
  /**
   * Decodes what `chunk` completes. `data` events are views of `chunk`, not copies. Throws
   * GatewayError on a header that can never be valid, and the same error on every later push.
   */
  push(chunk: Buffer): GrpcMessageEvent[];
  /** No header or body is partly received: the stream may end here. */
  readonly atMessageBoundary: boolean;
  /** Messages completed so far. */
  readonly messages: number;
}

export function encodeGrpcMessage(body: Uint8Array, compressed = false): Buffer {
  const message = Buffer.allocUnsafe(GRPC_HEADER_BYTES + body.length);
  message[0] = compressed ? 1 : 0;
  message.writeUInt32BE(body.length, 1);
  message.set(body, GRPC_HEADER_BYTES);
  return message;
}

export function createGrpcMessageDecoder(limits: GrpcMessageDecoderLimits): GrpcMessageDecoder {
  return new MessageDecoder(limits.maxMessageBytes);
}

// A class, not closures: one is made for every call, so its methods are shared, not allocated.
class MessageDecoder implements GrpcMessageDecoder {
  messages = 0;
  // The header is the only thing ever copied: its 5 bytes may straddle chunks.
  private header: Buffer | undefined;
  private headerFilled = 0;
  /** Body bytes still to come for the current message; -1 while reading a header. */
  private bodyRemaining = -1;
  private failed: GatewayError | undefined;
  private readonly maxMessageBytes: number;

  constructor(maxMessageBytes: number) {
    this.maxMessageBytes = maxMessageBytes;
  }

  get atMessageBoundary(): boolean {
    return this.bodyRemaining < 0 && this.headerFilled === 0;
  }

  push(chunk: Buffer): GrpcMessageEvent[] {
    if (this.failed !== undefined) throw this.failed;
    const events: GrpcMessageEvent[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.bodyRemaining < 0) {
        if (this.headerFilled === 0 && chunk.length - at >= GRPC_HEADER_BYTES) {
          // The whole header in this chunk, as almost always: read in place.
          this.startMessage(chunk, at, events);
          at += GRPC_HEADER_BYTES;
          continue;
        }
        const header = (this.header ??= Buffer.alloc(GRPC_HEADER_BYTES));
        const used = Math.min(GRPC_HEADER_BYTES - this.headerFilled, chunk.length - at);
        chunk.copy(header, this.headerFilled, at, at + used);
        this.headerFilled += used;
        at += used;
        if (this.headerFilled === GRPC_HEADER_BYTES) {
          this.headerFilled = 0;
          this.startMessage(header, 0, events);
        }
        continue;
      }
      const used = Math.min(this.bodyRemaining, chunk.length - at);
      events.push({ kind: 'data', bytes: chunk.subarray(at, at + used) });
      this.bodyRemaining -= used;
      at += used;
      if (this.bodyRemaining === 0) this.finishMessage(events);
    }
    return events;
  }

  /** Checks a complete header before anything is emitted or allocated for its message. */
  private startMessage(bytes: Buffer, at: number, events: GrpcMessageEvent[]): void {
    const flag = bytes[at] ?? 0;
    // A bad flag means the bytes are not gRPC at all, so the "length" after it means nothing.
    if (flag > 1)
      this.fail(
        new GatewayError(
          'GW_MALFORMED_MESSAGE',
          notGrpcMessage(bytes.subarray(at, at + GRPC_HEADER_BYTES)),
        ),
      );
    const length = bytes.readUInt32BE(at + 1);
    if (length > this.maxMessageBytes) {
      this.fail(
        new GatewayError(
          'GW_MESSAGE_TOO_LARGE',
          `gRPC message of ${length} bytes is larger than the limit of ${this.maxMessageBytes} bytes ` +
            `(${formatSize(this.maxMessageBytes)}); send a smaller message or raise the gateway's message size limit`,
        ),
      );
    }
    events.push({ kind: 'start', compressed: flag === 1, length });
    this.bodyRemaining = length;
    if (length === 0) this.finishMessage(events);
  }

  private finishMessage(events: GrpcMessageEvent[]): void {
    events.push({ kind: 'end' });
    this.bodyRemaining = -1;
    this.messages++;
  }

  private fail(error: GatewayError): never {
    this.failed = error;
    throw error;
  }
}

const HTTP1_METHODS = [
  'GET',
  'POST',
  'PUT',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'CONNECT',
  'TRACE',
];

/** Says what the stream looks like instead, from its first five bytes. */
function notGrpcMessage(header: Buffer): string {
  const start =
    'the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1)';
  const text = header.toString('latin1');
  const hex = [...header].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
  // A TLS record: content type 20–23 (handshake is 22), then protocol major version 3.
  if (header[1] === 0x03 && (header[0] ?? 0) >= 0x14 && (header[0] ?? 0) <= 0x17) {
    return `${start}: it begins with a TLS record (${hex}), so the client speaks TLS to a plaintext port; connect without TLS or enable TLS on the gateway`;
  }
  if (text.startsWith('PRI *')) {
    return `${start}: it begins with the HTTP/2 connection preface, which belongs to the HTTP/2 layer, not inside a gRPC stream`;
  }
  if (
    HTTP1_METHODS.some((method) => `${method} `.startsWith(text) || text.startsWith(`${method} `))
  ) {
    return `${start}: it begins like an HTTP/1 request ("${text}"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port`;
  }
  return `${start}: it begins with ${hex}`;
}
