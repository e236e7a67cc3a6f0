// Splits a byte stream into text lines, as a push decoder: `push(chunk)` returns the lines that
// chunk completed, whatever the chunk boundaries (inside a line, between `\r` and `\n`, inside a
// UTF-8 sequence). A line longer than the limit keeps its first `maxLineBytes` bytes and drops the
// rest before it is ever buffered, so a log with a gigabyte-long line costs no more memory.

export interface LineSplitter {
  /** The lines this chunk completed, without their `\n` or `\r\n`. */
  push(chunk: Uint8Array): string[];
  /** The last line when the input does not end with a newline. */
  end(): string[];
}

export const DEFAULT_MAX_LINE_BYTES = 256 * 1024;

export function createLineSplitter(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES): LineSplitter {
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new RangeError(`maxLineBytes must be a whole number of at least 1, not ${maxLineBytes}`);
  }
  const decoder = new TextDecoder('utf-8');
  let pieces: Uint8Array[] = [];
  let kept = 0;

  const take = (bytes: Uint8Array): void => {
    const room = maxLineBytes - kept;
    if (room <= 0 || bytes.length === 0) return;
    const piece = bytes.length > room ? bytes.subarray(0, room) : bytes;
    // Copy (a Buffer's slice() would not): the caller may reuse its chunk after push returns.
    pieces.push(new Uint8Array(piece));
    kept += piece.length;
  };

  const finishLine = (): string => {
    const bytes = pieces.length === 1 ? (pieces[0] ?? new Uint8Array()) : concat(pieces, kept);
    pieces = [];
    kept = 0;
    const text = decoder.decode(bytes);
    return text.endsWith('\r') ? text.slice(0, -1) : text;
  };

  return {
    push(chunk) {
      const lines: string[] = [];
      let start = 0;
      for (
        let newline = chunk.indexOf(0x0a);
        newline !== -1;
        newline = chunk.indexOf(0x0a, start)
      ) {
        take(chunk.subarray(start, newline));
        lines.push(finishLine());
        start = newline + 1;
      }
      take(chunk.subarray(start));
      return lines;
    },
    end() {
      return kept === 0 ? [] : [finishLine()];
    },
  };
}

function concat(pieces: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const piece of pieces) {
    out.set(piece, offset);
    offset += piece.length;
  }
  return out;
}
