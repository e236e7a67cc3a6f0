// The dashboard's small pieces of state: shuffle throughput from chunk-served events, anti-forgery
// tokens bound to a principal, action notices kept per principal, and how numbers are written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCsrfTokens, createNotices } from '../../../src/dashboard/dashboard-actions.ts';
import { formatBytes, formatDuration } from '../../../src/dashboard/section.ts';
import { createShuffleStats } from '../../../src/dashboard/shuffle-stats.ts';
import { shuffleChannels } from '../../../src/shuffle/observability.ts';

const served = (blocks: number, bytes: number): void => {
  shuffleChannels.chunkServed.publish({ appId: 'app', blocks, bytes, mode: 'chunk' });
};

describe('shuffle stats', () => {
  it('counts what was served and the rate over whole seconds of the last ten', () => {
    let now = 1_000_000;
    const stats = createShuffleStats(() => now);
    try {
      served(2, 1000);
      now += 1000;
      served(3, 3000);
      now += 1500;
      served(1, 5000); // the current second: not in the rate yet
      const totals = stats.totals();
      assert.deepEqual(
        { blocks: totals.blocks, chunks: totals.chunks, bytes: totals.bytes },
        { blocks: 6, chunks: 3, bytes: 9000 },
      );
      assert.equal(totals.windowSeconds, 2);
      assert.equal(totals.bytesPerSecond, 2000);
      assert.equal(totals.blocksPerSecond, 2.5);
      now += 30_000;
      const later = stats.totals();
      assert.equal(later.windowSeconds, 10);
      assert.equal(later.bytesPerSecond, 0, 'old seconds fall out of the window');
      assert.equal(later.bytes, 9000);
    } finally {
      stats.close();
    }
    served(1, 1);
    assert.equal(stats.totals().bytes, 9000, 'closed stats count nothing more');
  });
});

describe('anti-forgery tokens', () => {
  it('accepts the token issued for the same principal only', () => {
    const tokens = createCsrfTokens();
    const alice = tokens.issue('alice');
    assert.equal(tokens.verify('alice', alice), true);
    assert.equal(tokens.verify('bob', alice), false);
    assert.equal(tokens.verify(undefined, alice), false);
    assert.equal(tokens.verify(undefined, tokens.issue(undefined)), true);
    assert.equal(tokens.verify('alice', undefined), false);
    assert.equal(tokens.verify('alice', `${alice}x`), false);
    assert.equal(createCsrfTokens().verify('alice', alice), false, 'another process, another key');
  });
});

describe('notices', () => {
  it('shows a notice to the principal who acted, for a while', () => {
    let now = 0;
    const notices = createNotices(() => now);
    const id = notices.add('alice', { ok: true, text: 'drained' });
    assert.deepEqual(notices.get(id, 'alice'), { ok: true, text: 'drained' });
    assert.equal(notices.get(id, 'bob'), undefined);
    assert.equal(notices.get('made-up', 'alice'), undefined);
    assert.equal(notices.get(null, 'alice'), undefined);
    now += 10 * 60_000;
    assert.equal(notices.get(id, 'alice'), undefined);
  });

  it('keeps only the latest few', () => {
    const notices = createNotices();
    const first = notices.add(undefined, { ok: true, text: 'first' });
    for (let i = 0; i < 100; i++) notices.add(undefined, { ok: true, text: String(i) });
    assert.equal(notices.get(first, undefined), undefined);
  });
});

describe('formatting', () => {
  it('writes sizes and durations short', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(384 * 1024), '384 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
    assert.equal(formatDuration(45_400), '45 s');
    assert.equal(formatDuration(192_000), '3 m 12 s');
    assert.equal(formatDuration(7_500_000), '2 h 5 m');
    assert.equal(formatDuration(-5), '0 s');
  });
});
