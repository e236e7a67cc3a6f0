// The processes of the gateway benchmark, each started on 127.0.0.1 with its log in the run folder
// and stopped with its whole process tree: the in-repo Spark Connect server (steady-backend/),
// `sparkplane gateway`, HAProxy in TCP mode with source stickiness — the setup the gateway
// replaces — and HAProxy terminating HTTP/2 as a reference for what reading every request costs a
// native proxy.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  startProcess,
  describeExit,
  type ManagedProcess,
} from '../../test/interop/harness/process-tree.ts';
import { REPO_ROOT } from '../../test/interop/harness/spark-install.ts';
import { canConnect, freePort, waitUntil } from '../../test/interop/harness/wait.ts';

const LOOPBACK = '127.0.0.1';
const START_TIMEOUT_MS = 60_000;

/** Something listening on 127.0.0.1:port, run by the process tree rooted at pid. */
export interface Listener {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

function abortIfExited(process: ManagedProcess): () => string | undefined {
  return () => {
    const exit = process.exit();
    return exit === undefined
      ? undefined
      : `${process.name} exited (${describeExit(exit)}); see ${process.logFile}`;
  };
}

async function readyOrStopped(
  process: ManagedProcess,
  what: string,
  ready: () => Promise<boolean>,
): Promise<void> {
  try {
    await waitUntil(async () => ((await ready()) ? true : undefined), {
      what: `${what} (see ${process.logFile})`,
      timeoutMs: START_TIMEOUT_MS,
      abortIf: abortIfExited(process),
    });
  } catch (error) {
    await process.stop();
    throw error;
  }
}

const STEADY_BACKEND = join(REPO_ROOT, 'benchmarks', 'steady-backend');

export const CARGO_INSTALL_HINT =
  "cargo is not installed: install Rust (https://rustup.rs or the distribution's cargo), which the gateway's native core needs too";

/** cargo on PATH, or where rustup puts it; undefined when neither runs. */
export function findCargo(): string | undefined {
  return ['cargo', join(homedir(), '.cargo', 'bin', 'cargo')].find(
    (cargo) => spawnSync(cargo, ['--version'], { stdio: 'ignore' }).status === 0,
  );
}

/**
 * Builds benchmarks/steady-backend (cargo, its crates pinned by its Cargo.lock) and returns its
 * binary; undefined when there is no cargo.
 */
export function buildSteadyBackend(): string | undefined {
  const cargo = findCargo();
  if (cargo === undefined) return undefined;
  const build = spawnSync(
    cargo,
    [
      'build',
      '--quiet',
      '--release',
      '--locked',
      '--manifest-path',
      join(STEADY_BACKEND, 'Cargo.toml'),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] },
  );
  if (build.status !== 0)
    throw new Error(`cargo could not build ${STEADY_BACKEND}:\n${build.stderr}`);
  return join(STEADY_BACKEND, 'target', 'release', 'sparkplane-steady-backend');
}

/**
 * benchmarks/steady-backend: every Config call answered with `config`, every ExecutePlan with
 * `batches` times `executePlan` (message bodies, written to the run folder for it).
 */
export async function startSteadyBackend(
  binary: string,
  logDir: string,
  responses: {
    readonly config: Uint8Array;
    readonly executePlan: Uint8Array;
    readonly batches: number;
  },
): Promise<Listener> {
  const config = join(logDir, 'steady-backend-config.bin');
  const executePlan = join(logDir, 'steady-backend-execute-plan.bin');
  writeFileSync(config, responses.config);
  writeFileSync(executePlan, responses.executePlan);
  const process = startProcess({
    name: 'steady-backend',
    command: binary,
    args: [
      '--config',
      config,
      '--execute-plan',
      executePlan,
      '--batches',
      String(responses.batches),
    ],
    env: globalThis.process.env,
    cwd: REPO_ROOT,
    logDir,
  });
  let port = 0;
  await readyOrStopped(process, 'the steady Spark Connect server to print its port', () => {
    const match = /\{"port":(\d+)\}/.exec(process.log());
    port = Number(match?.[1] ?? 0);
    return Promise.resolve(port > 0);
  });
  return { port, pid: process.pid, stop: () => process.stop() };
}

export interface GatewayProcessOptions {
  readonly logDir: string;
  readonly stateDir: string;
  readonly backendPort: number;
  /** Node options for the gateway process only, e.g. "--cpu-prof --cpu-prof-dir=DIR". */
  readonly nodeOptions?: string | undefined;
  readonly name: string;
  /** `--relay` of the gateway: terminate (its default) or pinned. */
  readonly relay: 'terminate' | 'pinned';
  /** `--relay-core` of the gateway (pinned only). */
  readonly relayCore?: 'native' | 'typescript' | undefined;
}

