// Bytes bound for one socket of a pinned connection, gathered while a chunk is read and written
// once at its end. Frames that lie side by side in the buffer they arrived in leave as one slice,
// so a chunk relayed unchanged (its stream ids rewritten in place) costs one write; a few KiB in
// many slices are copied into one buffer, large output is written slice by slice.
import type net from 'node:net';

/** Output up to this size leaves as one copied buffer; larger output as its slices. */
const COPY_BELOW_BYTES = 64 * 1024;

export interface FrameOutput {
  push(bytes: Buffer): void;
  /** Writes what was gathered; false when the socket's buffer is full (wait for 'drain'). */
  flush(): boolean;
  readonly pendingBytes: number;
}

export function createFrameOutput(socket: () => net.Socket | undefined): FrameOutput {
  let slices: Buffer[] = [];
  let last: Buffer | undefined;
  let pending = 0;
  return {
    get pendingBytes() {
      return pending;
    },
    push(bytes) {
      if (bytes.length === 0) return;
      pending += bytes.length;
      if (last?.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
        last = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
        slices[slices.length - 1] = last;
        return;
      }
      last = bytes;
      slices.push(bytes);
    },
    flush() {
      const target = socket();
      const out = slices;
      const total = pending;
      slices = [];
      last = undefined;
      pending = 0;
      if (target === undefined || target.destroyed || out.length === 0) return true;
      const [only] = out;
      if (out.length === 1 && only !== undefined) return target.write(only);
      // Many small slices (a chunk of short calls, each with its own header block) are copied
      // into one buffer: copying a few KiB costs less than a socket write per slice.
      if (total <= COPY_BELOW_BYTES) return target.write(Buffer.concat(out, total));
      target.cork();
      let room = true;
      for (const slice of out) room = target.write(slice);
      target.uncork();
      return room;
    },
  };
}
