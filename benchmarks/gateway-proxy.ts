// Benchmark: the same clients call the same Spark Connect server directly, through HAProxy (TCP
// mode, source stickiness: the setup the gateway replaces), through HAProxy terminating HTTP/2 (a
// reference: what reading every request costs a native proxy) and through `sparkplane gateway`
// with each --relay mode, in one run. Two backends: the in-repo Spark Connect server
// (benchmarks/steady-backend, Rust: answers recorded replies in microseconds and never pauses to
// collect garbage, so what is measured is the proxy's overhead), and a real Spark Connect server
// end to end.
// Measured per path: unary Config calls/s with p50/p99 latency at 1, 64 and 512 calls in flight
// (from h2load, one session per concurrency), MB/s of one large streamed ExecutePlan result, and
// the gateway's RSS holding 10,000 idle sessions. Prints one table per part and whether the
// gateway meets its targets (JSON with --json). Every unary cell runs --rounds times and every
// streaming cell --stream-rounds times (one result is one call, whose speed varies more), every
// path once a round, taking turns to go first; what is compared (a p99 with the direct path's or
// HAProxy's, MB/s with the direct path's) is compared within each round, and the median and range
// of the rounds are shown: a round in which the backend paused for every path counts for none.
// With the in-repo server, which answers in microseconds, the client and the server share CPU 0
// and each proxy has CPU 1 to itself, so a cell measures the proxy and not how the scheduler
// placed three busy processes on two CPUs (--shared-cpus: all on every CPU, as the Spark part
// always runs).
//   apt-get install -y haproxy nghttp2-client && npm run build && scripts/build-native
//     (once; bin/sparkplane runs dist/ when current; the native core runs 'gateway pinned';
//     the benchmark builds the in-repo server with cargo)
//   scripts/node benchmarks/gateway-proxy.ts [--spark 4.3.0 | --no-spark] [--seconds 3]
//     [--rounds 5] [--stream-rounds 15] [--shared-cpus] [--json]
//     [--gateway-node-options="--cpu-prof --cpu-prof-dir=DIR"]
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  encodeConfigResponse,
  encodeExecutePlanRequest,
  encodeExecutePlanResponse,
} from '../src/gateway/wire/spark-connect-codecs.ts';
import { processTree } from '../test/interop/harness/process-tree.ts';
import { RUNS_ROOT } from '../test/interop/harness/run.ts';
import { SPARK_PINS, checkPrerequisites } from '../test/interop/harness/spark-install.ts';
import { startConnectServer } from '../test/interop/harness/spark-processes.ts';
import {
  H2LOAD_INSTALL_HINT,
  USER_ID,
  checkExecutePlan,
  disconnect,
  findH2load,
  openSessions,
  streamExecutePlan,
  unaryLoad,
  type StreamResult,
} from './support/connect-load.ts';
import { cpuMs, memory, runOnCpus, spread, type Memory } from './support/measure.ts';
import {
  HAPROXY_INSTALL_HINT,
  findHaproxy,
  gatewayBuild,
  CARGO_INSTALL_HINT,
  buildSteadyBackend,
  startSteadyBackend,
  startGatewayProcess,
  startHaproxy,
  type Listener,
} from './support/proxy-processes.ts';
import {
  evaluateTargets,
  printReport,
  type IdleSessions,
  type PathName,
  type Report,
  type StreamCell,
  type UnaryCell,
} from './support/gateway-report.ts';

const { values: args } = parseArgs({
  options: {
    spark: { type: 'string', default: SPARK_PINS.at(-1)?.spark ?? '' },
    'no-spark': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    'stream-rounds': { type: 'string', default: '15' },
    'shared-cpus': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'gateway-node-options': { type: 'string' },
  },
});

const STREAMS = [1, 64, 512];
const IDLE_SESSIONS = 10_000;
const OPEN_WORKERS = 64;
/** Idle time before the memory of the sessions is read: timers, GC and the store settle. */
const IDLE_SETTLE_MS = 5000;
/** The in-repo server answers every ExecutePlan, whatever its plan, with 256 batches of 4 MiB. */
const STEADY_RESULT = { batchBytes: 4 * 1024 * 1024, batches: 256 };
/** About 130 MB of arrow batches: 108 bytes of row data, plus offsets, per row. */
const SPARK_RESULT_SQL = "SELECT id, repeat('x', 100) AS pad FROM range(1200000)";

