// Bounds on what one client connection may do to the gateway and its server, the pinned twin of
// node:http2's streamResetBurst/streamResetRate and rejected-stream limits: a burst is allowed,
// a sustained rate above the refill is not.

export interface AbuseLimits {
  /** A client RST_STREAM; false once the connection reset more than it may. */
  reset(): boolean;
  /** A stream refused for going over the concurrency limit; false once that happens too often. */
  refused(): boolean;
}

function tokenBucket(burst: number, perSecond: number): () => boolean {
  let tokens = burst;
  let at = performance.now();
  return () => {
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - at) / 1000) * perSecond);
    at = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}

export function createAbuseLimits(): AbuseLimits {
  return { reset: tokenBucket(1000, 100), refused: tokenBucket(100, 10) };
}
