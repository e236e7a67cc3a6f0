// The gateway's session table: the one owner of session affinity. Lookups are answered from
// memory; bindings are written through to the affinity store before the request that created them
// is forwarded; last-seen times are flushed in batches; idle sessions expire as Spark's own do
// (60 minutes by default) unless a stream of theirs is still open.
import {
  keyOf,
  type AffinityStore,
  type OperationBinding,
  type SessionBinding,
} from './affinity-store.ts';

export interface SessionTableOptions {
  readonly store: AffinityStore;
  readonly idleTimeoutMs: number;
  /** Operations are forgotten this long after they started (the index is a fallback only). */
  readonly operationTtlMs?: number;
  readonly now?: () => number;
  /**
   * Told when a binding is removed or replaced: what was routed by a binding may be routed again
   * without asking until then.
   */
  readonly onChange?: () => void;
}

export interface SessionTable {
  find(key: string): SessionBinding | undefined;
  /** The session an operation belongs to, when the operation id was seen before. */
  findByOperation(operationId: string): SessionBinding | undefined;
  /** As `find`, then asks a store shared with other gateways, which may have placed it. */
  lookup(key: string): Promise<SessionBinding | undefined>;
  /** As `findByOperation`, then asks a shared store. */
  lookupByOperation(operationId: string): Promise<SessionBinding | undefined>;
  /** Binds a new session; `created` is false when another request bound it first. */
  bind(binding: SessionBinding): Promise<{ binding: SessionBinding; created: boolean }>;
  /** Records activity on the session now. */
  seen(key: string): void;
  streamOpened(key: string): void;
  streamClosed(key: string): void;
  /** Records the Spark 4.x server-side session id the first time a response carries it. */
  noteServerSideSessionId(key: string, serverSideSessionId: string): void;
  addOperation(operationId: string, key: string): void;
  release(key: string): Promise<void>;
  sessionsPerBackend(): ReadonlyMap<string, number>;
  /**
   * What placement counts: the sessions on each backend and those being bound to it now, so
   * sessions opened at the same moment see each other (they spread, and stay under the caps).
   */
  placementLoad(): ReadonlyMap<string, number>;
  list(): readonly SessionBinding[];
  readonly size: number;
  /**
   * Expires idle sessions and flushes last-seen times; returns the sessions that ended (with a
   * shared store, those no other gateway has seen within the timeout either).
   */
  sweep(): Promise<SessionBinding[]>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function openSessionTable(options: SessionTableOptions): Promise<SessionTable> {
  const { store, idleTimeoutMs } = options;
  const operationTtlMs = options.operationTtlMs ?? Math.max(idleTimeoutMs, 6 * 3600_000);
  const now = options.now ?? Date.now;
  const sessions = new Map<string, SessionBinding>();
  const operations = new Map<string, OperationBinding>();
  const operationsOf = new Map<string, Set<string>>();
  const perBackend = new Map<string, number>();
  const openStreams = new Map<string, number>();
  const pendingBinds = new Map<string, Promise<SessionBinding>>();
  /** Sessions whose binding the store has not confirmed yet, per backend. */
  const beingBound = new Map<string, number>();
  let dirty = new Map<string, number>();

  const count = (backend: string, delta: number): void => {
    adjust(perBackend, backend, delta);
  };
  const changed = options.onChange ?? (() => undefined);
  const put = (binding: SessionBinding): void => {
    const key = keyOf(binding);
    const previous = sessions.get(key);
    if (previous !== undefined) {
      count(previous.backend, -1);
      changed();
    }
    sessions.set(key, binding);
    count(binding.backend, 1);
  };
  const forget = (key: string): SessionBinding | undefined => {
    const binding = sessions.get(key);
    if (binding === undefined) return undefined;
    changed();
    sessions.delete(key);
    count(binding.backend, -1);
    dirty.delete(key);
    openStreams.delete(key);
    for (const operationId of operationsOf.get(key) ?? []) operations.delete(operationId);
    operationsOf.delete(key);
    return binding;
  };

  for (const binding of await store.loadSessions()) put(binding);
  const index = (operation: OperationBinding): void => {
    operations.set(operation.operationId, operation);
    let ids = operationsOf.get(operation.sessionKey);
    if (ids === undefined) {
      ids = new Set();
      operationsOf.set(operation.sessionKey, ids);
    }
    ids.add(operation.operationId);
  };
  for (const operation of await store.loadOperations())
    if (sessions.has(operation.sessionKey)) index(operation);

  const flush = async (): Promise<void> => {
    if (dirty.size === 0) return;
    const batch = dirty;
    dirty = new Map();
    try {
      await store.touch(batch);
    } catch (error) {
      // Kept for the next flush: a lost last-seen could let another gateway expire a live session.
      for (const [key, at] of batch)
        if (sessions.has(key) && (dirty.get(key) ?? 0) < at) dirty.set(key, at);
      throw error;
    }
  };

  const findByOperation = (operationId: string): SessionBinding | undefined => {
    const operation = operations.get(operationId);
    return operation === undefined ? undefined : sessions.get(operation.sessionKey);
  };
  const lookup = async (key: string): Promise<SessionBinding | undefined> => {
    const held = sessions.get(key);
    if (held !== undefined || !store.shared) return held;
    const stored = await store.findSession(key);
    // A release or a bind may have happened here while the store answered.
    if (stored === undefined || sessions.has(key)) return sessions.get(key);
    put(stored);
    return stored;
  };

  return {
    find: (key) => sessions.get(key),
    findByOperation,
    lookup,
    async lookupByOperation(operationId) {
      const held = findByOperation(operationId);
      if (held !== undefined || !store.shared) return held;
      const operation = await store.findOperation(operationId);
      if (operation === undefined) return undefined;
      const owner = await lookup(operation.sessionKey);
      if (owner !== undefined && !operations.has(operationId)) index(operation);
      return owner;
    },
    async bind(binding) {
      const key = keyOf(binding);
      const existing = sessions.get(key);
      if (existing !== undefined) return { binding: existing, created: false };
      const pending = pendingBinds.get(key);
      if (pending !== undefined) return { binding: await pending, created: false };
      let created = false;
      const placed = binding.backend;
      adjust(beingBound, placed, 1);
      const stored = store.bind(binding).then(
        (result) => {
          adjust(beingBound, placed, -1);
          put(result.binding);
          created = result.created;
          return result.binding;
        },
        (error: unknown) => {
          adjust(beingBound, placed, -1);
          throw error;
        },
      );
      pendingBinds.set(key, stored);
      try {
        return { binding: await stored, created };
      } finally {
        pendingBinds.delete(key);
      }
    },
    seen(key) {
      const binding = sessions.get(key);
      if (binding === undefined) return;
      binding.lastSeenAt = now();
      dirty.set(key, binding.lastSeenAt);
    },
    streamOpened(key) {
      openStreams.set(key, (openStreams.get(key) ?? 0) + 1);
    },
    streamClosed(key) {
      const open = (openStreams.get(key) ?? 0) - 1;
      if (open <= 0) openStreams.delete(key);
      else openStreams.set(key, open);
    },
    noteServerSideSessionId(key, serverSideSessionId) {
      const binding = sessions.get(key);
      if (binding === undefined || binding.serverSideSessionId === serverSideSessionId) return;
      binding.serverSideSessionId = serverSideSessionId;
      void store.updateServerSideSessionId(key, serverSideSessionId).catch(() => undefined);
    },
    addOperation(operationId, key) {
      if (operations.has(operationId) || !sessions.has(key)) return;
      const operation = { operationId, sessionKey: key, createdAt: now() };
      index(operation);
      void store.bindOperation(operation).catch(() => undefined);
    },
    async release(key) {
      if (forget(key) !== undefined) await store.remove([key]);
    },
    sessionsPerBackend: () => perBackend,
    placementLoad() {
      if (beingBound.size === 0) return perBackend;
      const load = new Map(perBackend);
      for (const [backend, count] of beingBound) adjust(load, backend, count);
      return load;
    },
    list: () => [...sessions.values()],
    get size() {
      return sessions.size;
    },
    async sweep() {
      const at = now();
      const expired: SessionBinding[] = [];
      for (const [key, binding] of sessions) {
        if (openStreams.has(key)) {
          binding.lastSeenAt = at;
          dirty.set(key, at);
        } else if (at - binding.lastSeenAt >= idleTimeoutMs) expired.push(binding);
      }
      const keys = expired.map((binding) => keyOf(binding));
      // Forgotten here either way: memory is a cache of the store, and a session another gateway
      // kept alive is looked up again on its next call.
      for (const key of keys) forget(key);
      for (const [operationId, operation] of operations)
        if (at - operation.createdAt >= operationTtlMs) {
          operations.delete(operationId);
          operationsOf.get(operation.sessionKey)?.delete(operationId);
        }
      await flush();
      const removed = new Set(await store.removeIdle(keys, at - idleTimeoutMs + 1));
      await store.pruneOperations(at - operationTtlMs);
      return expired.filter((binding) => removed.has(keyOf(binding)));
    },
    flush,
    async close() {
      await flush();
      await store.close();
    },
  };
}

function adjust(counts: Map<string, number>, backend: string, delta: number): void {
  const next = (counts.get(backend) ?? 0) + delta;
  if (next <= 0) counts.delete(backend);
  else counts.set(backend, next);
}
