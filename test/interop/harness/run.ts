// One folder per interop run of one Spark version, and the rule that a failing test prints the
// logs of every process it started, so a failure in CI can be read without rerunning it.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { processTree, runningProcesses } from './process-tree.ts';
import { REPO_ROOT, SPARK_PINS, checkPrerequisites, type SparkInstall } from './spark-install.ts';
import type { SparkRun } from './spark-processes.ts';

export const RUNS_ROOT =
  process.env.SPARKPLANE_INTEROP_RUNS ?? join(REPO_ROOT, '.cache', 'interop-runs');
const LOG_TAIL_LINES = 80;

export function createRun(install: SparkInstall, label: string): SparkRun {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(RUNS_ROOT, `${stamp}-${label}-${install.pin.spark}`);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  return { install, dir };
}

/** Runs `body`; if it throws, prints where the run's logs are and the end of each. */
export async function withLogsOnFailure<T>(run: SparkRun, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    console.error(describeLogs(run));
    throw error;
  }
}

export function describeLogs(run: SparkRun): string {
  const logDir = join(run.dir, 'logs');
  const files = existsSync(logDir) ? readdirSync(logDir).sort() : [];
  const parts = [`--- logs of this run: ${logDir} ---`];
  for (const file of files) {
    const lines = readFileSync(join(logDir, file), 'utf8').split('\n');
    parts.push(
      `--- ${file} (last ${Math.min(LOG_TAIL_LINES, lines.length)} of ${lines.length} lines) ---`,
      ...lines.slice(-LOG_TAIL_LINES),
    );
  }
  return parts.join('\n');
}

/**
 * Declares `body` once per pinned Spark version (SPARKPLANE_SPARK_VERSIONS narrows the list).
 * Where a prerequisite is missing the version's test fails under CI=true and is skipped, with
 * what is missing and how to get it, elsewhere.
 */
export function forEachSparkVersion(title: string, body: (install: SparkInstall) => void): void {
  sweepWhenDone();
  const only = process.env.SPARKPLANE_SPARK_VERSIONS?.split(',').map((version) => version.trim());
  for (const pin of SPARK_PINS) {
    if (only !== undefined && !only.includes(pin.spark)) continue;
    const name = `${title} (Spark ${pin.spark})`;
    const prerequisites = checkPrerequisites(pin);
    if (prerequisites.ok) {
      describe(name, () => {
        body(prerequisites.install);
      });
      continue;
    }
    const missing = prerequisites.problems.join('; ');
    if (process.env.CI === 'true') {
      it(name, () => {
        assert.fail(
          `a prerequisite of the interop tests is missing, and CI=true makes that a failure: ${missing}`,
        );
      });
    } else {
      it(name, { skip: `prerequisite missing: ${missing}` }, () => undefined);
    }
  }
}

let sweeping = false;

/**
 * The last resort: a process that a test started and never stopped would keep this file's test
 * process alive after its last test, so the whole run would wait for it until CI's own limit. Once
 * the file's tests are done, end every such process and fail, naming them.
 */
function sweepWhenDone(): void {
  if (sweeping) return;
  sweeping = true;
  after(async () => {
    const left = [];
    for (const process of runningProcesses()) {
      // Ended already, its exit not yet heard: a stop returns once the processes are gone, and
      // Node learns of the exit a moment later.
      if (processTree(process.pid).length === 0) {
        await Promise.race([process.exited, delay(5000, undefined, { ref: false })]);
        continue;
      }
      left.push(process);
    }
    for (const process of left) await process.stop(2000);
    assert.deepEqual(
      left.map((process) => `${process.name} (pid ${String(process.pid)})`),
      [],
      'processes started by these tests were still running after the last test, and were ended',
    );
  });
}

/** Something a test started: stopped when the test ends, its processes checked for leftovers. */
export interface Started {
  stop(): Promise<void>;
  readonly pid?: number;
  readonly process?: { readonly pid: number };
  readonly processes?: readonly { readonly pid: number }[];
}

/**
 * One test's run of real processes: `keep` registers what the body starts. Whatever happens, the
 * kept things are stopped (last started first), a failure prints the run's logs, and the test
 * fails if any process it started is still running afterwards.
 */
/**
 * Awaits things started side by side and keeps each one that started, then fails with the first
 * start that failed. With Promise.all, the others of a failed start would be dropped unkept and
 * left running.
 */
export async function keepAll<const T extends readonly Started[]>(
  keep: <S extends Started>(started: S) => S,
  starts: { readonly [K in keyof T]: Promise<T[K]> },
): Promise<T> {
  const settled = await Promise.allSettled(starts);
  const started: Started[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'fulfilled') started.push(keep(outcome.value));
  }
  const failed = settled.find((outcome) => outcome.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return started as unknown as T;
}

export async function inSparkRun(
  install: SparkInstall,
  label: string,
  body: (run: SparkRun, keep: <T extends Started>(started: T) => T) => Promise<void>,
): Promise<void> {
  const run = createRun(install, label);
  const kept: Started[] = [];
  const keep = <T extends Started>(started: T): T => {
    kept.push(started);
    return started;
  };
  try {
    await withLogsOnFailure(run, () => body(run, keep));
  } finally {
    for (const started of [...kept].reverse()) await started.stop();
  }
  const pids = kept.flatMap((started) => [
    ...(started.pid === undefined ? [] : [started.pid]),
    ...(started.process === undefined ? [] : [started.process.pid]),
    ...(started.processes ?? []).map((process) => process.pid),
  ]);
  const leaked = pids.flatMap((pid) => processTree(pid));
  assert.deepEqual(leaked, [], `processes left running: ${leaked.join(', ')}`);
}
