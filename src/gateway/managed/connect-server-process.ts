// One Spark Connect server the gateway runs: spark-submit in its own process group, its output in
// a log file, stopped as a whole tree. A server started by an earlier gateway process (which was
// killed and restarted) is adopted by pid: the gateway watches and stops it the same way, so its
// sessions carry on.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PROBE_USER_ID } from '../health/probe.ts';
import { connectServerClasspath, type SparkInstall } from './spark-install.ts';

export const CONNECT_SERVER_CLASS = 'org.apache.spark.sql.connect.service.SparkConnectServer';

export interface ConnectServerLaunch {
  readonly install: SparkInstall;
  /** The Spark application name (shown in the Spark UI and YARN). */
  readonly appName: string;
  /** Address the server binds (4.x) and the gateway connects to. */
  readonly host: string;
  readonly port: number;
  /** spark.master: local[*], yarn, k8s://…, spark://… */
  readonly master: string;
  readonly conf: readonly (readonly [string, string])[];
  readonly connectJar?: string | undefined;
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv | undefined;
}

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface ConnectServerProcess {
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has gone, however it went. */
  readonly exited: Promise<ProcessExit>;
  /** Whether it is still running. */
  alive(): boolean;
  /** SIGTERM to the whole process group, SIGKILL after the grace period. */
  stop(graceMs: number): Promise<void>;
}

/** The spark-submit command line of a server (also shown by the admin API). */
export function connectServerArgs(launch: ConnectServerLaunch): string[] {
  const conf: [string, string][] = [['spark.connect.grpc.binding.port', String(launch.port)]];
  // 3.5 always binds every interface; 4.x takes the address.
  if (launch.install.hasConnectServer && launch.host !== '0.0.0.0' && launch.host !== '::')
    conf.push(['spark.connect.grpc.binding.address', launch.host]);
  const args = [
    '--class',
    CONNECT_SERVER_CLASS,
    '--name',
    launch.appName,
    '--master',
    launch.master,
  ];
  // The gateway must reach the driver where it runs: on this machine.
  if (!launch.master.startsWith('local')) args.push('--deploy-mode', 'client');
  for (const [key, value] of [...conf, ...launch.conf]) args.push('--conf', `${key}=${value}`);
  args.push(...connectServerClasspath(launch.install, launch.connectJar), 'spark-internal');
  return args;
}

export function launchConnectServer(launch: ConnectServerLaunch): ConnectServerProcess {
  mkdirSync(dirname(launch.logFile), { recursive: true });
  const log = openSync(launch.logFile, 'a');
  let child;
  try {
    child = spawn(launch.install.sparkSubmit, connectServerArgs(launch), {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, SPARK_HOME: launch.install.home, ...launch.env },
    });
  } finally {
    closeSync(log);
  }
  let exit: ProcessExit | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('error', (error) => {
      exit ??= { code: null, signal: `spawn failed: ${error.message}` };
      resolve(exit);
    });
    child.once('exit', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  // The gateway must not wait on its servers to exit; it stops them itself.
  child.unref();
  const pid = child.pid ?? -1;
  return {
    pid,
    logFile: launch.logFile,
    exited,
    alive: () => exit === undefined && pid > 0,
    stop: (graceMs) => stopGroup(pid, () => exit !== undefined, exited, graceMs),
  };
}

/**
 * A server an earlier gateway process launched, found alive by pid: its command line must still
 * be a Spark Connect server on `port`, so a recycled pid is never taken for it.
 */
export function adoptConnectServer(
  pid: number,
  port: number,
  logFile: string,
  pollMs = 1000,
): ConnectServerProcess | undefined {
  if (!isConnectServer(pid, port)) return undefined;
  let gone = false;
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    timer = setInterval(() => {
      if (isRunning(pid)) return;
      gone = true;
      clearInterval(timer);
      resolve({ code: null, signal: null });
    }, pollMs);
    timer.unref();
  });
  return {
    pid,
    logFile,
    exited,
    alive: () => !gone && isRunning(pid),
    stop: async (graceMs) => {
      await stopGroup(pid, () => !isRunning(pid), exited, graceMs, pollMs);
      gone = true;
      clearInterval(timer);
    },
  };
}

/** Whether `pid` runs a Spark Connect server bound to `port` (Linux /proc). */
export function isConnectServer(pid: number, port: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0');
    return (
      cmdline.includes(CONNECT_SERVER_CLASS) &&
      cmdline.includes(`spark.connect.grpc.binding.port=${String(port)}`)
    );
  } catch {
    return false;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is gone for our purposes.
    return !readFileSync(`/proc/${String(pid)}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

async function stopGroup(
  pid: number,
  done: () => boolean,
  exited: Promise<ProcessExit>,
  graceMs: number,
  pollMs = 200,
): Promise<void> {
  if (pid <= 0 || done()) return;
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-pid, name);
    } catch {
      // The group is gone already.
    }
  };
  signal('SIGTERM');
  let graceTimer: NodeJS.Timeout | undefined;
  const waited = await Promise.race([
    exited.then(() => true),
    new Promise<boolean>((resolve) => {
      graceTimer = setTimeout(() => {
        resolve(false);
      }, graceMs);
    }),
  ]);
  clearTimeout(graceTimer);
  if (!waited || !done()) signal('SIGKILL');
  // spark-submit's JVM may outlive the shell that started it for a moment: wait for the group.
  const deadline = Date.now() + 5000;
  while (groupAlive(pid) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, pollMs));
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The last lines of a server's log, for the error that says why it stopped; the lines Spark
 * writes for every health check of the gateway's are left out, as they say nothing.
 */
export function logTail(logFile: string, lines = 15): string {
  try {
    const size = statSync(logFile).size;
    const text = readFileSync(logFile, 'utf8').slice(Math.max(0, size - 65_536));
    return text
      .trimEnd()
      .split('\n')
      .filter((line) => !line.includes(PROBE_USER_ID))
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  }
}
