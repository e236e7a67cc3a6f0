// The gateway: one Spark Connect endpoint in front of many Spark Connect servers. Wires the front
// server, the session table (and its store), the backend pool with its health checks, placement
// and the proxy together, owns their lifetimes, and expires idle sessions.
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { listenOn } from '../core/listen.ts';
import {
  createBackendPool,
  type BackendPool,
  type BackendSpec,
  type HealthSettings,
} from './backends/backend-pool.ts';
import { GatewayError } from './errors.ts';
import { gatewayChannels } from './observability-channels.ts';
import { createFrontServer, type TlsSettings } from './proxy/front-server.ts';
import { createStreamProxy, type ProxyDependencies } from './proxy/stream-proxy.ts';
import { createMixedClients } from './proxy/pinned/mixed-clients.ts';
import { createSlabPool } from './proxy/pinned/slab-pool.ts';
import { relayPinned } from './proxy/pinned/pinned-connection.ts';
import { relayPinnedNative } from './proxy/pinned/native-connection.ts';
import { loadNativeCore, type NativeCore } from './native/native-core.ts';
import { openSqliteAffinityStore, type AffinityStore } from './routing/affinity-store.ts';
import { createPlacement, type PlacementPolicy } from './routing/placement.ts';
import { createRouter } from './routing/router.ts';
import {
  createManagedServers,
  type ManagedServers,
  type ManagedSettings,
} from './managed/managed-servers.ts';
import { openSessionTable, type SessionTable } from './routing/session-table.ts';

export const GATEWAY_DEFAULTS = {
  port: 15002,
  /** Spark's spark.connect.session.manager.defaultSessionTimeout. */
  sessionIdleTimeoutMs: 60 * 60_000,
  /** Spark's spark.connect.grpc.maxInboundMessageSize. */
  maxMessageBytes: 128 * 1024 * 1024,
  /** As the HAProxy setup the gateway replaces: inter 2s, fall 3, rise 2. */
  health: { intervalMs: 2000, timeoutMs: 2000, fall: 3, rise: 2 },
  connectTimeoutMs: 3000,
  maxConcurrentStreams: 256,
  connectionIdleTimeoutMs: 2 * 60 * 60_000,
  firstMessageTimeoutMs: 30_000,
  sweepIntervalMs: 30_000,
} as const;

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  readonly backends: readonly BackendSpec[];
  readonly stateDir?: string | undefined;
  /** A store other than the embedded one (shared by several gateways). */
  readonly store?: AffinityStore | undefined;
  readonly tls?: TlsSettings | undefined;
  readonly placement?: PlacementPolicy;
  readonly maxSessionsPerBackend?: number | undefined;
  readonly health?: Partial<HealthSettings>;
  readonly sessionIdleTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly maxMessageBytes?: number;
  readonly maxConcurrentStreams?: number;
  readonly connectionIdleTimeoutMs?: number;
  readonly firstMessageTimeoutMs?: number;
  readonly sweepIntervalMs?: number;
  /** Verifies a caller and resolves to its identity; every caller is '' without it. */
  readonly authenticate?: ((headers: http2.IncomingHttpHeaders) => Promise<string>) | undefined;
  readonly rewriteUserId?: boolean;
  readonly backendToken?: string | undefined;
  /**
   * terminate (default): every call is terminated and relayed by node:http2. pinned: each
   * cleartext client connection is relayed frame by frame to the one server its sessions live on.
   */
  readonly relay?: RelayMode | undefined;
  /**
   * Which implementation runs pinned connections: native (the Rust core; an error when it is
   * not built), typescript, or auto (default: native when built).
   */
  readonly relayCore?: RelayCore | undefined;
  /** Spark Connect servers the gateway launches and supervises itself. */
  readonly managed?: Omit<ManagedSettings, 'maxSessionsPerServer'> | undefined;
  /**
   * No one needs a record of each call that ends OK (the access log does not write them): the
   * native pinned relay then publishes the OK unary calls of sessions it routes itself as
   * summaries on gatewayChannels.rpcsFinished, which costs less JavaScript per call than one
   * rpcFinished record each. Default false.
   */
  readonly summarizeOkCalls?: boolean | undefined;
}

export interface Gateway {
  readonly address: AddressInfo;
  readonly pool: BackendPool;
  readonly sessions: SessionTable;
  readonly store: AffinityStore;
  /** What runs pinned connections (undefined: the gateway does not pin them). */
  readonly relayCore: 'native' | 'typescript' | undefined;
  /** The servers the gateway runs itself, when it runs any. */
  readonly managed: ManagedServers | undefined;
  /** Resolves once the minimum of managed servers answer (or failed to start, and will be retried). */
  readonly managedStarted: Promise<void>;
  /** Adds a backend with the gateway's default session cap. */
  addBackend(spec: BackendSpec): void;
  /** Stops accepting, lets open calls finish until the deadline, then stops everything. */
  close(deadlineMs?: number): Promise<boolean>;
}

export const RELAY_MODES = ['terminate', 'pinned'] as const;
export type RelayMode = (typeof RELAY_MODES)[number];
export const RELAY_CORES = ['auto', 'native', 'typescript'] as const;
export type RelayCore = (typeof RELAY_CORES)[number];

