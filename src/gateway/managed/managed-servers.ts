// The Spark Connect servers the gateway runs itself. It keeps the minimum of shared servers
// running, launches more on demand (a session that finds its servers full, or the first session of
// a user, group or connection under isolation) up to the maximum, restarts crashed ones with
// exponential backoff, and stops servers that have held no session for the idle timeout. A new
// server joins the backend pool only once it has answered a real Spark Connect call.
import type { Backend, BackendPool } from '../backends/backend-pool.ts';
import { backendId } from '../backends/backend-pool.ts';
import { GatewayError } from '../errors.ts';
import { gatewayChannels } from '../observability-channels.ts';
import type { Placement, PlacementCandidate } from '../routing/placement.ts';
import {
  adoptConnectServer,
  launchConnectServer,
  logTail,
  type ConnectServerLaunch,
  type ConnectServerProcess,
} from './connect-server-process.ts';
import {
  isolationKey,
  type GroupMap,
  type IsolationLevel,
  type SessionOwner,
} from './isolation.ts';
import {
  freePortInRange,
  readManagedState,
  writeManagedState,
  type PortRange,
} from './managed-state.ts';
import { waitUntilServing } from './readiness.ts';
import type { SparkInstall } from './spark-install.ts';

export interface ManagedSettings {
  readonly install: SparkInstall;
  /** Shared servers kept running at all times. */
  readonly minServers: number;
  /** Servers of every kind at most. */
  readonly maxServers: number;
  readonly master: string;
  readonly conf: readonly (readonly [string, string])[];
  readonly connectJar?: string | undefined;
  readonly isolation: IsolationLevel;
  readonly groups: () => GroupMap;
  readonly idleTimeoutMs: number;
  readonly host: string;
  readonly ports: PortRange;
  readonly logDir: string;
  /** Where the servers are written down for a restarted gateway to adopt; none when unset. */
  readonly stateFile?: string | undefined;
  readonly startTimeoutMs: number;
  readonly maxSessionsPerServer?: number | undefined;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly stopGraceMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Starts a process; the real spark-submit unless a test gives another. */
  readonly launch?: (launch: ConnectServerLaunch) => ConnectServerProcess;
}

export type ManagedServerState = 'starting' | 'running' | 'stopping';

export interface ManagedServerView {
  readonly name: string;
  readonly backend: string;
  /** Whose servers these are: undefined for the shared pool, else `user:…`, `group:…`, `session:…`. */
  readonly key: string | undefined;
  readonly state: ManagedServerState;
  readonly pid: number;
  readonly port: number;
  readonly startedAt: number;
  readonly adopted: boolean;
  readonly logFile: string;
}

