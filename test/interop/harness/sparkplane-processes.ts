// sparkplane's own services as real processes (bin/sparkplane), started the way an operator
// would, next to the Spark processes of a run.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeExit, startProcess, type ManagedProcess } from './process-tree.ts';
import { REPO_ROOT } from './spark-install.ts';
import type { SparkRun } from './spark-processes.ts';
import { canConnect, freePort, waitUntil } from './wait.ts';

const LOOPBACK = '127.0.0.1';

/**
 * Starts `bin/sparkplane COMMAND ARGS` with JSON debug logs in the run's log folder and waits
 * until `ready` says so; fails at once if the process exits first, and stops it on failure.
 */
async function startSparkplane(
  run: SparkRun,
  spec: {
    readonly name: string;
    readonly args: readonly string[];
    readonly what: string;
    readonly ready: () => Promise<boolean>;
  },
): Promise<ManagedProcess> {
  const process = startProcess({
    name: spec.name,
    command: join(REPO_ROOT, 'bin', 'sparkplane'),
    // Right after the command name, so flags in `args` (a test's own --log-level) come later and win.
    args: [
      ...spec.args.slice(0, 1),
      '--log-format',
      'json',
      '--log-level',
      'debug',
      ...spec.args.slice(1),
    ],
    env: { ...globalThis.process.env, NO_COLOR: '1' },
    cwd: run.dir,
    logDir: join(run.dir, 'logs'),
  });
  try {
    await waitUntil(async () => ((await spec.ready()) ? true : undefined), {
      what: `${spec.what} (see ${process.logFile})`,
      timeoutMs: 60_000,
      abortIf: () => {
        const exit = process.exit();
        return exit === undefined
          ? undefined
          : `it exited (${describeExit(exit)}); see ${process.logFile}`;
      },
    });
  } catch (error) {
    await process.stop();
    throw error;
  }
  return process;
}

export interface SparkplaneShuffle {
  readonly port: number;
  readonly metricsPort: number;
  readonly stateDir: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface SparkplaneShuffleOptions {
  /** Reuse a port (a restart); a free one otherwise. */
  readonly port?: number;
  readonly stateDir?: string;
  readonly extraArgs?: readonly string[];
  /** Distinguishes the log files of restarts. */
  readonly name?: string;
}

/** `sparkplane shuffle` confined to the run's local dirs, with its state in the run folder. */
export async function startSparkplaneShuffle(
  run: SparkRun,
  options: SparkplaneShuffleOptions = {},
): Promise<SparkplaneShuffle> {
  const port = options.port ?? (await freePort());
  const metricsPort = await freePort();
  const stateDir = options.stateDir ?? join(run.dir, 'sparkplane-shuffle-state');
  const localRoot = join(run.dir, 'local');
  mkdirSync(localRoot, { recursive: true });
  const process = await startSparkplane(run, {
    name: options.name ?? 'sparkplane-shuffle',
    args: [
      'shuffle',
      '--host',
      LOOPBACK,
      '--port',
      String(port),
      '--metrics-port',
      String(metricsPort),
      '--allowed-root',
      localRoot,
      '--state-dir',
      stateDir,
      ...(options.extraArgs ?? []),
    ],
    what: `sparkplane shuffle to answer on ${LOOPBACK}:${port}`,
    // Ready when both ports answer: /healthz on the metrics port, TCP on the shuffle port.
    ready: async () => {
      const health = await fetch(`http://${LOOPBACK}:${metricsPort}/healthz`, {
        signal: AbortSignal.timeout(1000),
      });
      return health.ok && (await canConnect(LOOPBACK, port));
    },
  });
  return { port, metricsPort, stateDir, process, stop: () => process.stop() };
}

/** The shuffle service's Prometheus text. */
export async function shuffleMetrics(shuffle: SparkplaneShuffle): Promise<string> {
  const response = await fetch(`http://${LOOPBACK}:${shuffle.metricsPort}/metrics`, {
    signal: AbortSignal.timeout(5000),
  });
  return response.text();
}

export function metricValue(text: string, name: string): number {
  const line = text
    .split('\n')
    .find((entry) => entry.startsWith(`${name} `) || entry.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

export interface SparkplaneGateway {
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  readonly stateDir: string;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

export interface SparkplaneGatewayOptions {
  readonly backends: readonly number[];
  /** Reuse a port (a restart); a free one otherwise. */
  readonly port?: number;
  readonly stateDir?: string;
  readonly extraArgs?: readonly string[];
  readonly name?: string;
}

/** `sparkplane gateway` in front of Spark Connect servers on loopback; ready once every backend is up. */
export async function startSparkplaneGateway(
  run: SparkRun,
  options: SparkplaneGatewayOptions,
): Promise<SparkplaneGateway> {
  const port = options.port ?? (await freePort());
  const adminPort = await freePort();
  const stateDir = options.stateDir ?? join(run.dir, 'sparkplane-gateway-state');
  const process = await startSparkplane(run, {
    name: options.name ?? 'sparkplane-gateway',
    args: [
      'gateway',
      '--host',
      LOOPBACK,
      '--port',
      String(port),
      '--admin-port',
      String(adminPort),
      '--state-dir',
      stateDir,
      ...options.backends.flatMap((backend) => ['--backend', `${LOOPBACK}:${String(backend)}`]),
      '--check-interval',
      '500ms',
      ...(options.extraArgs ?? []),
    ],
    what: `sparkplane gateway on ${LOOPBACK}:${String(port)} with every backend up`,
    ready: async () => {
      const reply = await fetch(`http://${LOOPBACK}:${String(adminPort)}/api/gateway/backends`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await reply.json()) as { backends: { health: string }[] };
      return (
        body.backends.length === options.backends.length &&
        body.backends.every((backend) => backend.health === 'up') &&
        (await canConnect(LOOPBACK, port))
      );
    },
  });
  return {
    port,
    adminPort,
    url: `sc://${LOOPBACK}:${String(port)}`,
    stateDir,
    process,
    stop: () => process.stop(),
  };
}

/** The gateway's admin API, parsed. */
export async function gatewayApi<T>(gateway: SparkplaneGateway, path: string): Promise<T> {
  const reply = await fetch(`http://${LOOPBACK}:${String(gateway.adminPort)}/api/gateway/${path}`, {
    signal: AbortSignal.timeout(5000),
  });
  return (await reply.json()) as T;
}
