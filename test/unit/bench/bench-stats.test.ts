// Percentiles by nearest rank, latency summaries, and failures grouped so that equal failures
// with different ids count as one line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createBenchStats,
  grpcStatusName,
  normalizeErrorMessage,
  percentile,
  summarize,
} from '../../../src/bench/bench-stats.ts';

describe('percentile', () => {
  const hundred = Array.from({ length: 100 }, (_, index) => index + 1);

  it('is the smallest value with that share of values at or below it', () => {
    assert.equal(percentile(hundred, 0.5), 50);
    assert.equal(percentile(hundred, 0.9), 90);
    assert.equal(percentile(hundred, 0.99), 99);
    assert.equal(percentile(hundred, 1), 100);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4, 5], 0.5), 3);
  });

  it('rounds the rank up, so few samples give the upper value', () => {
    assert.equal(percentile([10, 20], 0.9), 20);
    assert.equal(percentile([10, 20, 30], 0.99), 30);
    assert.equal(percentile([7], 0.5), 7);
    assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.91), 10);
  });

  it('gives the first value for a fraction of 0 and NaN for no values', () => {
    assert.equal(percentile([3, 4], 0), 3);
    assert.ok(Number.isNaN(percentile([], 0.5)));
  });
});

describe('summarize', () => {
  it('sorts numerically, not as text', () => {
    const summary = summarize([100, 9, 20, 3, 1000]);
    assert.deepEqual(summary, { count: 5, p50: 20, p90: 1000, p99: 1000, max: 1000, mean: 226.4 });
  });

  it('has a count of 0 and NaN figures for no values', () => {
    const summary = summarize([]);
    assert.equal(summary.count, 0);
    assert.ok(Number.isNaN(summary.p50) && Number.isNaN(summary.max) && Number.isNaN(summary.mean));
  });
});

describe('grpcStatusName', () => {
  it('names gRPC status codes, and says when there was none', () => {
    assert.equal(grpcStatusName(14), 'UNAVAILABLE');
    assert.equal(grpcStatusName(0), 'OK');
    assert.equal(grpcStatusName(-1), 'NO_STATUS');
    assert.equal(grpcStatusName(99), 'STATUS_99');
  });
});

describe('normalizeErrorMessage', () => {
  it('replaces ids, joins lines and cuts long messages', () => {
    assert.equal(
      normalizeErrorMessage(
        'session 6F1C0A52-1B2C-4D3E-8F90-1234567890AB is gone:\n  server\tdown',
      ),
      'session <id> is gone: server down',
    );
    const long = normalizeErrorMessage('x'.repeat(1000));
    assert.equal(long.length, 300);
    assert.ok(long.endsWith('…'));
  });
});

describe('createBenchStats', () => {
  it('keeps latencies of succeeded queries by kind and counts failures by kind', () => {
    const stats = createBenchStats();
    stats.record({ kind: 'a', sessionIndex: 0, ok: true, latencyMs: 5, rows: 1, arrowBytes: 100 });
    stats.record({ kind: 'a', sessionIndex: 1, ok: true, latencyMs: 7, rows: 1, arrowBytes: 100 });
    stats.record({
      kind: 'b',
      sessionIndex: 0,
      ok: false,
      latencyMs: 50,
      rows: 0,
      arrowBytes: 0,
      status: 'UNAVAILABLE',
      message: 'down',
    });
    assert.equal(stats.queries, 3);
    assert.equal(stats.failed, 1);
    assert.equal(stats.rows, 2);
    assert.equal(stats.arrowBytes, 200);
    assert.deepEqual(stats.latencies.get('a'), [5, 7]);
    assert.equal(stats.latencies.get('b'), undefined);
    assert.equal(stats.failedByKind.get('b'), 1);
    assert.equal(stats.recentMedianMs(), 5);
  });

  it('groups failures by status, place and message with the ids taken out, most frequent first', () => {
    const stats = createBenchStats();
    const fail = (status: string, message: string, kind = 'q'): void => {
      stats.record({
        kind,
        sessionIndex: 0,
        ok: false,
        latencyMs: 1,
        rows: 0,
        arrowBytes: 0,
        status,
        message,
      });
    };
    fail('INTERNAL', 'boom');
    fail('UNAVAILABLE', 'session 11111111-2222-3333-4444-555555555555 is gone');
    fail('UNAVAILABLE', 'session 66666666-7777-8888-9999-000000000000 is gone');
    fail('UNAVAILABLE', 'session 66666666-7777-8888-9999-000000000000 is gone', 'other');
    stats.recordFailure('UNAVAILABLE', 'ReleaseSession', 'reset');
    assert.deepEqual(stats.errors(), [
      { status: 'UNAVAILABLE', where: 'q', message: 'session <id> is gone', count: 2 },
      { status: 'INTERNAL', where: 'q', message: 'boom', count: 1 },
      { status: 'UNAVAILABLE', where: 'other', message: 'session <id> is gone', count: 1 },
      { status: 'UNAVAILABLE', where: 'ReleaseSession', message: 'reset', count: 1 },
    ]);
    assert.equal(stats.failed, 4, 'a failed release is not a failed query');
  });
});
