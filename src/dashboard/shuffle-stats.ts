// What the shuffle service has served, for the dashboard: blocks, chunks and bytes since the
// dashboard started, and the rate over the last seconds. Counted from the same chunk-served
// events the Prometheus counters are, so no counting is added to the fetch path; the rate is
// kept in one-second buckets, so no timer runs.
import { shuffleChannels } from '../shuffle/observability.ts';

export interface ShuffleTotals {
  readonly blocks: number;
  readonly chunks: number;
  readonly bytes: number;
  /** Over the last `windowSeconds` whole seconds. */
  readonly bytesPerSecond: number;
  readonly blocksPerSecond: number;
  readonly windowSeconds: number;
  readonly since: number;
}

export interface ShuffleStats {
  totals(): ShuffleTotals;
  /** Stops counting. */
  close(): void;
}

const WINDOW_SECONDS = 10;

interface Bucket {
  second: number;
  bytes: number;
  blocks: number;
}

export function createShuffleStats(now: () => number = Date.now): ShuffleStats {
  const since = now();
  let blocks = 0;
  let chunks = 0;
  let bytes = 0;
  // One more bucket than the window: the current second is still filling and is left out.
  const buckets: Bucket[] = Array.from({ length: WINDOW_SECONDS + 1 }, () => ({
    second: -1,
    bytes: 0,
    blocks: 0,
  }));
  const bucketFor = (second: number): Bucket => {
    const bucket = buckets[second % buckets.length] ?? { second, bytes: 0, blocks: 0 };
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.bytes = 0;
      bucket.blocks = 0;
    }
    return bucket;
  };
  const stop = shuffleChannels.chunkServed.subscribe((event) => {
    blocks += event.blocks;
    chunks += 1;
    bytes += event.bytes;
    const bucket = bucketFor(Math.floor(now() / 1000));
    bucket.bytes += event.bytes;
    bucket.blocks += event.blocks;
  });
  return {
    totals() {
      const current = Math.floor(now() / 1000);
      // Until the dashboard has run a whole window, divide by the seconds it has run.
      const elapsed = Math.min(WINDOW_SECONDS, Math.max(1, current - Math.floor(since / 1000)));
      let windowBytes = 0;
      let windowBlocks = 0;
      for (const bucket of buckets)
        if (bucket.second < current && bucket.second >= current - elapsed) {
          windowBytes += bucket.bytes;
          windowBlocks += bucket.blocks;
        }
      return {
        blocks,
        chunks,
        bytes,
        bytesPerSecond: windowBytes / elapsed,
        blocksPerSecond: windowBlocks / elapsed,
        windowSeconds: elapsed,
        since,
      };
    },
    close: stop,
  };
}
