// The Spark Connect servers behind the gateway: their connections, health and identity. Active
// checks run every interval with HAProxy's fall/rise counting; a failed connect ejects a backend at
// once (passive); a lost connection makes the next session request wait until a probe has checked
// the server is still the same driver. A backend whose application id changed has restarted: the
// sessions placed on it before are gone.
import type http2 from 'node:http2';
import { GatewayError } from '../errors.ts';
import { probeBackend } from '../health/probe.ts';
import { gatewayChannels } from '../observability-channels.ts';
import { createUpstream, type Upstream } from '../proxy/upstream.ts';
import type { PlacementCandidate } from '../routing/placement.ts';

export interface BackendSpec {
  readonly host: string;
  readonly port: number;
  readonly maxSessions?: number | undefined;
}

export interface HealthSettings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks that take a healthy backend down. */
  readonly fall: number;
  /** Consecutive passed checks that bring a down backend up. */
  readonly rise: number;
}

export type BackendHealth = 'checking' | 'up' | 'down';

export interface Backend {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly maxSessions: number | undefined;
  readonly upstream: Upstream;
  readonly health: BackendHealth;
  readonly draining: boolean;
  /** The driver behind the port: Spark application id and start time, once a probe saw it. */
  readonly incarnation: string | undefined;
  readonly appId: string | undefined;
  readonly lastCheck: { at: number; ok: boolean; latencyMs: number; error?: string } | undefined;
  readonly downSince: number | undefined;
  readonly downReason: string | undefined;
}