/** `bin/sparkplane gateway` in front of one backend, ready once that backend is up. */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<Listener> {
  const port = await freePort();
  const adminPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...globalThis.process.env, NO_COLOR: '1' };
  if (options.nodeOptions !== undefined) env.NODE_OPTIONS = options.nodeOptions;
  const process = startProcess({
    name: options.name,
    command: join(REPO_ROOT, 'bin', 'sparkplane'),
    args: [
      'gateway',
      '--host',
      LOOPBACK,
      '--port',
      String(port),
      '--admin-port',
      String(adminPort),
      '--state-dir',
      options.stateDir,
      '--backend',
      `${LOOPBACK}:${String(options.backendPort)}`,
      // An access-log line per call is what operators run with at info; warn keeps the log
      // file small, and the cost of logging is not what is compared here.
      '--log-level',
      'warn',
      '--log-format',
      'json',
      '--relay',
      options.relay,
      ...(options.relayCore === undefined ? [] : ['--relay-core', options.relayCore]),
    ],
    env,
    cwd: REPO_ROOT,
    logDir: options.logDir,
  });
  await readyOrStopped(
    process,
    `sparkplane gateway on ${LOOPBACK}:${String(port)} with its backend up`,
    async () => {
      const reply = await fetch(`http://${LOOPBACK}:${String(adminPort)}/api/gateway/backends`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await reply.json()) as { backends: { health: string }[] };
      return (
        body.backends.length === 1 &&
        body.backends.every((backend) => backend.health === 'up') &&
        (await canConnect(LOOPBACK, port))
      );
    },
  );
  return { port, pid: process.pid, stop: () => process.stop() };
}

/** The HAProxy binary and its version, or undefined when it is not installed. */
export function findHaproxy(): { binary: string; version: string } | undefined {
  for (const binary of ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
    const probe = spawnSync(binary, ['-v'], { encoding: 'utf8' });
    if (probe.status === 0)
      return { binary, version: `HAProxy ${/version (\S+)/.exec(probe.stdout)?.[1] ?? '?'}` };
  }
  return undefined;
}

export const HAPROXY_INSTALL_HINT =
  'HAProxy is not installed: install the Debian package (apt-get install -y haproxy) or put haproxy on PATH';

/**
 * HAProxy as a Spark Connect endpoint is usually deployed: TCP mode (it cannot see sessions inside
 * HTTP/2), each client address stuck to one server, servers checked as the gateway's defaults
 * mirror (inter 2s fall 3 rise 2).
 */
export function haproxyConfig(port: number, backendPort: number): string {
  return [
    'global',
    '    maxconn 4096',
    'defaults',
    '    mode tcp',
    '    timeout connect 3s',
    '    timeout client 2h',
    '    timeout server 2h',
    'listen spark-connect',
    `    bind ${LOOPBACK}:${String(port)}`,
    '    balance source',
    '    hash-type consistent',
    '    stick-table type ip size 1m expire 60m',
    '    stick on src',
    `    server connect-1 ${LOOPBACK}:${String(backendPort)} check inter 2s fall 3 rise 2`,
    '',
  ].join('\n');
}

/**
 * HAProxy terminating HTTP/2 on both sides (mode http, h2 front and back): not a Spark Connect
 * setup (it cannot route by the session inside a request either), but the cost of a mature native
 * proxy that reads every request, next to which the gateway's own can be judged.
 */
export function haproxyHttp2Config(port: number, backendPort: number): string {
  return [
    'global',
    '    maxconn 4096',
    'defaults',
    '    mode http',
    '    timeout connect 3s',
    '    timeout client 2h',
    '    timeout server 2h',
    'listen spark-connect-h2',
    `    bind ${LOOPBACK}:${String(port)} proto h2`,
    '    balance source',
    `    server connect-1 ${LOOPBACK}:${String(backendPort)} proto h2 check inter 2s fall 3 rise 2`,
    '',
  ].join('\n');
}

export async function startHaproxy(
  binary: string,
  dir: string,
  name: string,
  backendPort: number,
  mode: 'tcp' | 'http2' = 'tcp',
): Promise<Listener> {
  const port = await freePort();
  const config = join(dir, `${name}.cfg`);
  writeFileSync(
    config,
    mode === 'tcp' ? haproxyConfig(port, backendPort) : haproxyHttp2Config(port, backendPort),
  );
  const process = startProcess({
    name,
    command: binary,
    args: ['-f', config, '-db'],
    env: globalThis.process.env,
    cwd: dir,
    logDir: dir,
  });
  await readyOrStopped(process, `HAProxy on ${LOOPBACK}:${String(port)}`, () =>
    canConnect(LOOPBACK, port),
  );
  return { port, pid: process.pid, stop: () => process.stop() };
}

/** Which code bin/sparkplane runs: dist/ when it was built after the last change to src/. */
export function gatewayBuild(): 'dist' | 'src' {
  const built = join(REPO_ROOT, 'dist', '.built');
  if (!existsSync(built)) return 'src';
  const newer = spawnSync(
    'find',
    [join(REPO_ROOT, 'src'), '-name', '*.ts', '-newer', built, '-print', '-quit'],
    { encoding: 'utf8' },
  );
  return newer.status === 0 && newer.stdout.trim() === '' ? 'dist' : 'src';
}