export interface ManagedServers {
  list(): ManagedServerView[];
  /** Whether a backend id is one of these servers (and whose), or a configured server (false). */
  owns(backendId: string): boolean;
  /** Picks (launching if needed) the server for a new session of `owner`. */
  place(owner: SessionOwner, createsSession: boolean): Promise<Backend>;
  /**
   * Takes over the servers an earlier gateway process left running (written down in the state
   * file, alive, and still Spark Connect servers on their ports), so their sessions carry on.
   */
  adopt(): void;
  /** Launches the minimum of shared servers; resolves when they answer (or failed to start). */
  start(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

interface Entry {
  name: string;
  readonly key: string | undefined;
  port: number;
  process: ConnectServerProcess | undefined;
  state: ManagedServerState;
  readonly startedAt: number;
  adopted: boolean;
  logFile: string;
  idleSince: number | undefined;
  ready: Promise<void>;
}

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 60_000 };
/** A server up this long resets the restart backoff. */
const STABLE_MS = 60_000;

export function createManagedServers(
  settings: ManagedSettings,
  deps: {
    readonly pool: BackendPool;
    readonly placement: Placement;
    readonly sessionsPerBackend: () => ReadonlyMap<string, number>;
  },
): ManagedServers {
  const { pool, placement } = deps;
  const launch = settings.launch ?? launchConnectServer;
  const backoff = settings.backoff ?? DEFAULT_BACKOFF;
  const entries = new Map<string, Entry>();
  let serial = 0;
  let failuresInRow = 0;
  let lastFailureAt = 0;
  let closed = false;
  let stopGraceMs = settings.stopGraceMs ?? 10_000;
  let refill: NodeJS.Timeout | undefined;

  const idOf = (entry: Entry): string => backendId({ host: settings.host, port: entry.port });
  const persist = (): void => {
    writeManagedState(
      settings.stateFile,
      [...entries.values()]
        .filter((entry) => entry.process !== undefined)
        .map((entry) => ({
          name: entry.name,
          key: entry.key ?? null,
          host: settings.host,
          port: entry.port,
          pid: entry.process?.pid ?? -1,
          logFile: entry.logFile,
          startedAt: entry.startedAt,
        })),
    );
  };
  const keyOfBackend = (id: string): string | undefined | null => {
    for (const entry of entries.values()) if (idOf(entry) === id) return entry.key;
    return null;
  };
  const live = (): Entry[] => [...entries.values()].filter((entry) => entry.state !== 'stopping');

  const nameFor = (key: string | undefined): string => {
    serial++;
    const owner = key === undefined ? '' : `-${key.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40)}`;
    return `sparkplane-connect${owner}-${String(serial)}`;
  };

  const failed = (entry: Entry, why: string): GatewayError => {
    entries.delete(entry.name);
    persist();
    failuresInRow++;
    lastFailureAt = Date.now();
    const tail = logTail(entry.logFile);
    gatewayChannels.managedServerFailed.publish({
      name: entry.name,
      key: entry.key,
      error: why,
      logTail: tail,
    });
    return new GatewayError(
      'GW_LAUNCH_FAILED',
      `the gateway could not start a Spark Connect server${entry.key === undefined ? '' : ` for ${entry.key}`}: ${why}; its log is ${entry.logFile}${tail === '' ? '' : `, ending:\n${tail}`}`,
    );
  };

  const becomeReady = async (entry: Entry, process: ConnectServerProcess): Promise<void> => {
    const outcome = await waitUntilServing({
      host: settings.host,
      port: entry.port,
      timeoutMs: settings.startTimeoutMs,
      exited: process.exited,
      stopped: () => closed || entry.state === 'stopping',
    });
    if (outcome.kind === 'stopped') return;
    if (outcome.kind !== 'serving') {
      await process.stop(stopGraceMs);
      throw failed(entry, outcome.reason);
    }
    serving(entry, process);
    await pool.ready(idOf(entry)).catch(() => undefined);
  };

  /** The server joins the pool; from now on its exit is a crash. */
  const serving = (entry: Entry, process: ConnectServerProcess): void => {
    pool.add({ host: settings.host, port: entry.port, maxSessions: settings.maxSessionsPerServer });
    entry.state = 'running';
    if (Date.now() - lastFailureAt > STABLE_MS) failuresInRow = 0;
    gatewayChannels.managedServerReady.publish({
      name: entry.name,
      backend: idOf(entry),
      key: entry.key,
      pid: process.pid,
      startupMs: Date.now() - entry.startedAt,
      adopted: entry.adopted,
    });
    void process.exited.then((exit) => {
      if (entry.state === 'stopping' || !entries.has(entry.name)) return;
      entries.delete(entry.name);
      persist();
      failuresInRow++;
      lastFailureAt = Date.now();
      gatewayChannels.managedServerExited.publish({
        name: entry.name,
        backend: idOf(entry),
        key: entry.key,
        code: exit.code,
        signal: exit.signal,
        logTail: logTail(entry.logFile),
      });
      // Its sessions learn from the pool that their server is gone; shared servers come back.
      void pool.remove(idOf(entry));
      scheduleRefill();
    });
  };

  const start = async (key: string | undefined): Promise<Entry> => {
    const taken = new Set(live().map((entry) => entry.port));
    const entry: Entry = {
      name: nameFor(key),
      key,
      port: 0,
      process: undefined,
      state: 'starting',
      startedAt: Date.now(),
      adopted: false,
      logFile: '',
      idleSince: undefined,
      ready: Promise.resolve(),
    };
    entry.logFile = `${settings.logDir}/${entry.name}.log`;
    entries.set(entry.name, entry);
    const port = await freePortInRange(settings.host, settings.ports, taken);
    if (port === undefined)
      throw failed(
        entry,
        `no free port in ${String(settings.ports.first)}-${String(settings.ports.last)} on ${settings.host}; widen --managed-ports`,
      );
    entry.port = port;
    const process = launch({
      install: settings.install,
      appName: entry.name,
      host: settings.host,
      port,
      master: settings.master,
      conf: settings.conf,
      connectJar: settings.connectJar,
      logFile: entry.logFile,
      env: settings.env,
    });
    entry.process = process;
    persist();
    gatewayChannels.managedServerStarting.publish({
      name: entry.name,
      backend: idOf(entry),
      key,
      pid: process.pid,
      logFile: entry.logFile,
    });
    entry.ready = becomeReady(entry, process);
    return entry;
  };

  const sharedCount = (): number => live().filter((entry) => entry.key === undefined).length;

  const refillNow = async (): Promise<void> => {
    const missing = settings.minServers - sharedCount();
    const room = settings.maxServers - live().length;
    const starts: Promise<void>[] = [];
    for (let i = 0; i < Math.min(missing, room); i++)
      starts.push(start(undefined).then((entry) => entry.ready));
    const results = await Promise.allSettled(starts);
    if (results.some((result) => result.status === 'rejected')) scheduleRefill();
  };

  function scheduleRefill(): void {
    if (closed || refill !== undefined) return;
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.max(0, failuresInRow - 1));
    refill = setTimeout(() => {
      refill = undefined;
      void refillNow();
    }, delay);
    refill.unref();
  }

