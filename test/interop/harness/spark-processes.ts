// Real Spark processes on loopback with free ports: a standalone master and worker, Spark's own
// external shuffle service, a Spark Connect server, and PySpark scripts. Each start waits for
// readiness by asking the process itself (its REST status or its log plus its port), never by a
// fixed sleep; each keeps its log in the run folder; each stop ends its whole process tree.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kill } from 'node:process';
import { startProcess, describeExit, type ManagedProcess } from './process-tree.ts';
import type { SparkInstall } from './spark-install.ts';
import { canConnect, freePort, waitUntil } from './wait.ts';

const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 120_000;
/** How long a script that timed out gets to write its threads' stacks before it is stopped. */
const STACK_DUMP_MS = 2_000;

export type SparkConf = Readonly<Record<string, string>>;

export interface SparkRun {
  readonly install: SparkInstall;
  /** Everything of this run: logs, confs, local dirs. Printed when a test fails. */
  readonly dir: string;
}

/** The environment every Spark process of a run gets: its own dirs, loopback only. */
export function sparkEnv(
  run: SparkRun,
  confDir: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  const local = join(run.dir, 'local');
  mkdirSync(local, { recursive: true });
  return {
    ...process.env,
    SPARK_HOME: run.install.sparkHome,
    SPARK_CONF_DIR: confDir,
    SPARK_LOG_DIR: join(run.dir, 'logs'),
    SPARK_PID_DIR: run.dir,
    SPARK_LOCAL_IP: LOOPBACK,
    SPARK_LOCAL_HOSTNAME: 'localhost',
    SPARK_LOCAL_DIRS: local,
    PYSPARK_PYTHON: run.install.python,
    PYSPARK_DRIVER_PYTHON: run.install.python,
    PYTHONUNBUFFERED: '1',
    PYTHONFAULTHANDLER: '1',
    ...extra,
  };
}

/** Writes `<run>/conf/<name>/spark-defaults.conf` and returns the folder. */
export function writeConf(run: SparkRun, name: string, conf: SparkConf): string {
  const dir = join(run.dir, 'conf', name);
  mkdirSync(dir, { recursive: true });
  const lines = Object.entries(conf).map(([key, value]) => `${key} ${value}`);
  writeFileSync(join(dir, 'spark-defaults.conf'), `${lines.join('\n')}\n`);
  return dir;
}

function sparkClass(
  run: SparkRun,
  name: string,
  mainClass: string,
  args: readonly string[],
  conf: SparkConf,
): ManagedProcess {
  const confDir = writeConf(run, name, conf);
  return startProcess({
    name,
    command: join(run.install.sparkHome, 'bin', 'spark-class'),
    args: [mainClass, ...args],
    env: sparkEnv(run, confDir),
    cwd: run.dir,
    logDir: join(run.dir, 'logs'),
  });
}

export interface StandaloneCluster {
  readonly masterUrl: string;
  readonly masterWebUrl: string;
  readonly processes: readonly ManagedProcess[];
  stop(): Promise<void>;
}

interface MasterStatus {
  readonly status?: string;
  readonly aliveworkers?: number;
}

async function masterStatus(webUrl: string): Promise<MasterStatus> {
  const response = await fetch(`${webUrl}/json/`, { signal: AbortSignal.timeout(2000) });
  return (await response.json()) as MasterStatus;
}

/**
 * A standalone master and one worker. The worker's own shuffle service is off, so executors that
 * set spark.shuffle.service.enabled=true must use the external one the test runs.
 */
