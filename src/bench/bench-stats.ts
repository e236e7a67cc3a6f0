// What a benchmark run counts: latencies per query kind (of the queries that succeeded), rows and
// Arrow bytes received, and failures grouped by gRPC status and message, with the ids that differ
// between otherwise equal messages taken out so that a thousand equal failures are one line.
import { GrpcStatus } from '../gateway/errors.ts';

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of ascending `sorted`: the smallest value with `fraction` at or below it. */
export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const list = Array.from(sorted);
  const sum = list.reduce((total, value) => total + value, 0);
  return {
    count: list.length,
    p50: percentile(list, 0.5),
    p90: percentile(list, 0.9),
    p99: percentile(list, 0.99),
    max: list.at(-1) ?? Number.NaN,
    mean: list.length === 0 ? Number.NaN : sum / list.length,
  };
}

/** A failure's class: a gRPC status name, or what the client found wrong itself. */
export type FailureStatus = string;

/** Client-side classes next to the gRPC status names. */
export const WRONG_RESULT = 'WRONG_RESULT';
export const SESSION_CHANGED = 'SESSION_CHANGED';

const STATUS_NAMES = new Map<number, string>(
  Object.entries(GrpcStatus).map(([name, code]) => [code, name]),
);

export function grpcStatusName(code: number): string {
  return STATUS_NAMES.get(code) ?? (code < 0 ? 'NO_STATUS' : `STATUS_${String(code)}`);
}

const UUID_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const MAX_MESSAGE_CHARS = 300;

/** The message with ids replaced by `<id>`, on one line, and cut to a readable length. */
export function normalizeErrorMessage(message: string): string {
  const oneLine = message.replace(UUID_TEXT, '<id>').replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_MESSAGE_CHARS
    ? `${oneLine.slice(0, MAX_MESSAGE_CHARS - 1)}…`
    : oneLine;
}

export interface ErrorGroup {
  readonly status: FailureStatus;
  /** The gRPC method or the query kind the failures happened in. */
  readonly where: string;
  readonly message: string;
  count: number;
}

export interface QueryOutcome {
  readonly kind: string;
  readonly sessionIndex: number;
  readonly ok: boolean;
  readonly latencyMs: number;
  readonly rows: number;
  readonly arrowBytes: number;
  readonly status?: FailureStatus;
  readonly message?: string;
}

export interface BenchStats {
  record(outcome: QueryOutcome): void;
  recordFailure(status: FailureStatus, where: string, message: string): void;
  readonly queries: number;
  readonly failed: number;
  readonly rows: number;
  readonly arrowBytes: number;
  /** Latencies of succeeded queries in ms, by kind. */
  readonly latencies: ReadonlyMap<string, readonly number[]>;
  /** Failed queries by kind. */
  readonly failedByKind: ReadonlyMap<string, number>;
  errors(): ErrorGroup[];
  /** A cheap running view for progress lines: the median of the last queries. */
  recentMedianMs(): number;
}

const RECENT = 256;

export function createBenchStats(): BenchStats {
  const latencies = new Map<string, number[]>();
  const failedByKind = new Map<string, number>();
  const groups = new Map<string, ErrorGroup>();
  const recent: number[] = [];
  let queries = 0;
  let failed = 0;
  let rows = 0;
  let arrowBytes = 0;

  const recordFailure = (status: FailureStatus, where: string, message: string): void => {
    const text = normalizeErrorMessage(message);
    const key = `${status}\u0000${where}\u0000${text}`;
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { status, where, message: text, count: 1 });
    else group.count++;
  };

  return {
    record(outcome) {
      queries++;
      if (outcome.ok) {
        let list = latencies.get(outcome.kind);
        if (list === undefined) latencies.set(outcome.kind, (list = []));
        list.push(outcome.latencyMs);
        recent[queries % RECENT] = outcome.latencyMs;
        rows += outcome.rows;
        arrowBytes += outcome.arrowBytes;
        return;
      }
      failed++;
      failedByKind.set(outcome.kind, (failedByKind.get(outcome.kind) ?? 0) + 1);
      recordFailure(outcome.status ?? 'UNKNOWN', outcome.kind, outcome.message ?? '');
    },
    recordFailure,
    get queries() {
      return queries;
    },
    get failed() {
      return failed;
    },
    get rows() {
      return rows;
    },
    get arrowBytes() {
      return arrowBytes;
    },
    latencies,
    failedByKind,
    errors: () => [...groups.values()].sort((a, b) => b.count - a.count),
    recentMedianMs: () =>
      percentile(
        [...recent].filter(Number.isFinite).sort((a, b) => a - b),
        0.5,
      ),
  };
}
