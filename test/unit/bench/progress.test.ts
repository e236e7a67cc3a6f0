// The progress line on a terminal: elapsed time against the duration, sessions started, queries
// done against planned, failures, rate and the recent median; rewritten in place and cleared.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { progressLine, terminalProgress } from '../../../src/bench/progress.ts';

const progress = {
  elapsedMs: 12_400,
  durationMs: 60_000,
  sessionsStarted: 6,
  sessions: 8,
  queries: 130,
  failed: 6,
  plannedQueries: 168,
  recentMedianMs: 41.26,
};

describe('progressLine', () => {
  it('shows time, sessions, queries, failures, rate and the recent median', () => {
    assert.equal(
      progressLine(progress),
      '12s/60s  sessions 6/8  queries 130/168 (6 failed)  10.0 q/s, recent p50 41.3 ms',
    );
  });

  it('leaves out the bounds a run does not have and a median not known yet', () => {
    const open = { elapsedMs: 0, sessionsStarted: 6, sessions: 8, queries: 0, failed: 0 };
    assert.equal(
      progressLine({ ...open, recentMedianMs: Number.NaN }),
      '0s  sessions 6/8  queries 0 (0 failed)  0.0 q/s',
    );
  });
});

describe('terminalProgress', () => {
  it('rewrites one line in place and clears it', () => {
    const written: string[] = [];
    const terminal = terminalProgress((text) => written.push(text));
    terminal.update(progress);
    terminal.update({ ...progress, queries: 131 });
    terminal.clear();
    assert.equal(written.length, 3);
    assert.ok(written.every((text) => text.startsWith('\r\x1b[2K')));
    assert.ok(!written.some((text) => text.includes('\n')));
    assert.equal(written[2], '\r\x1b[2K');
  });
});
