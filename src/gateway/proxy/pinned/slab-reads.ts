// A pinned connection's server read into slabs of the pool (slab-pool.ts): the socket reads into
// them, the frame parser completes a frame cut by a read's end in one, and every slab then goes
// to the client's output, which gives it back once the client's socket has written it.
import net from 'node:net';
import type { FrameBuffers } from '../../wire/h2-frames.ts';
import type { FrameOutput } from './frame-output.ts';
import { LARGE_SLAB_BYTES, SMALL_SLAB_BYTES, type SlabPool } from './slab-pool.ts';

/** A TCP connection whose reads are handed to `onRead` (valid only during the call). */
export function connectReadingSlabs(
  target: { readonly host: string; readonly port: number },
  slabs: SlabPool,
  toClient: FrameOutput,
  onRead: (chunk: Buffer) => void,
): net.Socket {
  // A server that sent a small slab's worth at once is read a large slab at a time.
  let nextRead = SMALL_SLAB_BYTES;
  const socket = net.connect({
    host: target.host,
    port: target.port,
    onread: {
      buffer: () => slabs.take(nextRead),
      callback: (bytes, slab) => {
        nextRead = bytes >= SMALL_SLAB_BYTES ? LARGE_SLAB_BYTES : SMALL_SLAB_BYTES;
        const read = Buffer.from(slab.buffer, slab.byteOffset, bytes);
        onRead(read);
        // What the client was sent of it may still wait in its socket.
        toClient.retain(read);
        return true;
      },
    },
  });
  socket.setNoDelay(true);
  // Flowing, so that the server's end of the connection is seen ('end', then 'close').
  socket.resume();
  return socket;
}

/** Where the server's frame parser completes a cut frame: a slab, given to the client's output. */
export function slabFrameBuffers(slabs: SlabPool, toClient: FrameOutput): FrameBuffers {
  return {
    allocate: (size) =>
      size <= LARGE_SLAB_BYTES ? slabs.take(size).subarray(0, size) : Buffer.allocUnsafe(size),
    emitted: (buffer) => {
      toClient.retain(buffer);
    },
  };
}
