// The buffers pinned connections read their servers' bytes into, lent out and taken back. A
// streamed result read into a new buffer per socket read (Node's default) allocates its whole
// size again as ArrayBuffers, and V8 answers that much external memory with full collections of
// the gateway's heap: about a third of the relay's CPU per MiB. Slabs go back once nothing
// refers to them (frame-output.ts knows when a write is done with one) and are read into again.
//
// Two sizes: a connection that reads little (calls, or nothing) holds a small slab for its next
// read; one that streams reads a large slab at a time, a quarter of the reads and callbacks of
// Node's 64 KiB per read.

export const SMALL_SLAB_BYTES = 16 * 1024;
export const LARGE_SLAB_BYTES = 256 * 1024;

export interface SlabPool {
  /** A whole slab of the smaller size that holds `bytes` (at most LARGE_SLAB_BYTES). */
  take(bytes: number): Buffer;
  /**
   * Bytes inside a slab nothing refers to any more: the slab is free again. Anything else (a
   * buffer this pool did not lend, a slab already back) is left alone.
   */
  giveBack(bytes: Uint8Array): void;
  /** Slabs free now, of both sizes. */
  readonly free: number;
}

/** Free slabs kept of each size; more than that are left to the collector. */
export interface SlabLimits {
  readonly small: number;
  readonly large: number;
}

export function createSlabPool(limits: SlabLimits): SlabPool {
  const lent = new WeakSet<ArrayBufferLike>();
  // Sets, so that a slab given back twice is free once.
  const freeSmall = new Set<ArrayBufferLike>();
  const freeLarge = new Set<ArrayBufferLike>();
  return {
    get free() {
      return freeSmall.size + freeLarge.size;
    },
    take(bytes) {
      if (bytes > LARGE_SLAB_BYTES)
        throw new RangeError(
          `no slab holds ${String(bytes)} bytes (at most ${String(LARGE_SLAB_BYTES)})`,
        );
      const free = bytes <= SMALL_SLAB_BYTES ? freeSmall : freeLarge;
      for (const slab of free) {
        free.delete(slab);
        return Buffer.from(slab);
      }
      const slab = Buffer.allocUnsafeSlow(
        bytes <= SMALL_SLAB_BYTES ? SMALL_SLAB_BYTES : LARGE_SLAB_BYTES,
      );
      lent.add(slab.buffer);
      return slab;
    },
    giveBack(bytes) {
      const slab = bytes.buffer;
      if (!lent.has(slab)) return;
      if (slab.byteLength === SMALL_SLAB_BYTES) {
        if (freeSmall.size < limits.small) freeSmall.add(slab);
      } else if (freeLarge.size < limits.large) freeLarge.add(slab);
    },
  };
}