export async function startStandaloneCluster(
  run: SparkRun,
  worker: { cores: number; memory: string },
  /** Conf for the master and the worker too, e.g. spark.authenticate and its secret. */
  conf: SparkConf = {},
): Promise<StandaloneCluster> {
  const [port, webPort, workerWebPort] = [await freePort(), await freePort(), await freePort()];
  const master = sparkClass(
    run,
    'master',
    'org.apache.spark.deploy.master.Master',
    ['--host', LOOPBACK, '--port', String(port), '--webui-port', String(webPort)],
    { 'spark.master.rest.enabled': 'false', 'spark.ui.showConsoleProgress': 'false', ...conf },
  );
  const processes: ManagedProcess[] = [master];
  const stop = async (): Promise<void> => {
    for (const process of [...processes].reverse()) await process.stop();
  };
  try {
    const masterUrl = `spark://${LOOPBACK}:${port}`;
    const masterWebUrl = `http://${LOOPBACK}:${webPort}`;
    await waitUntil(
      async () => ((await masterStatus(masterWebUrl)).status === 'ALIVE' ? true : undefined),
      {
        what: `Spark master at ${masterUrl} to be ALIVE`,
        timeoutMs: START_TIMEOUT_MS,
        abortIf: () => exitReason(master),
      },
    );
    const workerProcess = sparkClass(
      run,
      'worker',
      'org.apache.spark.deploy.worker.Worker',
      [
        '--host',
        LOOPBACK,
        '--port',
        '0',
        '--webui-port',
        String(workerWebPort),
        '--cores',
        String(worker.cores),
        '--memory',
        worker.memory,
        '--work-dir',
        join(run.dir, 'work'),
        masterUrl,
      ],
      {
        'spark.shuffle.service.enabled': 'false',
        'spark.worker.cleanup.enabled': 'false',
        ...conf,
      },
    );
    processes.push(workerProcess);
    await waitUntil(
      async () => (((await masterStatus(masterWebUrl)).aliveworkers ?? 0) >= 1 ? true : undefined),
      {
        what: `a worker to register with ${masterUrl}`,
        timeoutMs: START_TIMEOUT_MS,
        abortIf: () => exitReason(workerProcess) ?? exitReason(master),
      },
    );
    return { masterUrl, masterWebUrl, processes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface ShuffleServiceProcess {
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Spark's own external shuffle service (org.apache.spark.deploy.ExternalShuffleService). */
export async function startSparkShuffleService(
  run: SparkRun,
  conf: SparkConf = {},
): Promise<ShuffleServiceProcess> {
  const port = await freePort();
  const localDir = join(run.dir, 'shuffle-service-local');
  mkdirSync(localDir, { recursive: true });
  const process = sparkClass(
    run,
    'shuffle-service',
    'org.apache.spark.deploy.ExternalShuffleService',
    [],
    {
      'spark.shuffle.service.port': String(port),
      // Its recovery DB goes under spark.local.dir; keep it inside the run.
      'spark.local.dir': localDir,
      ...conf,
    },
  );
  try {
    await process.waitForLog(
      new RegExp(`Starting shuffle service on port ${port}`),
      START_TIMEOUT_MS,
    );
    await waitUntil(async () => ((await canConnect(LOOPBACK, port)) ? true : undefined), {
      what: `Spark's shuffle service to accept connections on ${LOOPBACK}:${port}`,
      timeoutMs: START_TIMEOUT_MS,
      abortIf: () => exitReason(process),
    });
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { port, process, stop: () => process.stop() };
}

export interface ConnectServerProcess {
  readonly port: number;
  readonly url: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * A Spark Connect server in local mode. Spark 4.x ships the server in its jars; 3.5 takes the
 * spark-connect jar through --jars, as start-connect-server.sh --packages would.
 */
export async function startConnectServer(
  run: SparkRun,
  conf: SparkConf = {},
): Promise<ConnectServerProcess> {
  const port = await freePort();
  const is35 = run.install.pin.line === '3.5';
  const allConf: SparkConf = {
    'spark.connect.grpc.binding.port': String(port),
    'spark.driver.host': LOOPBACK,
    'spark.driver.bindAddress': LOOPBACK,
    'spark.ui.enabled': 'false',
    // 4.0+ can bind the gRPC server to loopback; 3.5 always binds every interface.
    ...(is35 ? {} : { 'spark.connect.grpc.binding.address': LOOPBACK }),
    ...conf,
  };
  const confDir = writeConf(run, `connect-${port}`, {});
  const args = [
    '--class',
    'org.apache.spark.sql.connect.service.SparkConnectServer',
    '--name',
    'sparkplane-connect',
    '--master',
    'local[2]',
  ];
  for (const [key, value] of Object.entries(allConf)) args.push('--conf', `${key}=${value}`);
  if (run.install.connectJar !== undefined) args.push('--jars', run.install.connectJar);
  args.push('spark-internal');
  const process = startProcess({
    name: `connect-server-${port}`,
    command: join(run.install.sparkHome, 'bin', 'spark-submit'),
    args,
    env: sparkEnv(run, confDir),
    cwd: run.dir,
    logDir: join(run.dir, 'logs'),
  });
  try {
    await process.waitForLog(/Spark Connect server started/, START_TIMEOUT_MS);
    await waitUntil(async () => ((await canConnect(LOOPBACK, port)) ? true : undefined), {
      what: `Spark Connect server to accept connections on ${LOOPBACK}:${port}`,
      timeoutMs: START_TIMEOUT_MS,
      abortIf: () => exitReason(process),
    });
  } catch (error) {
    await process.stop();
    throw error;
  }
  return { port, url: `sc://${LOOPBACK}:${port}`, process, stop: () => process.stop() };
}

export interface PySparkResult<T> {
  readonly result: T;
  readonly process: ManagedProcess;
}

/** The line a PySpark script prints its result on, as JSON. */
export const RESULT_PREFIX = 'SPARKPLANE_RESULT ';

/**
 * Starts a script from test/interop/python with the install's python (classic PySpark or the
 * Connect client); `result` settles with what it printed after RESULT_PREFIX once it exits.
 */
export function startPySpark<T>(
  run: SparkRun,
  script: string,
  args: readonly string[],
  options: { readonly name: string; readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv },
): { readonly process: ManagedProcess; readonly result: Promise<T> } {
  const confDir = writeConf(run, options.name, {});
  const process = startProcess({
    name: options.name,
    command: run.install.python,
    args: [join(import.meta.dirname, '..', 'python', script), ...args],
    env: sparkEnv(run, confDir, options.env),
    cwd: run.dir,
    logDir: join(run.dir, 'logs'),
  });
  const result = (async () => {
    const deadline = { passed: false };
    const timer = setTimeout(() => {
      deadline.passed = true;
      // PYTHONFAULTHANDLER makes SIGABRT write the stack of every Python thread to the log first.
      signalProcess(process.pid, 'SIGABRT');
      setTimeout(() => void process.stop(), STACK_DUMP_MS);
    }, options.timeoutMs);
    try {
      const exit = await process.exited;
      // Progress bars end in carriage returns, so the result may share a line with one.
      const log = process.log();
      if (deadline.passed)
        throw new Error(
          `${script} did not finish within ${String(options.timeoutMs / 1000)} s` +
            (log.includes(RESULT_PREFIX) ? ' (it printed its result, then did not exit)' : '') +
            `; the stacks of its threads are at the end of ${process.logFile}`,
        );
      if (exit.code !== 0)
        throw new Error(`${script} failed (${describeExit(exit)}); see ${process.logFile}`);
      const at = log.lastIndexOf(RESULT_PREFIX);
      if (at < 0)
        throw new Error(
          `${script} printed no ${RESULT_PREFIX.trim()} line; see ${process.logFile}`,
        );
      return JSON.parse(log.slice(at + RESULT_PREFIX.length).split('\n')[0] ?? '') as T;
    } finally {
      clearTimeout(timer);
      await process.stop();
    }
  })();
  return { process, result };
}

export async function runPySpark<T>(
  run: SparkRun,
  script: string,
  args: readonly string[],
  options: { readonly name: string; readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv },
): Promise<PySparkResult<T>> {
  const started = startPySpark<T>(run, script, args, options);
  return { result: await started.result, process: started.process };
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    kill(pid, signal);
  } catch {
    // It exited in the meantime.
  }
}

function exitReason(process: ManagedProcess): string | undefined {
  const exit = process.exit();
  return exit === undefined
    ? undefined
    : `${process.name} exited (${describeExit(exit)}); see ${process.logFile}`;
}
