// A push decoder for Spark's transport frames: feed it socket chunks of any size and it hands
// each complete message to the dispatcher. It checks a frame's length before it buffers the frame,
// and passes the raw bytes that follow a StreamResponse or UploadStream frame through as they
// arrive, never collecting them.
import { ShuffleError } from '../errors.ts';
import { decodeMessage, trailingByteCount, type TransportMessage } from './messages.ts';

export interface FrameDispatcher {
  message(message: TransportMessage): void;
  /** Raw bytes that follow the last message (StreamResponse or UploadStream body), in order. */
  rawBody(chunk: Buffer): void;
  /** All raw bytes of the last message have arrived. */
  rawBodyEnd(): void;
}

export interface FrameDecoderLimits {
  /** Largest frame accepted, header and in-frame body included. */
  readonly maxFrameBytes: number;
}

const LENGTH_BYTES = 8;

export interface FrameDecoder {
  /** Decodes what it can; throws ShuffleError on a frame that can never be valid. */
  push(chunk: Buffer): void;
  /** Bytes received but not yet handed on (part of a frame). */
  readonly buffered: number;
}

export function createFrameDecoder(
  dispatcher: FrameDispatcher,
  limits: FrameDecoderLimits,
): FrameDecoder {
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Length of the frame being collected (after its 8 length bytes), once known. */
  let frameBodyBytes = -1;
  /** Raw bytes still to pass through before framing resumes. */
  let rawRemaining = 0n;
  let failed: ShuffleError | undefined;

  const take = (bytes: number): Buffer => {
    const first = pending[0];
    if (first !== undefined && first.length >= bytes) {
      const out = first.subarray(0, bytes);
      if (first.length === bytes) pending.shift();
      else pending[0] = first.subarray(bytes);
      pendingBytes -= bytes;
      return out;
    }
    const out = Buffer.allocUnsafe(bytes);
    let filled = 0;
    while (filled < bytes) {
      const head = pending[0];
      if (head === undefined) break;
      const used = Math.min(head.length, bytes - filled);
      head.copy(out, filled, 0, used);
      filled += used;
      if (used === head.length) pending.shift();
      else pending[0] = head.subarray(used);
    }
    pendingBytes -= bytes;
    return out;
  };

  const passRaw = (): void => {
    while (rawRemaining > 0n && pendingBytes > 0) {
      const head = pending[0];
      if (head === undefined) break;
      const bytes = Number(rawRemaining < BigInt(head.length) ? rawRemaining : BigInt(head.length));
      dispatcher.rawBody(take(bytes));
      rawRemaining -= BigInt(bytes);
      if (rawRemaining === 0n) dispatcher.rawBodyEnd();
    }
  };

  const fail = (message: string): never => {
    failed = new ShuffleError('ESS_FRAME_TOO_LARGE', message);
    throw failed;
  };

  return {
    get buffered() {
      return pendingBytes;
    },
    push(chunk) {
      if (failed !== undefined) throw failed;
      if (chunk.length === 0) return;
      pending.push(chunk);
      pendingBytes += chunk.length;
      for (;;) {
        if (rawRemaining > 0n) {
          passRaw();
          if (rawRemaining > 0n) return;
        }
        if (frameBodyBytes < 0) {
          if (pendingBytes < LENGTH_BYTES) return;
          const frameLength = take(LENGTH_BYTES).readBigInt64BE(0);
          if (frameLength <= BigInt(LENGTH_BYTES))
            fail(`Frame length should be positive: ${frameLength - 8n}`);
          if (frameLength > BigInt(limits.maxFrameBytes)) {
            fail(
              `Too large frame: ${frameLength - 8n} bytes (this service accepts at most ${limits.maxFrameBytes})`,
            );
          }
          frameBodyBytes = Number(frameLength) - LENGTH_BYTES;
        }
        if (pendingBytes < frameBodyBytes) return;
        const frame = take(frameBodyBytes);
        frameBodyBytes = -1;
        let message: TransportMessage;
        try {
          message = decodeMessage(frame);
        } catch (error) {
          failed =
            error instanceof ShuffleError
              ? error
              : new ShuffleError('ESS_BAD_MESSAGE', String(error));
          throw failed;
        }
        rawRemaining = trailingByteCount(message);
        dispatcher.message(message);
        if (
          rawRemaining === 0n &&
          (message.type === 'StreamResponse' || message.type === 'UploadStream')
        )
          dispatcher.rawBodyEnd();
        if (pendingBytes === 0 && rawRemaining === 0n) return;
      }
    },
  };
}
