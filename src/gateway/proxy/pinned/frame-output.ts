// Bytes bound for one socket of a pinned connection, gathered while a chunk is read and written
// once at its end. Frames that lie side by side in the buffer they arrived in leave as one slice,
// so a chunk relayed unchanged (its stream ids rewritten in place) costs one write.
import type net from 'node:net';

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
      slices = [];
      last = undefined;
      pending = 0;
      if (target === undefined || target.destroyed || out.length === 0) return true;
      const [only] = out;
      if (out.length === 1 && only !== undefined) return target.write(only);
      target.cork();
      let room = true;
      for (const slice of out) room = target.write(slice);
      target.uncork();
      return room;
    },
  };
}
