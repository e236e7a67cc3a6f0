// What every benchmark here measures the same way: percentiles of latencies, the median of rounds
// and their spread, and a process tree's resident memory from /proc; and the CPUs a process may
// run on.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processTree } from '../../test/interop/harness/process-tree.ts';

export function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] ?? Number.NaN;
}

/** The middle round by `key` (the upper one of two); undefined when there was none. */
export function medianBy<T>(rounds: readonly T[], key: (round: T) => number): T | undefined {
  const sorted = [...rounds].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)];
}

/** The median of rounds' values (of an even count, the mean of the middle two), and their range. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const upper = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[upper] ?? Number.NaN)
      : ((sorted[upper - 1] ?? Number.NaN) + (sorted[upper] ?? Number.NaN)) / 2;
  return { median, min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN };
}

export interface Memory {
  /** VmRSS of every process of the tree, summed, in bytes. */
  readonly rss: number;
  /** The largest VmHWM (peak RSS) of one process of the tree, in bytes. */
  readonly peak: number;
}

/** Resident memory of a process tree now, and the largest peak (VmHWM) of its members. */
export function memory(rootPid: number): Memory {
  let rss = 0;
  let peak = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
    } catch {
      // Gone.
    }
  }
  return { rss, peak };
}

/** /proc counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system) a process tree has used so far, in ms. On a shared machine this is
 * the steadier measure of a proxy's cost: waiting for a core does not count.
 */
export function cpuMs(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
    } catch {
      // Gone.
    }
  }
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Lets the processes `pids` (every thread of each) run only on `cpus` ("0", "1", "0-1"), with
 * util-linux's taskset; the threads and processes they start later inherit it.
 */
export function runOnCpus(pids: readonly number[], cpus: string): void {
  for (const pid of pids) {
    const result = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], {
      encoding: 'utf8',
    });
    if (result.status !== 0)
      throw new Error(
        `taskset could not move pid ${String(pid)} to CPU ${cpus}: ${result.stderr.trim() || (result.error?.message ?? `exit ${String(result.status)}`)} (taskset is in Debian's util-linux; --shared-cpus runs without it)`,
      );
  }
}