const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const streamRounds = Number(args['stream-rounds']);
if (
  !(seconds > 0) ||
  !Number.isInteger(rounds) ||
  rounds < 1 ||
  !Number.isInteger(streamRounds) ||
  streamRounds < 1
)
  throw new Error(
    `--seconds must be a positive number, --rounds and --stream-rounds positive integers (got ${args.seconds}, ${args.rounds} and ${args['stream-rounds']})`,
  );
const haproxy = findHaproxy();
const h2load = findH2load();
const steadyBackend = buildSteadyBackend();
if (haproxy === undefined || h2load === undefined || steadyBackend === undefined) {
  for (const [found, hint] of [
    [haproxy, HAPROXY_INSTALL_HINT],
    [h2load, H2LOAD_INSTALL_HINT],
    [steadyBackend, CARGO_INSTALL_HINT],
  ] as const)
    if (found === undefined) console.error(`gateway-proxy benchmark: ${hint}`);
  process.exit(2);
}
const h2loadBinary = h2load.binary;
const pin = SPARK_PINS.find((candidate) => candidate.spark === args.spark);
if (pin === undefined)
  throw new Error(
    `unknown Spark version ${args.spark}; pinned: ${SPARK_PINS.map((p) => p.spark).join(', ')}`,
  );
const prerequisites = args['no-spark'] ? undefined : checkPrerequisites(pin);
const sparkSkipped = args['no-spark']
  ? 'skipped (--no-spark)'
  : prerequisites?.ok === false
    ? `skipped: ${prerequisites.problems.join('; ')}`
    : undefined;

/** Every CPU, and whether the in-repo part splits them (client and server, then the proxy). */
const ALL_CPUS = `0-${String(availableParallelism() - 1)}`;
const cpuSplit = !args['shared-cpus'] && availableParallelism() >= 2;

// Read now: bin/sparkplane picks dist/ or src/ when the gateway starts.
const build = gatewayBuild();
const runDir = join(
  RUNS_ROOT,
  `${new Date().toISOString().replace(/[:.]/g, '-')}-bench-gateway-proxy`,
);
const logDir = join(runDir, 'logs');
mkdirSync(logDir, { recursive: true });

// Everything started is stopped by its pid: at the end, on failure, and on Ctrl-C. A process
// still starting is waited for (its start stops it on failure), then stopped.
const running = new Set<Listener>();
const starting = new Set<Promise<Listener>>();
async function keep(start: Promise<Listener>): Promise<Listener> {
  starting.add(start);
  try {
    const started = await start;
    running.add(started);
    return started;
  } finally {
    starting.delete(start);
  }
}
async function stop(...listeners: Listener[]): Promise<void> {
  for (const listener of listeners) {
    running.delete(listener);
    await listener.stop();
  }
}
async function stopAll(): Promise<void> {
  await Promise.allSettled(starting);
  await stop(...[...running].reverse());
}
const signalled = { interrupted: false };
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    signalled.interrupted = true;
    console.error(`${signal}: stopping every process this benchmark started`);
    void stopAll().finally(() => process.exit(130));
  });
}

/** One way from the client to the backend; `pid` is the proxy's, none for direct. */
interface Path {
  readonly name: PathName;
  readonly port: number;
  readonly pid: number | undefined;
}

/**
 * Every path measured --rounds times, once a round, the paths taking turns to go first; each
 * path's rounds in order, with the CPU time its proxy used over the measured time: from
 * `measuredStart` when the measure calls it (after its warm-up), else from its start.
 */
