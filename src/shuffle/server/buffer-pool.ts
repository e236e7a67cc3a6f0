// The service's read buffers: a fixed number of fixed-size pieces shared by every connection.
// Every byte read from a shuffle file goes through one and is given back once the socket has
// taken it, so the memory the service uses for data is bounded by the pool, whatever the number
// of connections or how slowly they read. A request that finds the pool empty waits its turn.

export interface BufferPool {
  /** A piece, waiting for one to be given back when all are in use. */
  acquire(): Promise<Buffer>;
  /** A piece now, or undefined when fewer than `reserve` would be left (read-ahead is optional). */
  tryAcquire(reserve: number): Buffer | undefined;
  release(piece: Buffer): void;
  readonly pieceBytes: number;
  readonly inUse: number;
  readonly capacity: number;
}

export function createBufferPool(options: {
  readonly pieceBytes: number;
  readonly pieces: number;
}): BufferPool {
  const free: Buffer[] = [];
  const waiting: ((piece: Buffer) => void)[] = [];
  let allocated = 0;
  let inUse = 0;

  const take = (): Buffer | undefined => {
    const piece = free.pop();
    if (piece !== undefined) return piece;
    if (allocated >= options.pieces) return undefined;
    allocated++;
    // Pieces are reused, never returned to the allocator: allocUnsafeSlow keeps them out of
    // Node's shared small-buffer pool.
    return Buffer.allocUnsafeSlow(options.pieceBytes);
  };

  return {
    pieceBytes: options.pieceBytes,
    capacity: options.pieces,
    get inUse() {
      return inUse;
    },

    acquire() {
      const piece = take();
      if (piece !== undefined) {
        inUse++;
        return Promise.resolve(piece);
      }
      return new Promise((resolve) => {
        waiting.push((given) => {
          inUse++;
          resolve(given);
        });
      });
    },
    tryAcquire(reserve) {
      if (options.pieces - inUse <= reserve) return undefined;
      const piece = take();
      if (piece !== undefined) inUse++;
      return piece;
    },
    release(piece) {
      inUse--;
      const next = waiting.shift();
      if (next !== undefined) next(piece);
      else free.push(piece);
    },
  };
}