  const sweepIdle = (): void => {
    const counts = deps.sessionsPerBackend();
    const now = Date.now();
    for (const entry of live()) {
      if (entry.state !== 'running') continue;
      if ((counts.get(idOf(entry)) ?? 0) > 0) {
        entry.idleSince = undefined;
        continue;
      }
      entry.idleSince ??= now;
      const keep = entry.key === undefined && sharedCount() <= settings.minServers;
      if (!keep && now - entry.idleSince >= settings.idleTimeoutMs) void stop(entry, 'idle');
    }
  };
  const sweeper = setInterval(
    sweepIdle,
    Math.min(30_000, Math.max(250, Math.floor(settings.idleTimeoutMs / 4))),
  );
  sweeper.unref();

  const stop = async (entry: Entry, reason: 'idle' | 'shutdown'): Promise<void> => {
    if (entry.state === 'stopping') return;
    entry.state = 'stopping';
    const id = idOf(entry);
    pool.setDraining(id, true);
    await pool.remove(id);
    await entry.process?.stop(stopGraceMs);
    entries.delete(entry.name);
    persist();
    gatewayChannels.managedServerStopped.publish({ name: entry.name, backend: id, reason });
  };

  const chooseFrom = (key: string | undefined): Backend | undefined => {
    const counts = deps.sessionsPerBackend();
    const mine: PlacementCandidate[] = pool
      .candidates()
      .filter((candidate) => (keyOfBackend(candidate.id) ?? undefined) === key);
    try {
      return pool.get(placement.choose(mine, counts).id);
    } catch (error) {
      if (
        error instanceof GatewayError &&
        ['GW_NO_BACKEND', 'GW_BACKENDS_FULL'].includes(error.code)
      )
        return undefined;
      throw error;
    }
  };

  return {
    list: () =>
      [...entries.values()].map((entry) => ({
        name: entry.name,
        backend: idOf(entry),
        key: entry.key,
        state: entry.state,
        pid: entry.process?.pid ?? -1,
        port: entry.port,
        startedAt: entry.startedAt,
        adopted: entry.adopted,
        logFile: entry.logFile,
      })),
    owns: (id) => keyOfBackend(id) !== null,
    async place(owner, createsSession) {
      const key = isolationKey(settings.isolation, owner, settings.groups());
      if (closed)
        throw new GatewayError(
          'GW_NO_BACKEND',
          'the gateway is shutting down its Spark Connect servers',
        );
      for (let attempt = 0; attempt < 3; attempt++) {
        const chosen = chooseFrom(key);
        if (chosen !== undefined) return chosen;
        if (!createsSession) break;
        const starting = live().filter((entry) => entry.key === key && entry.state === 'starting');
        if (starting.length > 0) {
          await Promise.race(starting.map((entry) => entry.ready.catch(() => undefined)));
          continue;
        }
        if (live().length >= settings.maxServers) break;
        await (
          await start(key)
        ).ready;
      }
      if (!createsSession && key !== undefined)
        throw new GatewayError(
          'GW_BACKEND_GONE',
          `no Spark Connect server runs for ${key}: its session is gone or never existed; create a new Spark session`,
        );
      throw new GatewayError(
        'GW_BACKENDS_FULL',
        `every Spark Connect server the gateway may run is busy (${String(live().length)} of at most ${String(settings.maxServers)}${key === undefined ? '' : `; none free for ${key}`}); retry after sessions end, or raise --managed-max-servers`,
      );
    },
    adopt() {
      for (const record of readManagedState(settings.stateFile)) {
        if (record.host !== settings.host) continue;
        const process = adoptConnectServer(record.pid, record.port, record.logFile);
        if (process === undefined) continue;
        const entry: Entry = {
          name: record.name,
          key: record.key ?? undefined,
          port: record.port,
          process,
          state: 'starting',
          startedAt: record.startedAt,
          adopted: true,
          logFile: record.logFile,
          idleSince: undefined,
          ready: Promise.resolve(),
        };
        serial = Math.max(serial, Number(/-(\d+)$/.exec(record.name)?.[1] ?? 0));
        entries.set(entry.name, entry);
        serving(entry, process);
      }
      persist();
    },
    start: () => refillNow(),
    async close(graceMs) {
      closed = true;
      if (graceMs !== undefined) stopGraceMs = graceMs;
      clearInterval(sweeper);
      clearTimeout(refill);
      await Promise.all(
        [...entries.values()].map(async (entry) => {
          if (entry.state === 'stopping') return;
          await stop(entry, 'shutdown');
        }),
      );
    },
  };
}
