// The benchmark's report: latency percentiles per query kind and overall, throughput, failures
// grouped by status and message, and how the sessions spread over the servers; as text tables or
// as one JSON document. The verdict (exit code) compares the failure rate with --max-error-rate.
import { formatSize } from '../core/units.ts';
import { summarize, type LatencySummary } from './bench-stats.ts';
import type { BenchResult, SessionRecord } from './run-bench.ts';

export interface BenchVerdict {
  readonly exitCode: 0 | 1;
  readonly calls: number;
  readonly failedCalls: number;
  readonly errorRate: number;
  readonly line: string;
}

/** Queries and releases that failed, as a share of all of them, against the allowed rate. */
export function benchVerdict(result: BenchResult, maxErrorRate: number): BenchVerdict {
  const { stats, releases } = result;
  const calls = stats.queries + releases.released + releases.unimplemented + releases.failed;
  const failedCalls = stats.failed + releases.failed;
  const errorRate = calls === 0 ? 1 : failedCalls / calls;
  const allowed = percentText(maxErrorRate);
  if (stats.queries === 0)
    return {
      exitCode: 1,
      calls,
      failedCalls,
      errorRate,
      line: 'FAIL: no query ran; give the run more --duration than --ramp-up',
    };
  if (errorRate > maxErrorRate)
    return {
      exitCode: 1,
      calls,
      failedCalls,
      errorRate,
      line: `FAIL: ${String(failedCalls)} of ${String(calls)} calls failed (${percentText(errorRate)}), more than --max-error-rate ${allowed}`,
    };
  return {
    exitCode: 0,
    calls,
    failedCalls,
    errorRate,
    line: `OK: ${String(failedCalls)} of ${String(calls)} calls failed (${percentText(errorRate)}), within --max-error-rate ${allowed}`,
  };
}

function percentText(fraction: number): string {
  return `${Number((fraction * 100).toFixed(2))}%`;
}

const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(1) : '-');

