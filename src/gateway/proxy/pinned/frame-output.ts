// Bytes bound for one socket of a pinned connection, gathered while a chunk is read and written
// once at its end. Frames that lie side by side in the buffer they arrived in leave as one slice,
// so a chunk relayed unchanged (its stream ids rewritten in place) costs one write; a few slices
// are copied into one slab, larger output is written slice by slice. The output also knows when
// its socket is done with what it was given, and only then gives the slabs it holds back.
import type net from 'node:net';
import type { SlabPool } from './slab-pool.ts';

/** Output up to this size in several slices leaves as one copied slab; larger output as its slices. */
const COPY_BELOW_BYTES = 64 * 1024;

export interface FrameOutput {
  push(bytes: Buffer): void;
  /** Writes what was gathered; false when the socket's buffer is full (wait for 'drain'). */
  flush(): boolean;
  /**
   * `bytes` lie in a slab of the pool that what was pushed so far may refer to: the slab goes
   * back once the socket has written all of it.
   */
  retain(bytes: Buffer): void;
  readonly pendingBytes: number;
}

export function createFrameOutput(
  socket: () => net.Socket | undefined,
  slabs: SlabPool,
): FrameOutput {
  let slices: Buffer[] = [];
  let last: Buffer | undefined;
  let pending = 0;
  let retained: Buffer[] = [];
  let waitingForDrain: net.Socket | undefined;

  /** Gives the held slabs back when no write refers to them: nothing gathered, nothing queued. */
  function giveBackIfWritten(): void {
    if (retained.length === 0 || pending > 0) return;
    const target = socket();
    // A destroyed socket may still hold a write: its slabs are left to the collector.
    if (target?.destroyed === true) {
      retained = [];
      return;
    }
    if (target !== undefined && target.writableLength > 0) {
      if (waitingForDrain !== target) {
        waitingForDrain = target;
        target.once('drain', () => {
          waitingForDrain = undefined;
          giveBackIfWritten();
        });
      }
      return;
    }
    for (const bytes of retained) slabs.giveBack(bytes);
    retained = [];
  }

  function write(target: net.Socket, out: Buffer[], total: number): boolean {
    const [only] = out;
    if (out.length === 1 && only !== undefined) return target.write(only);
    // A few slices (a chunk of short calls, each with its own header block, or a frame completed
    // from two reads and the frames after it) are copied into one slab: copying them costs less
    // than a socket write per slice.
    if (total <= COPY_BELOW_BYTES) {
      const slab = slabs.take(total);
      let at = 0;
      for (const slice of out) at += slice.copy(slab, at);
      retained.push(slab);
      return target.write(slab.subarray(0, total));
    }
    target.cork();
    let room = true;
    for (const slice of out) room = target.write(slice);
    target.uncork();
    return room;
  }

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
      let room = true;
      if (target !== undefined && !target.destroyed && out.length > 0)
        room = write(target, out, total);
      giveBackIfWritten();
      return room;
    },
    retain(bytes) {
      retained.push(bytes);
      giveBackIfWritten();
    },
  };
}