export interface BackendPool {
  list(): readonly Backend[];
  get(id: string): Backend | undefined;
  add(spec: BackendSpec): Backend;
  /** Removes the backend; its sessions get GW_BACKEND_GONE from then on. */
  remove(id: string): Promise<boolean>;
  setDraining(id: string, draining: boolean): boolean;
  candidates(): PlacementCandidate[];
  /**
   * Resolves once the backend is known to be up and its identity checked since its connection was
   * last lost, waiting for a probe when needed; rejects with GW_BACKEND_GONE when it is down.
   */
  ready(id: string): Promise<Backend>;
  /** The backend when `ready` would resolve at once with it; otherwise undefined. */
  readyNow(id: string): Backend | undefined;
  /** A proxied request could not connect: eject the backend until checks pass again. */
  connectFailed(id: string, error: unknown): void;
  /** Runs one round of checks now (tests, startup). */
  checkAll(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export interface BackendPoolOptions {
  readonly health: HealthSettings;
  readonly connectTimeoutMs: number;
  readonly backendToken?: string | undefined;
  /**
   * Told of each change that can make `readyNow` answer differently for a backend (health,
   * identity, a lost connection, membership).
   */
  readonly onChange?: (() => void) | undefined;
}

type MutableBackend = { -readonly [K in keyof Backend]: Backend[K] };

interface Entry {
  readonly backend: MutableBackend;
  timer: NodeJS.Timeout | undefined;
  inFlight: Promise<void> | undefined;
  /** Set when the connection was lost: sessions wait until a probe re-checks the identity. */
  needsCheck: boolean;
  successes: number;
  failures: number;
}

export function backendId(spec: Pick<BackendSpec, 'host' | 'port'>): string {
  return `${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${String(spec.port)}`;
}

export function createBackendPool(options: BackendPoolOptions): BackendPool {
  const entries = new Map<string, Entry>();
  let closed = false;
  const changed = options.onChange ?? (() => undefined);

  const setHealth = (entry: Entry, health: BackendHealth, reason?: string): void => {
    const backend = entry.backend;
    if (backend.health === health) return;
    const previous = backend.health;
    backend.health = health;
    changed();
    if (health === 'down') {
      backend.downSince = Date.now();
      backend.downReason = reason;
    } else {
      backend.downSince = undefined;
      backend.downReason = undefined;
    }
    gatewayChannels.backendHealth.publish({
      backend: backend.id,
      from: previous,
      to: health,
      reason: reason ?? '',
    });
  };

  const check = (entry: Entry): Promise<void> => {
    entry.inFlight ??= (async () => {
      const backend = entry.backend;
      try {
        const session: http2.ClientHttp2Session = await backend.upstream.connect();
        const result = await probeBackend(session, {
          timeoutMs: options.health.timeoutMs,
          backendToken: options.backendToken,
        });
        backend.lastCheck = { at: Date.now(), ok: true, latencyMs: result.latencyMs };
        entry.failures = 0;
        entry.successes++;
        entry.needsCheck = false;
        if (backend.incarnation !== undefined && backend.incarnation !== result.incarnation)
          gatewayChannels.backendRestarted.publish({
            backend: backend.id,
            previous: backend.incarnation,
            current: result.incarnation,
          });
        if (backend.incarnation !== result.incarnation) changed();
        backend.incarnation = result.incarnation;
        backend.appId = result.appId;
        // The first answer brings a new backend up at once, as a server HAProxy starts with.
        if (
          backend.health === 'checking' ||
          (backend.health === 'down' && entry.successes >= options.health.rise)
        )
          setHealth(entry, 'up');
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        backend.lastCheck = { at: Date.now(), ok: false, latencyMs: 0, error: message };
        entry.successes = 0;
        entry.failures++;
        if (backend.health === 'checking' || entry.failures >= options.health.fall)
          setHealth(entry, 'down', message);
      } finally {
        entry.inFlight = undefined;
      }
    })();
    return entry.inFlight;
  };

  const add = (spec: BackendSpec): Backend => {
    const id = backendId(spec);
    const existing = entries.get(id);
    if (existing !== undefined) return existing.backend;
    const entry: Entry = {
      backend: {
        id,
        host: spec.host,
        port: spec.port,
        maxSessions: spec.maxSessions,
        upstream: createUpstream({
          host: spec.host,
          port: spec.port,
          connectTimeoutMs: options.connectTimeoutMs,
          onDisconnect: () => {
            entry.needsCheck = true;
            changed();
            if (!closed) void check(entry);
          },
        }),
        health: 'checking',
        draining: false,
        incarnation: undefined,
        appId: undefined,
        lastCheck: undefined,
        downSince: undefined,
        downReason: undefined,
      },
      timer: undefined,
      inFlight: undefined,
      needsCheck: true,
      successes: 0,
      failures: 0,
    };
    entries.set(id, entry);
    entry.timer = setInterval(() => {
      void check(entry);
    }, options.health.intervalMs);
    entry.timer.unref();
    void check(entry);
    gatewayChannels.backendAdded.publish({ backend: id });
    return entry.backend;
  };

  return {
    list: () => [...entries.values()].map((entry) => entry.backend),
    get: (id) => entries.get(id)?.backend,
    add,
    async remove(id) {
      const entry = entries.get(id);
      if (entry === undefined) return false;
      entries.delete(id);
      changed();
      clearInterval(entry.timer);
      gatewayChannels.backendRemoved.publish({ backend: id });
      await entry.backend.upstream.close(0);
      return true;
    },
    setDraining(id, draining) {
      const entry = entries.get(id);
      if (entry === undefined) return false;
      if (entry.backend.draining !== draining) {
        entry.backend.draining = draining;
        gatewayChannels.backendDrain.publish({ backend: id, draining });
      }
      return true;
    },
    candidates: () =>
      [...entries.values()].map(({ backend }) => ({
        id: backend.id,
        healthy: backend.health === 'up',
        draining: backend.draining,
        maxSessions: backend.maxSessions,
      })),
    readyNow(id) {
      const entry = entries.get(id);
      if (entry === undefined || entry.needsCheck) return undefined;
      const { health } = entry.backend;
      return health === 'up' ? entry.backend : undefined;
    },
    async ready(id) {
      const entry = entries.get(id);
      if (entry === undefined)
        throw new GatewayError(
          'GW_BACKEND_GONE',
          `the Spark Connect server ${id} was removed from the gateway`,
        );
      if (entry.needsCheck || entry.backend.health === 'checking') await check(entry);
      if (entry.backend.health === 'down')
        throw new GatewayError(
          'GW_BACKEND_GONE',
          `the Spark Connect server ${id} is down (${entry.backend.downReason ?? 'failed its health checks'})`,
        );
      return entry.backend;
    },
    connectFailed(id, error) {
      const entry = entries.get(id);
      if (entry === undefined) return;
      entry.successes = 0;
      entry.failures = Math.max(entry.failures, options.health.fall);
      setHealth(entry, 'down', error instanceof Error ? error.message : String(error));
    },
    async checkAll() {
      await Promise.all([...entries.values()].map((entry) => check(entry)));
    },
    async close(graceMs = 0) {
      closed = true;
      for (const entry of entries.values()) clearInterval(entry.timer);
      await Promise.all(
        [...entries.values()].map((entry) => entry.backend.upstream.close(graceMs)),
      );
      entries.clear();
    },
  };
}
