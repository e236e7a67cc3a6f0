// What the gateway benchmark found, and how it is shown: one table per backend for unary calls
// and one for the streamed result, a memory line, and each target met or not with its numbers —
// or all of it as JSON.
import { spread, type Memory, type Spread } from './measure.ts';
import type { StreamResult, UnaryResult } from './connect-load.ts';

export type PathName =
  'direct' | 'HAProxy' | 'HAProxy h2' | 'gateway' | 'gateway pinned' | 'gateway pinned TS';
/** The gateway's paths, one per --relay mode; the targets are judged for each. */
export const GATEWAY_PATHS: readonly PathName[] = ['gateway', 'gateway pinned'];

/**
 * One path's unary calls at one concurrency over every round: calls/s, p50 and p99 are the medians
 * of the rounds, each taken on its own; errors are summed.
 */
export interface UnaryCell extends UnaryResult {
  readonly backend: string;
  readonly path: PathName;
  /** The p99 of each round, in round order: the same index on every path is the same round. */
  readonly p99ByRoundMs: readonly number[];
  /** This path's p99 minus the direct path's in the same round, over the rounds. */
  readonly addedP99Ms: Spread;
  /** The proxy's CPU time in a round, and per call: medians of the rounds (NaN for direct). */
  readonly proxyCpuMs: number;
  readonly proxyCpuUsPerCall: number;
}

/** One path's streamed result over every round: MB/s is the median of the rounds. */
export interface StreamCell extends StreamResult {
  readonly backend: string;
  readonly path: PathName;
  /** This path's MB/s over the direct path's in the same round, over the rounds. */
  readonly shareOfDirect: Spread;
  readonly proxyCpuMs: number;
  readonly proxyCpuMsPerMiB: number;
}

export interface IdleSessions {
  readonly sessions: number;
  readonly opened: number;
  readonly errors: number;
  /** Client connections the sessions were opened on, open while memory was read. */
  readonly connections: number;
  readonly gatewayBefore: Memory;
  readonly gatewayAfter: Memory;
  readonly haproxyBefore: Memory;
  readonly haproxyAfter: Memory;
}

export interface Target {
  readonly name: string;
  readonly met: boolean;
  readonly detail: string;
}

export interface Report {
  readonly seconds: number;
  readonly rounds: number;
  /** Rounds of a streaming cell: one streamed result per path a round. */
  readonly streamRounds: number;
  /** Which CPUs the client, the servers and the proxies ran on. */
  readonly cpus: string;
  /** Where bin/sparkplane ran the gateway from. */
  readonly gatewayBuild: 'dist' | 'src';
  readonly haproxy: string;
  /** The unary calls' client. */
  readonly h2load: string;
  /** The Spark version measured, or why Spark was not. */
  readonly spark: string;
  readonly runDir: string;
  readonly unary: readonly UnaryCell[];
  readonly stream: readonly StreamCell[];
  readonly idle: IdleSessions | undefined;
  readonly targets: readonly Target[];
}

const fmt = (value: number | undefined, digits = 1): string =>
  value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
const signed = (value: number): string =>
  Number.isNaN(value) ? '-' : `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;
/** "+0.42 (−1.10 to +2.05)": a median and the range of the rounds. */
const signedSpread = (value: Spread): string =>
  `${signed(value.median)} (${signed(value.min)} to ${signed(value.max)})`;
const percentSpread = (value: Spread): string =>
  `${fmt(value.median * 100, 0)}% (${fmt(value.min * 100, 0)}–${fmt(value.max * 100, 0)}%)`;
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
const count = (value: number): string => value.toLocaleString('en-US');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`);
}

