// The report of a run, from a made-up result: the tables (latency by kind and overall, errors,
// sessions per backend), the JSON document, and the verdict against --max-error-rate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { benchVerdict, renderJson, renderText, table } from '../../../src/bench/bench-report.ts';
import { createBenchStats } from '../../../src/bench/bench-stats.ts';
import { findMix } from '../../../src/bench/query-mix.ts';
import type { BenchResult, SessionRecord } from '../../../src/bench/run-bench.ts';
import { NO_ADMIN_URL, spreadOf, type SessionSpread } from '../../../src/bench/session-spread.ts';

const mix = findMix('default');
assert.ok(mix !== undefined);

function resultOf(spread: SessionSpread, failing = false): BenchResult {
  const stats = createBenchStats();
  const sessions: SessionRecord[] = [0, 1, 2].map((index) => ({
    index,
    sessionId: `s${String(index)}`,
    queries: 0,
    failed: 0,
    latencies: [],
    started: true,
  }));
  const add = (index: number, kind: string, latencyMs: number, ok = true): void => {
    const session = sessions[index];
    assert.ok(session !== undefined);
    session.queries++;
    if (ok) session.latencies.push(latencyMs);
    else session.failed++;
    stats.record({
      kind,
      sessionIndex: index,
      ok,
      latencyMs,
      rows: ok ? 10 : 0,
      arrowBytes: ok ? 1024 : 0,
      ...(ok ? {} : { status: 'UNAVAILABLE', message: 'server gone' }),
    });
  };
  for (let round = 1; round <= 10; round++) {
    add(0, 'select-1', round);
    add(1, 'aggregate', 100 + round);
  }
  add(2, 'select-1', 5, !failing);
  return {
    startedAt: new Date('2026-01-01T00:00:00Z'),
    elapsedMs: 2000,
    endedBy: 'queries',
    options: {
      endpoint: { host: 'h', port: 1, tls: false, metadata: {}, label: 'sc://h:1' },
      sessions: 3,
      queriesPerSession: 10,
      rampUpMs: 0,
      queryTimeoutMs: 1000,
      connectTimeoutMs: 1000,
      mix: mix ?? { name: '', description: '', setup: [], queries: [] },
      userId: 'u',
      clientType: 'c',
    },
    stats,
    sessions,
    spread,
    releases: { released: 3, unimplemented: 0, failed: 0 },
  };
}

const twoBackends = spreadOf(
  new Map([
    ['s0', 'b:1'],
    ['s1', 'a:1'],
  ]),
  ['s0', 's1', 's2'],
);

describe('renderText', () => {
  it('shows throughput, latency per kind and overall, no errors, and the spread', () => {
    const result = resultOf(twoBackends);
    const text = renderText(result, benchVerdict(result, 0), 'sc://h:1');
    assert.match(
      text,
      /^sparkplane bench connect: sc:\/\/h:1, mix default, 3 sessions, 10 queries\/session$/m,
    );
    assert.match(text, /21 queries, 0 failed; 10\.5 queries\/s, 210 rows, 21 KiB of Arrow batches/);
    assert.match(text, /^KIND +OK +FAILED +P50 +P90 +P99 +MAX$/m);
    assert.match(text, /^select-1 +11 +0 +5\.0 +9\.0 +10\.0 +10\.0$/m);
    assert.match(text, /^aggregate +10 +0 +105\.0 +109\.0 +110\.0 +110\.0$/m);
    assert.match(text, /^all +21 +0 +10\.0 +108\.0 +110\.0 +110\.0$/m);
    assert.match(text, /^ERRORS: none$/m);
    // Sorted by backend; the session the gateway did not list is shown apart.
    assert.match(
      text,
      /^a:1 +1 +10 +0 +105\.0 +110\.0\nb:1 +1 +10 +0 +5\.0 +10\.0\n\(not listed\) +1 +1 +0 +5\.0 +5\.0$/m,
    );
    assert.match(text, /^released 3 sessions$/m);
    assert.match(text, /^OK: 0 of 24 calls failed \(0%\), within --max-error-rate 0%$/m);
  });

  it('lists failures and says the spread needs --admin-url without one', () => {
    const result = resultOf(NO_ADMIN_URL, true);
    const text = renderText(result, benchVerdict(result, 0), 'sc://h:1');
    assert.match(text, /^COUNT +STATUS +WHERE +MESSAGE\n +1 +UNAVAILABLE +select-1 +server gone$/m);
    assert.match(text, /^SESSIONS PER BACKEND: unknown: the per-backend spread needs --admin-url/m);
    assert.match(text, /^FAIL: 1 of 24 calls failed \(4\.17%\), more than --max-error-rate 0%$/m);
  });
});

describe('renderJson', () => {
  it('is one document with latencies by kind, errors, spread and verdict; no NaN', () => {
    const result = resultOf(twoBackends, true);
    const json = JSON.parse(renderJson(result, benchVerdict(result, 0.05), 'sc://h:1')) as {
      queries: number;
      failed: number;
      latencyMs: { all: { p50: number | null } } & Record<
        string,
        { count: number; p50: number | null; failed?: number } | undefined
      >;
      errors: unknown[];
      spread: { available: boolean; backends: { backend: string; sessions: number }[] };
      verdict: { ok: boolean; errorRate: number };
    };
    assert.equal(json.queries, 21);
    assert.equal(json.failed, 1);
    const select = json.latencyMs['select-1'];
    assert.equal(select?.count, 10);
    assert.equal(select.failed, 1);
    assert.equal(json.latencyMs.all.p50, 10);
    assert.deepEqual(json.errors, [
      { status: 'UNAVAILABLE', where: 'select-1', message: 'server gone', count: 1 },
    ]);
    const unlisted = json.spread.backends.find((row) => row.backend === '(not listed)');
    assert.equal(unlisted?.sessions, 1);
    assert.deepEqual(json.verdict.ok, true);
    const empty = resultOf(spreadOf(new Map(), ['s0', 's1', 's2']));
    const parsed = JSON.parse(renderJson(empty, benchVerdict(empty, 0), 'x')) as {
      spread: { backends: { latency: { p50: number | null } }[] };
    };
    assert.equal(parsed.spread.backends.length, 1);
  });
});

describe('benchVerdict', () => {
  it('compares the failed share of queries and releases with the allowed rate', () => {
    const result = resultOf(NO_ADMIN_URL, true);
    assert.equal(benchVerdict(result, 0).exitCode, 1);
    assert.equal(benchVerdict(result, 0.04).exitCode, 1);
    assert.equal(benchVerdict(result, 1 / 24).exitCode, 0);
    const verdict = benchVerdict(result, 0.05);
    assert.deepEqual(
      { exitCode: verdict.exitCode, calls: verdict.calls, failedCalls: verdict.failedCalls },
      { exitCode: 0, calls: 24, failedCalls: 1 },
    );
  });

  it('fails a run in which no query ran', () => {
    const result = resultOf(NO_ADMIN_URL);
    const none = { ...result, stats: createBenchStats() };
    const verdict = benchVerdict(none, 1);
    assert.equal(verdict.exitCode, 1);
    assert.match(verdict.line, /no query ran/);
  });
});

describe('table', () => {
  it('right-aligns columns of numbers with their headings and left-aligns text', () => {
    assert.equal(
      table([
        ['NAME', 'N', 'NOTE'],
        ['a', '100', 'x'],
        ['bbbb', '5', 'longer'],
      ]),
      'NAME    N  NOTE\na     100  x\nbbbb    5  longer',
    );
  });
});