async function measureRounds<T>(
  paths: readonly Path[],
  count: number,
  measure: (path: Path, measuredStart: () => void) => Promise<T>,
): Promise<Map<PathName, (T & { readonly proxyCpuMs: number })[]>> {
  const results = new Map<PathName, (T & { proxyCpuMs: number })[]>(
    paths.map((path) => [path.name, []]),
  );
  for (let round = 0; round < count; round++) {
    const first = round % paths.length;
    for (const path of [...paths.slice(first), ...paths.slice(0, first)]) {
      const cpuNow = (): number => (path.pid === undefined ? Number.NaN : cpuMs(path.pid));
      let cpuBefore = cpuNow();
      const result = await measure(path, () => {
        cpuBefore = cpuNow();
      });
      const proxyCpuMs = cpuNow() - cpuBefore;
      results.get(path.name)?.push({ ...result, proxyCpuMs });
    }
  }
  return results;
}

/** `value` of the path's round divided by, or minus, that of the direct path in the same round. */
function againstDirect<T>(
  rounds: ReadonlyMap<PathName, readonly T[]>,
  path: PathName,
  value: (round: T) => number,
  compare: (path: number, direct: number) => number,
): number[] {
  const direct = rounds.get('direct') ?? [];
  return (rounds.get(path) ?? []).map((round, index) => {
    const directRound = direct[index];
    return compare(value(round), directRound === undefined ? Number.NaN : value(directRound));
  });
}

const medianOf = <T>(rounds: readonly T[], value: (round: T) => number): number =>
  spread(rounds.map(value)).median;

