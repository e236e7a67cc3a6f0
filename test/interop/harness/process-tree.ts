// Starting a child process with its output in a log file, and ending it with every process it
// started (Spark daemons fork JVMs, workers fork executors, PySpark forks a driver JVM).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { join } from 'node:path';
import { waitUntil } from './wait.ts';

export interface ProcessSpec {
  /** Short name, also the log file's name: `master` → `<logDir>/master.log`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly logDir: string;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process itself exits. */
  readonly exited: Promise<Exit>;
  /** The exit, once it happened. */
  exit(): Exit | undefined;
  log(): string;
  /** Waits until the log matches; fails at once if the process exits first. */
  waitForLog(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Ends the process and all its descendants: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Every process started here that has not exited yet, for the last-resort sweep. */
const running = new Set<ManagedProcess>();

/** The processes started here that are still running. */
export function runningProcesses(): ManagedProcess[] {
  return [...running];
}

export function startProcess(spec: ProcessSpec): ManagedProcess {
  const logFile = join(spec.logDir, `${spec.name}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // Its own process group, so the whole tree can be signalled even after a parent exits.
    child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${spec.name} (${spec.command})`);
  let exitInfo: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', () => {
      exitInfo = { code: -1, signal: null };
      resolve(exitInfo);
    });
  });
  const log = (): string => readFileSync(logFile, 'utf8');
  const managed: ManagedProcess = {
    name: spec.name,
    pid,
    logFile,
    exited,
    exit: () => exitInfo,
    log,
    waitForLog: (pattern, timeoutMs) =>
      waitUntil(() => log().match(pattern) ?? undefined, {
        what: `${spec.name} to log ${String(pattern)} (see ${logFile})`,
        timeoutMs,
        abortIf: () =>
          exitInfo === undefined
            ? undefined
            : `${spec.name} exited (${describeExit(exitInfo)}); see ${logFile}`,
      }),
    stop: (graceMs = 10_000) => killTree(pid, graceMs),
  };
  running.add(managed);
  void exited.then(() => running.delete(managed));
  return managed;
}

export function describeExit(exit: Exit): string {
  return exit.signal === null ? `code ${String(exit.code)}` : `signal ${exit.signal}`;
}

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly zombie: boolean;
}

function readProcTable(): ProcInfo[] {
  const table: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        pgid: Number(fields[2]),
        zombie: fields[0] === 'Z',
      });
    } catch {
      // The process ended while the table was read.
    }
  }
  return table;
}

/** The process, its process group and every descendant, living (not zombie). */
export function processTree(rootPid: number): number[] {
  const table = readProcTable().filter((entry) => !entry.zombie);
  const members = new Set<number>();
  for (const entry of table)
    if (entry.pid === rootPid || entry.pgid === rootPid) members.add(entry.pid);
  let grew = true;
  while (grew) {
    grew = false;
    for (const entry of table) {
      if (!members.has(entry.pid) && members.has(entry.ppid)) {
        members.add(entry.pid);
        grew = true;
      }
    }
  }
  return [...members];
}

function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/**
 * Ends the whole tree: SIGTERM, then SIGKILL for what is left after `graceMs`; with a grace of 0,
 * SIGKILL at once, as a crash would (a SIGTERM first could let a process exit on its own in
 * between). Throws if anything of the tree is still alive afterwards.
 */
export async function killTree(rootPid: number, graceMs: number): Promise<void> {
  const initial = processTree(rootPid);
  if (initial.length === 0) return;
  if (graceMs > 0) {
    signalAll(initial, 'SIGTERM');
    const deadline = performance.now() + graceMs;
    while (performance.now() < deadline) {
      if (stillAlive(initial, rootPid).length === 0) return;
      await delay(100);
    }
  }
  signalAll(graceMs > 0 ? stillAlive(initial, rootPid) : initial, 'SIGKILL');
  await waitUntil(() => (stillAlive(initial, rootPid).length === 0 ? true : undefined), {
    what: `process tree of ${rootPid} to end after SIGKILL`,
    timeoutMs: 10_000,
    intervalMs: 50,
  });
}

function stillAlive(known: readonly number[], rootPid: number): number[] {
  const now = new Set(processTree(rootPid));
  const living = new Set(
    readProcTable()
      .filter((entry) => !entry.zombie)
      .map((entry) => entry.pid),
  );
  return [...new Set([...known.filter((pid) => living.has(pid)), ...now])];
}