/** The native core for pinned connections as `choice` asks, or undefined for the TypeScript. */
function pinnedCore(choice: RelayCore): NativeCore | undefined {
  if (choice === 'typescript') return undefined;
  const loaded = loadNativeCore();
  if (loaded.core === undefined && choice === 'native')
    throw new GatewayError(
      'GW_BAD_CONFIG',
      `--relay-core native: ${loaded.missing}; or run with --relay-core typescript`,
    );
  return loaded.core;
}
/** How long a client whose connection mixed servers' sessions is terminated instead of pinned. */
const MIXED_CLIENT_TTL_MS = 10 * 60_000;
/** Free read buffers kept for pinned connections: 4 MiB of small ones, 8 MiB of large ones. */
const FREE_SLABS = { small: 256, large: 32 };

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  // Checked before anything opens: a core asked for and not built is a configuration error.
  const nativeCore =
    options.relay === 'pinned' ? pinnedCore(options.relayCore ?? 'auto') : undefined;
  const store = options.store ?? openSqliteAffinityStore(options.stateDir);
  const routeEpoch = new Uint32Array(1);
  const onChange = (): void => {
    routeEpoch[0] = (routeEpoch[0] ?? 0) + 1;
  };
  const sessions = await openSessionTable({
    store,
    idleTimeoutMs: options.sessionIdleTimeoutMs ?? GATEWAY_DEFAULTS.sessionIdleTimeoutMs,
    onChange,
  });
  const pool = createBackendPool({
    health: { ...GATEWAY_DEFAULTS.health, ...options.health },
    connectTimeoutMs: options.connectTimeoutMs ?? GATEWAY_DEFAULTS.connectTimeoutMs,
    backendToken: options.backendToken,
    onChange,
  });
  const addBackend = (spec: BackendSpec): void => {
    pool.add({ ...spec, maxSessions: spec.maxSessions ?? options.maxSessionsPerBackend });
  };
  for (const spec of options.backends) addBackend(spec);
  const placement = createPlacement(options.placement ?? 'least-sessions');
  const managed =
    options.managed === undefined
      ? undefined
      : createManagedServers(
          { ...options.managed, maxSessionsPerServer: options.maxSessionsPerBackend },
          { pool, placement, sessionsPerBackend: () => sessions.placementLoad() },
        );
  const router = createRouter({
    sessions,
    pool,
    placement,
    placer:
      managed === undefined
        ? undefined
        : (request) => managed.place(request, request.createsSession),
  });
  const proxyDependencies: ProxyDependencies = {
    router,
    sessions,
    pool,
    maxMessageBytes: options.maxMessageBytes ?? GATEWAY_DEFAULTS.maxMessageBytes,
    firstMessageTimeoutMs: options.firstMessageTimeoutMs ?? GATEWAY_DEFAULTS.firstMessageTimeoutMs,
    authenticate: options.authenticate ?? (() => Promise.resolve('')),
    rewriteUserId: options.rewriteUserId ?? options.authenticate !== undefined,
    backendToken: options.backendToken,
  };
  const maxConcurrentStreams =
    options.maxConcurrentStreams ?? GATEWAY_DEFAULTS.maxConcurrentStreams;
  const idleTimeoutMs = options.connectionIdleTimeoutMs ?? GATEWAY_DEFAULTS.connectionIdleTimeoutMs;
  const pinnedDependencies =
    options.relay === 'pinned'
      ? {
          ...proxyDependencies,
          authenticating: options.authenticate !== undefined,
          maxConcurrentStreams,
          mixedClients: createMixedClients({ ttlMs: MIXED_CLIENT_TTL_MS, maxEntries: 100_000 }),
          serving: () => pool.list().some((backend) => backend.health === 'up'),
          slabs: createSlabPool(FREE_SLABS),
          summarizeOkCalls: options.summarizeOkCalls ?? false,
          routeEpoch,
          idleTimeoutMs,
        }
      : undefined;
  const front = createFrontServer({
    tls: options.tls,
    maxConcurrentStreams,
    idleTimeoutMs,
    onStream: createStreamProxy(proxyDependencies),
    pinned:
      pinnedDependencies === undefined
        ? undefined
        : {
            relay: (socket, connection, onClosed) =>
              nativeCore === undefined
                ? relayPinned(socket, pinnedDependencies, connection, onClosed)
                : relayPinnedNative(nativeCore, socket, pinnedDependencies, connection, onClosed),
            mixedClients: pinnedDependencies.mixedClients,
          },
  });

  const sweep = async (): Promise<void> => {
    for (const binding of await sessions.sweep())
      gatewayChannels.sessionEnded.publish({
        backend: binding.backend,
        userId: binding.userId,
        sessionId: binding.sessionId,
        principal: binding.principal,
        client: binding.clientAddress,
        reason: 'expired',
      });
  };
  const sweeper = setInterval(() => {
    void sweep().catch(() => undefined);
  }, options.sweepIntervalMs ?? GATEWAY_DEFAULTS.sweepIntervalMs);
  sweeper.unref();

  let address: AddressInfo;
  try {
    address = await listenOn(
      front.server,
      'gateway',
      'the Spark Connect gateway',
      options.host,
      options.port,
    );
  } catch (error) {
    clearInterval(sweeper);
    await managed?.close();
    await pool.close();
    await sessions.close();
    throw error;
  }

  // Only once the port is ours (a second gateway started on the same state dir by mistake must not
  // take over, then stop, the first one's servers), and before any call is served: a restored
  // session's server must be in the pool again.
  managed?.adopt();
  // Sessions that arrive meanwhile wait for these servers in placement.
  const managedStarted = managed?.start() ?? Promise.resolve();

  return {
    address,
    managedStarted,
    relayCore:
      options.relay !== 'pinned' ? undefined : nativeCore === undefined ? 'typescript' : 'native',
    pool,
    sessions,
    store,
    managed,
    addBackend,
    async close(deadlineMs = 10_000) {
      clearInterval(sweeper);
      const drained = await front.close(deadlineMs);
      await managed?.close();
      await pool.close(0);
      await sessions.close();
      return drained;
    },
  };
}