/** Unary and streaming cells of one backend through every path. */
async function measureBackend(
  backend: string,
  paths: readonly Path[],
  streamRequest: Uint8Array,
  streamTimeoutMs: number,
): Promise<{ unary: UnaryCell[]; stream: StreamCell[] }> {
  // One session per concurrency, the same on every path: h2load sends one request body.
  const sessionIds = new Map(STREAMS.map((streams) => [streams, randomUUID()]));
  // Warm-up: JIT everywhere, every session placed (gateway) and created (Spark) before timing,
  // and the streamed result checked (gRPC status 0) and its size taken on every path.
  const resultBytes = new Map<PathName, number>();
  for (const path of paths) {
    for (const [streams, sessionId] of sessionIds)
      await unaryLoad(h2loadBinary, path.port, sessionId, streams, 1);
    const checked = await checkExecutePlan(path.port, streamRequest, streamTimeoutMs);
    resultBytes.set(path.name, checked.framedBytes);
  }
  const unary: UnaryCell[] = [];
  for (const [streams, sessionId] of sessionIds) {
    const byPath = await measureRounds(paths, rounds, (path, measuredStart) =>
      unaryLoad(h2loadBinary, path.port, sessionId, streams, seconds, measuredStart),
    );
    for (const [path, measured] of byPath)
      unary.push({
        backend,
        path,
        streams,
        calls: medianOf(measured, (round) => round.calls),
        callsPerSecond: medianOf(measured, (round) => round.callsPerSecond),
        p50Ms: medianOf(measured, (round) => round.p50Ms),
        p99Ms: medianOf(measured, (round) => round.p99Ms),
        errors: measured.reduce((sum, round) => sum + round.errors, 0),
        p99ByRoundMs: measured.map((round) => round.p99Ms),
        addedP99Ms: spread(
          againstDirect(
            byPath,
            path,
            (round) => round.p99Ms,
            (own, direct) => own - direct,
          ),
        ),
        proxyCpuMs: medianOf(measured, (round) => round.proxyCpuMs),
        proxyCpuUsPerCall: medianOf(measured, (round) => (round.proxyCpuMs * 1000) / round.calls),
      });
  }
  const streamOnce = (path: Path): Promise<StreamResult> =>
    streamExecutePlan(
      h2loadBinary,
      path.port,
      streamRequest,
      streamTimeoutMs,
      resultBytes.get(path.name) ?? Number.NaN,
    );
  // One streamed result is one call, whose speed varies from call to call far more than 3 s of
  // unary calls do (Spark's by a third and more): it has rounds of its own, more of them.
  const byPath = await measureRounds(paths, streamRounds, async (path, measuredStart) => {
    try {
      return await streamOnce(path);
    } catch (error) {
      // Spark in local mode now and then loses a 130 MB task result (TaskResultLost) whatever
      // the path: such a round is run again once, and said; a second failure ends the run.
      process.stderr.write(
        `${backend} ${path.name}: the streamed result failed, measuring again: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      measuredStart();
      return streamOnce(path);
    }
  });
  const stream = [...byPath].map(([path, measured]): StreamCell => ({
    backend,
    path,
    bytes: medianOf(measured, (round) => round.bytes),
    seconds: medianOf(measured, (round) => round.seconds),
    mbPerSecond: medianOf(measured, (round) => round.mbPerSecond),
    shareOfDirect: spread(
      againstDirect(
        byPath,
        path,
        (round) => round.mbPerSecond,
        (own, direct) => own / direct,
      ),
    ),
    proxyCpuMs: medianOf(measured, (round) => round.proxyCpuMs),
    proxyCpuMsPerMiB: medianOf(measured, (round) => round.proxyCpuMs / (round.bytes / 1024 / 1024)),
  }));
  return { unary, stream };
}

/** RSS of a proxy before and after IDLE_SESSIONS new sessions, read once they sat idle. */
async function idleSessions(
  proxy: Listener,
): Promise<{ before: Memory; after: Memory; opened: number; errors: number }> {
  await delay(IDLE_SETTLE_MS);
  const before = memory(proxy.pid);
  const opened = await openSessions(proxy.port, IDLE_SESSIONS, OPEN_WORKERS);
  try {
    await delay(IDLE_SETTLE_MS);
    return { before, after: memory(proxy.pid), opened: opened.opened, errors: opened.errors };
  } finally {
    disconnect(opened.connections);
  }
}

/** What the in-repo server answers: a Spark Connect server's Config reply and result batch. */
const steadyResponses = {
  config: encodeConfigResponse({
    sessionId: '',
    serverSideSessionId: randomUUID(),
    pairs: [
      { key: 'spark.app.id', value: 'local-bench-steady-backend' },
      { key: 'spark.app.startTime', value: String(Date.now()) },
    ],
  }),
  executePlan: encodeExecutePlanResponse({
    sessionId: '',
    operationId: randomUUID(),
    responseId: '0',
    serverSideSessionId: '',
    arrowBatch: { rowCount: 1n, data: Buffer.alloc(STEADY_RESULT.batchBytes, 7) },
  }),
  batches: STEADY_RESULT.batches,
};
const inRepoRequest = encodeExecutePlanRequest({
  sessionId: randomUUID(),
  userId: USER_ID,
  sql: 'SELECT 1',
});
const sparkRequest = encodeExecutePlanRequest({
  sessionId: randomUUID(),
  userId: USER_ID,
  sql: SPARK_RESULT_SQL,
});

const unary: UnaryCell[] = [];
const stream: StreamCell[] = [];
let idle: IdleSessions | undefined;
try {
  // The client (this process and the h2load it starts) and the in-repo server on CPU 0.
  if (cpuSplit) runOnCpus([process.pid], '0');
  const inRepo = await keep(startSteadyBackend(steadyBackend, logDir, steadyResponses));
  /** A new HAProxy and gateway in front of `backend`, and the three paths to it. */
  const startProxies = async (
    name: string,
    backend: Listener,
  ): Promise<{ haproxy: Listener; gateway: Listener; paths: Path[]; references: Listener[] }> => {
    // With the in-repo server, each proxy on CPU 1. It starts on CPU 0: HAProxy counts its
    // threads by the CPUs it may use, so it runs one.
    const own = async (started: Promise<Listener>): Promise<Listener> => {
      const listener = await keep(started);
      if (cpuSplit && name === 'in-repo') runOnCpus(processTree(listener.pid), '1');
      return listener;
    };
    const haproxyProcess = await own(
      startHaproxy(haproxy.binary, runDir, `haproxy-${name}`, backend.port),
    );
    const gateway = (
      relay: 'terminate' | 'pinned',
      relayCore?: 'native' | 'typescript',
    ): Promise<Listener> =>
      own(
        startGatewayProcess({
          name: `gateway-${relay}${relayCore === undefined ? '' : `-${relayCore}`}-${name}`,
          logDir,
          stateDir: join(runDir, `gateway-${relay}-${relayCore ?? ''}-${name}-state`),
          backendPort: backend.port,
          nodeOptions: args['gateway-node-options'],
          relay,
          relayCore,
        }),
      );
    const gatewayProcess = await gateway('terminate');
    if (name === 'idle')
      return { haproxy: haproxyProcess, gateway: gatewayProcess, paths: [], references: [] };
    const haproxyHttp2 = await own(
      startHaproxy(haproxy.binary, runDir, `haproxy-h2-${name}`, backend.port, 'http2'),
    );
    const pinned = await gateway('pinned', 'native');
    const pinnedTs = await gateway('pinned', 'typescript');
    return {
      haproxy: haproxyProcess,
      gateway: gatewayProcess,
      references: [haproxyHttp2, pinned, pinnedTs],
      paths: [
        { name: 'direct', port: backend.port, pid: undefined },
        { name: 'HAProxy', port: haproxyProcess.port, pid: haproxyProcess.pid },
        { name: 'HAProxy h2', port: haproxyHttp2.port, pid: haproxyHttp2.pid },
        { name: 'gateway', port: gatewayProcess.port, pid: gatewayProcess.pid },
        { name: 'gateway pinned', port: pinned.port, pid: pinned.pid },
        { name: 'gateway pinned TS', port: pinnedTs.port, pid: pinnedTs.pid },
      ],
    };
  };

  const inRepoProxies = await startProxies('in-repo', inRepo);
  const inRepoCells = await measureBackend(
    'in-repo server',
    inRepoProxies.paths,
    inRepoRequest,
    120_000,
  );
  unary.push(...inRepoCells.unary);
  stream.push(...inRepoCells.stream);
  await stop(inRepoProxies.gateway, inRepoProxies.haproxy, ...inRepoProxies.references);

  // Fresh proxies, so the memory is that of the sessions and not of the load before.
  const idleProxies = await startProxies('idle', inRepo);
  const throughGateway = await idleSessions(idleProxies.gateway);
  const throughHaproxy = await idleSessions(idleProxies.haproxy);
  idle = {
    sessions: IDLE_SESSIONS,
    opened: throughGateway.opened,
    errors: throughGateway.errors,
    connections: OPEN_WORKERS,
    gatewayBefore: throughGateway.before,
    gatewayAfter: throughGateway.after,
    haproxyBefore: throughHaproxy.before,
    haproxyAfter: throughHaproxy.after,
  };
  await stop(idleProxies.gateway, idleProxies.haproxy);
  await stop(inRepo);
  // Spark's driver runs many threads: the Spark part runs on every CPU, as a deployment would.
  if (cpuSplit) runOnCpus([process.pid], ALL_CPUS);

  if (prerequisites?.ok === true) {
    const install = prerequisites.install;
    const spark = await keep(
      // Six paths each stream the 130 MB result several times; with Spark's default 1 GiB the
      // driver ran out of heap late in a run (TaskResultLost, then OutOfMemoryError).
      startConnectServer({ install, dir: runDir }, { 'spark.driver.memory': '3g' }).then(
        (server) => ({
          port: server.port,
          pid: server.process.pid,
          stop: () => server.stop(),
        }),
      ),
    );
    const sparkProxies = await startProxies('spark', spark);
    const sparkCells = await measureBackend(
      `Spark ${pin.spark}`,
      sparkProxies.paths,
      sparkRequest,
      300_000,
    );
    unary.push(...sparkCells.unary);
    stream.push(...sparkCells.stream);
    await stop(sparkProxies.gateway, sparkProxies.haproxy, ...sparkProxies.references, spark);
  }
} catch (error) {
  // Calls fail once Ctrl-C stopped the servers; that is not what to report.
  if (!signalled.interrupted) throw error;
} finally {
  await stopAll();
}
if (signalled.interrupted) process.exit(130);

const report: Report = {
  seconds,
  rounds,
  streamRounds,
  cpus: cpuSplit
    ? 'in-repo server: the client and the server on CPU 0, each proxy on CPU 1; Spark: every CPU'
    : `every process on every CPU (${ALL_CPUS})`,
  gatewayBuild: build,
  haproxy: haproxy.version,
  h2load: h2load.version,
  spark: sparkSkipped ?? pin.spark,
  runDir,
  unary,
  stream,
  idle,
  targets: evaluateTargets(unary, stream, idle),
};
printReport(report, args.json);