export function printReport(report: Report, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  const lines = [
    `gateway vs direct vs HAProxy: ${String(report.rounds)} rounds of ${String(report.seconds)} s per unary cell and ${String(report.streamRounds)} rounds of one streamed result per streaming cell, every path once per round, taking turns to go first; ` +
      'the median of the rounds, and in parentheses the range of the rounds for what is compared within a round; ' +
      `the same clients (unary and streaming: ${report.h2load}; idle sessions: one Node process, node:http2) and backend on every path; ` +
      `gateway from ${report.gatewayBuild}/ at log level warn, --relay terminate ('gateway') and --relay pinned ('gateway pinned': the native core; 'gateway pinned TS': --relay-core typescript, a reference); ` +
      `${report.haproxy} in mode tcp with balance source and stick on src ('HAProxy', the anchor), and terminating HTTP/2 ('HAProxy h2', a reference); ` +
      `CPUs: ${report.cpus}; logs in ${report.runDir}`,
  ];
  for (const backend of new Set(report.unary.map((cell) => cell.backend))) {
    lines.push('', `${backend}: unary Config (GetOption) calls of one session, from h2load`);
    lines.push(
      ...table(
        [
          'path',
          'streams',
          'calls/s',
          'p50 ms',
          'p99 ms',
          'p99 added vs direct, same round, ms',
          'proxy CPU µs/call',
          'errors',
        ],
        report.unary
          .filter((cell) => cell.backend === backend)
          .map((cell) => [
            cell.path,
            String(cell.streams),
            fmt(cell.callsPerSecond, 0),
            fmt(cell.p50Ms, 2),
            fmt(cell.p99Ms, 2),
            cell.path === 'direct' ? '' : signedSpread(cell.addedP99Ms),
            fmt(cell.proxyCpuUsPerCall, 0),
            String(cell.errors),
          ]),
      ),
    );
    const streamed = report.stream.filter((cell) => cell.backend === backend);
    lines.push(
      '',
      `${backend}: one streamed ExecutePlan result from h2load, ${mib(streamed[0]?.bytes ?? 0)} MiB of gRPC messages`,
      ...table(
        ['path', 'MB/s', '% of direct', 'proxy CPU ms/MiB'],
        streamed.map((cell) => [
          cell.path,
          fmt(cell.mbPerSecond),
          percentSpread(cell.shareOfDirect),
          fmt(cell.proxyCpuMsPerMiB, 2),
        ]),
      ),
    );
  }
  if (!/^\d/.test(report.spark)) lines.push('', `real Spark end to end: ${report.spark}`);
  const idle = report.idle;
  if (idle !== undefined)
    lines.push(
      '',
      `memory (in-repo server behind): gateway ${mib(idle.gatewayBefore.rss)} MiB RSS idle, ` +
        `${mib(idle.gatewayAfter.rss)} MiB (peak ${mib(idle.gatewayAfter.peak)} MiB) with ${count(idle.opened)} of ${count(idle.sessions)} sessions ` +
        `opened (${count(idle.errors)} errors) and idle on ${String(idle.connections)} connections; ` +
        `HAProxy, which keeps no sessions: ${mib(idle.haproxyBefore.rss)} MiB idle, ${mib(idle.haproxyAfter.rss)} MiB after the same calls`,
    );
  lines.push('', 'targets:');
  for (const target of report.targets)
    lines.push(`- ${target.met ? 'met' : 'NOT met'}: ${target.name}: ${target.detail}`);
  console.log(lines.join('\n'));
}

/** The gateway's targets: latency added next to HAProxy's, streaming next to direct, memory. */
export const TARGETS = {
  addedP99SlackMs: 0.5,
  streamingShareOfDirect: 0.9,
  idleSessionsRssBytes: 256 * 1024 * 1024,
} as const;

export function evaluateTargets(
  unary: readonly UnaryCell[],
  stream: readonly StreamCell[],
  idle: IdleSessions | undefined,
): Target[] {
  const targets: Target[] = [];
  const cellOf = (backend: string, path: PathName, streams: number): UnaryCell | undefined =>
    unary.find(
      (cell) => cell.backend === backend && cell.path === path && cell.streams === streams,
    );
  // HAProxy's added latency plus the slack is the limit: the gateway's p99 minus HAProxy's, which
  // ran in the same round, at most the slack. Rounds are compared pairwise, so that a round in
  // which the backend was slow for every path does not count against one of them.
  for (const cell of unary.filter((candidate) => GATEWAY_PATHS.includes(candidate.path))) {
    const haproxy = cellOf(cell.backend, 'HAProxy', cell.streams);
    if (haproxy === undefined) continue;
    const differences = cell.p99ByRoundMs.map(
      (p99, round) => p99 - (haproxy.p99ByRoundMs[round] ?? Number.NaN),
    );
    const difference = spread(differences);
    const within = differences.filter((value) => value <= TARGETS.addedP99SlackMs).length;
    targets.push({
      name: `${cell.path}: p99 added latency, ${cell.backend}, ${String(cell.streams)} in flight`,
      met: difference.median <= TARGETS.addedP99SlackMs,
      detail:
        `${cell.path}'s p99 minus HAProxy's in the same round ${signedSpread(difference)} ms, at most +${String(TARGETS.addedP99SlackMs)}; ` +
        `within it in ${String(within)} of ${String(differences.length)} rounds (added vs direct: ${cell.path} ${signed(cell.addedP99Ms.median)}, HAProxy ${signed(haproxy.addedP99Ms.median)})`,
    });
  }
  for (const cell of stream.filter((candidate) => GATEWAY_PATHS.includes(candidate.path))) {
    targets.push({
      name: `${cell.path}: streaming, ${cell.backend}`,
      met: cell.shareOfDirect.median >= TARGETS.streamingShareOfDirect,
      detail: `${cell.path} ${percentSpread(cell.shareOfDirect)} of direct in the same round, at least ${String(TARGETS.streamingShareOfDirect * 100)}%`,
    });
  }
  if (idle !== undefined) {
    targets.push({
      name: `${count(idle.sessions)} idle sessions`,
      met: idle.opened === idle.sessions && idle.gatewayAfter.rss <= TARGETS.idleSessionsRssBytes,
      detail: `gateway ${mib(idle.gatewayAfter.rss)} MiB RSS with ${count(idle.opened)} sessions, at most ${mib(TARGETS.idleSessionsRssBytes)} MiB`,
    });
  }
  return targets;
}
