// The agent protocol's framing: newline-delimited text lines, except where a line announces raw
// bytes (sink, source), which follow it unframed. A push decoder: any chunk boundary gives the
// same lines, and a line longer than the limit is refused before it is ever joined in memory.

export interface LineHandler {
  /** A whole line, without its `\n` (or `\r\n`). May call `expectRaw` for bytes that follow it. */
  line(text: string): void;
  /** Part of the raw bytes announced by `expectRaw`. */
  raw(chunk: Buffer): void;
  /** The announced raw bytes have all arrived. */
  rawDone(): void;
  /** A line passed the limit; the decoder accepts nothing more. */
  tooLong(bytesWithoutNewline: number): void;
}

export interface LineDecoder {
  push(chunk: Buffer): void;
  /** The next `bytes` bytes after the current line are raw, not lines. */
  expectRaw(bytes: number): void;
  /** Bytes of an unfinished line held now. */
  readonly pendingBytes: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export function createLineDecoder(maxLineBytes: number, handler: LineHandler): LineDecoder {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let rawLeft = 0;
  let broken = false;

  const takeLine = (chunk: Buffer, start: number, end: number): string => {
    const tail = chunk.subarray(start, end);
    const whole = pendingBytes === 0 ? tail : Buffer.concat([...pending, tail]);
    pending = [];
    pendingBytes = 0;
    const length =
      whole.length > 0 && whole[whole.length - 1] === CARRIAGE_RETURN
        ? whole.length - 1
        : whole.length;
    return whole.toString('utf8', 0, length);
  };

  return {
    push(chunk) {
      let offset = 0;
      while (!broken && offset < chunk.length) {
        if (rawLeft > 0) {
          const take = Math.min(rawLeft, chunk.length - offset);
          rawLeft -= take;
          handler.raw(chunk.subarray(offset, offset + take));
          offset += take;
          if (rawLeft === 0) handler.rawDone();
          continue;
        }
        const newline = chunk.indexOf(NEWLINE, offset);
        const end = newline === -1 ? chunk.length : newline;
        // The limit is checked before the pieces are joined, so a flood costs nothing.
        if (pendingBytes + (end - offset) > maxLineBytes) {
          broken = true;
          pending = [];
          handler.tooLong(pendingBytes + (end - offset));
          return;
        }
        if (newline === -1) {
          pending.push(chunk.subarray(offset));
          pendingBytes += chunk.length - offset;
          return;
        }
        const text = takeLine(chunk, offset, newline);
        offset = newline + 1;
        handler.line(text);
      }
    },
    expectRaw(bytes) {
      if (!Number.isSafeInteger(bytes) || bytes < 0)
        throw new RangeError(`raw byte count must be a whole number ≥ 0, not ${String(bytes)}`);
      rawLeft = bytes;
      if (bytes === 0) handler.rawDone();
    },
    get pendingBytes() {
      return pendingBytes;
    },
  };
}
