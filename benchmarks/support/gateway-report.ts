// What the gateway benchmark found, and how it is shown: one table per backend for unary calls
// and one for the streamed result, a memory line, and each target met or not with its numbers —
// or all of it as JSON.
import type { Memory } from './measure.ts';
import type { StreamResult, UnaryResult } from './connect-load.ts';

export type PathName =
  'direct' | 'HAProxy' | 'HAProxy h2' | 'gateway' | 'gateway pinned' | 'gateway pinned TS';
/** The gateway's paths, one per --relay mode; the targets are judged for each. */
export const GATEWAY_PATHS: readonly PathName[] = ['gateway', 'gateway pinned'];

export interface UnaryCell extends UnaryResult {
  readonly backend: string;
  readonly path: PathName;
  /** p99 of this path minus p99 of the direct path, same backend and streams. */
  readonly addedP99Ms: number;
  /** CPU time the proxy's processes used in the round, and per call (NaN for direct). */
  readonly proxyCpuMs: number;
  readonly proxyCpuUsPerCall: number;
}

export interface StreamCell extends StreamResult {
  readonly backend: string;
  readonly path: PathName;
  readonly shareOfDirect: number;
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
    `gateway vs direct vs HAProxy: median of ${String(report.rounds)} rounds of ${String(report.seconds)} s per cell; ` +
      `the same clients (unary: ${report.h2load}; streaming and idle sessions: one Node process, node:http2) and backend on every path; ` +
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
          'p99 added vs direct ms',
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
            cell.path === 'direct' ? '' : signed(cell.addedP99Ms),
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
          `${fmt(cell.shareOfDirect * 100, 0)}%`,
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
  for (const cell of unary.filter((candidate) => GATEWAY_PATHS.includes(candidate.path))) {
    const haproxy = cellOf(cell.backend, 'HAProxy', cell.streams);
    if (haproxy === undefined) continue;
    const limit = haproxy.addedP99Ms + TARGETS.addedP99SlackMs;
    targets.push({
      name: `${cell.path}: p99 added latency, ${cell.backend}, ${String(cell.streams)} in flight`,
      met: cell.addedP99Ms <= limit,
      detail: `${cell.path} ${signed(cell.addedP99Ms)} ms, at most HAProxy's ${signed(haproxy.addedP99Ms)} + ${String(TARGETS.addedP99SlackMs)} = ${limit.toFixed(2)} ms`,
    });
  }
  for (const cell of stream.filter((candidate) => GATEWAY_PATHS.includes(candidate.path))) {
    targets.push({
      name: `${cell.path}: streaming, ${cell.backend}`,
      met: cell.shareOfDirect >= TARGETS.streamingShareOfDirect,
      detail: `${cell.path} ${fmt(cell.shareOfDirect * 100, 0)}% of direct, at least ${String(TARGETS.streamingShareOfDirect * 100)}%`,
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