/** Columns padded to their widest cell; columns of numbers (their headings too) right-aligned. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  const numeric = widths.map((_, index) =>
    rows.slice(1).every((row) => /^-?[\d.,]+%?$|^-$/.test(row[index] ?? '-')),
  );
  return rows
    .map((row) =>
      row
        .map((cell, index) =>
          numeric[index] === true
            ? cell.padStart(widths[index] ?? 0)
            : cell.padEnd(widths[index] ?? 0),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function latencyRow(name: string, summary: LatencySummary, failed: number): string[] {
  return [
    name,
    String(summary.count),
    String(failed),
    ms(summary.p50),
    ms(summary.p90),
    ms(summary.p99),
    ms(summary.max),
  ];
}

export function latencyByKind(
  result: BenchResult,
): { kind: string; latency: LatencySummary; failed: number }[] {
  const kinds = [
    ...new Set([...result.stats.latencies.keys(), ...result.stats.failedByKind.keys()]),
  ];
  return kinds.map((kind) => ({
    kind,
    latency: summarize(result.stats.latencies.get(kind) ?? []),
    failed: result.stats.failedByKind.get(kind) ?? 0,
  }));
}

export function overallLatency(result: BenchResult): LatencySummary {
  return summarize([...result.stats.latencies.values()].flat());
}

interface BackendRow {
  readonly backend: string;
  readonly sessions: number;
  readonly queries: number;
  readonly failed: number;
  readonly latency: LatencySummary;
}

export function backendRows(result: BenchResult): BackendRow[] | undefined {
  const { spread } = result;
  if (!spread.available) return undefined;
  const row = (backend: string, records: readonly SessionRecord[]): BackendRow => ({
    backend,
    sessions: records.length,
    queries: records.reduce((sum, session) => sum + session.queries, 0),
    failed: records.reduce((sum, session) => sum + session.failed, 0),
    latency: summarize(records.flatMap((session) => session.latencies)),
  });
  const pick = (indexes: readonly number[]): SessionRecord[] =>
    indexes.flatMap((index) => result.sessions[index] ?? []);
  const rows = spread.backends.map((share) => row(share.backend, pick(share.sessionIndexes)));
  if (spread.unlisted.length > 0) rows.push(row('(not listed)', pick(spread.unlisted)));
  return rows;
}

export function renderText(result: BenchResult, verdict: BenchVerdict, label: string): string {
  const { options, stats, releases } = result;
  const seconds = result.elapsedMs / 1000;
  const ok = stats.queries - stats.failed;
  const bounds = [
    options.queriesPerSession === undefined
      ? undefined
      : `${String(options.queriesPerSession)} queries/session`,
    options.durationMs === undefined ? undefined : `at most ${String(options.durationMs / 1000)}s`,
  ].filter((part) => part !== undefined);
  const lines = [
    `sparkplane bench connect: ${label}, mix ${options.mix.name}, ${String(options.sessions)} sessions, ${bounds.join(', ')}`,
    `ran ${seconds.toFixed(1)}s (ended by ${result.endedBy}): ${String(stats.queries)} queries, ${String(stats.failed)} failed; ` +
      `${(ok / seconds).toFixed(1)} queries/s, ${String(stats.rows)} rows, ${formatSize(stats.arrowBytes)} of Arrow batches (${formatSize(stats.arrowBytes / seconds)}/s)`,
    '',
    'LATENCY OF SUCCEEDED QUERIES (ms, from request to end of result)',
    table([
      ['KIND', 'OK', 'FAILED', 'P50', 'P90', 'P99', 'MAX'],
      ...latencyByKind(result).map((entry) => latencyRow(entry.kind, entry.latency, entry.failed)),
      latencyRow('all', overallLatency(result), stats.failed),
    ]),
    '',
  ];
  const errors = stats.errors();
  if (errors.length === 0) lines.push('ERRORS: none', '');
  else
    lines.push(
      'ERRORS (by gRPC status and message)',
      table([
        ['COUNT', 'STATUS', 'WHERE', 'MESSAGE'],
        ...errors.map((group) => [String(group.count), group.status, group.where, group.message]),
      ]),
      '',
    );
  const backends = backendRows(result);
  if (backends === undefined)
    lines.push(
      `SESSIONS PER BACKEND: unknown: ${result.spread.available ? '' : result.spread.reason}`,
    );
  else
    lines.push(
      'SESSIONS PER BACKEND (from the gateway admin API)',
      table([
        ['BACKEND', 'SESSIONS', 'QUERIES', 'FAILED', 'P50', 'P99'],
        ...backends.map((row) => [
          row.backend,
          String(row.sessions),
          String(row.queries),
          String(row.failed),
          ms(row.latency.p50),
          ms(row.latency.p99),
        ]),
      ]),
    );
  lines.push(
    '',
    `released ${String(releases.released)} sessions` +
      (releases.unimplemented > 0
        ? `; ${String(releases.unimplemented)} left to the server's idle timeout, as it has no ReleaseSession (Spark 3.5)`
        : '') +
      (releases.failed > 0 ? `; ${String(releases.failed)} releases failed (see ERRORS)` : ''),
    verdict.line,
  );
  return `${lines.join('\n')}\n`;
}

export function renderJson(result: BenchResult, verdict: BenchVerdict, label: string): string {
  const { options, stats } = result;
  const seconds = result.elapsedMs / 1000;
  return `${JSON.stringify(
    {
      url: label,
      mix: options.mix.name,
      sessions: options.sessions,
      queriesPerSession: options.queriesPerSession ?? null,
      durationMs: options.durationMs ?? null,
      rampUpMs: options.rampUpMs,
      startedAt: result.startedAt.toISOString(),
      elapsedMs: Math.round(result.elapsedMs),
      endedBy: result.endedBy,
      queries: stats.queries,
      failed: stats.failed,
      queriesPerSecond: (stats.queries - stats.failed) / seconds,
      rows: stats.rows,
      arrowBytes: stats.arrowBytes,
      latencyMs: {
        all: overallLatency(result),
        ...Object.fromEntries(
          latencyByKind(result).map((entry) => [
            entry.kind,
            { ...entry.latency, failed: entry.failed },
          ]),
        ),
      },
      errors: stats.errors(),
      spread: result.spread.available
        ? { available: true, backends: backendRows(result) }
        : { available: false, reason: result.spread.reason },
      releases: result.releases,
      verdict: {
        ok: verdict.exitCode === 0,
        errorRate: verdict.errorRate,
        calls: verdict.calls,
        failedCalls: verdict.failedCalls,
      },
    },
    (_key, value: unknown) => (typeof value === 'number' && Number.isNaN(value) ? null : value),
    2,
  )}\n`;
}
