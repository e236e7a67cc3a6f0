// The affinity store several gateway replicas share: session bindings and the operation index in
// one Redis server (not Redis Cluster, whose slots the keys the scripts derive would cross).
// Whatever must hold across replicas runs as one Lua script: bind is insert-if-absent returning the
// binding that won, touch keeps the latest time, idle removal compares before it deletes. Keys
// carry no TTL, since the store does not know the idle timeout and a shorter TTL would end live
// sessions: every gateway loads all sessions when it starts and its sweep removes those idle
// everywhere, so a session whose gateway is gone for good waits for the next gateway to start.
//
// Layout, under the prefix P:
//   P sessions                        set of session keys (for loadSessions)
//   P session:<session key>           hash: principal, user_id, session_id, backend, incarnation,
//                                     server_side_session_id, client_address, created_at, last_seen_at
//   P operations                      sorted set of operation ids, scored by created_at
//   P operation:<operation id>        hash: session_key, created_at
//   P session-operations:<session key> set of that session's operation ids
import {
  keyOf,
  type AffinityStore,
  type OperationBinding,
  type SessionBinding,
} from './affinity-store.ts';
import { openRedisConnection, redisScript, runScript } from './redis-connection.ts';

export interface RedisAffinityStoreOptions {
  /** redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:///path/to/redis.sock */
  readonly url: string;
  readonly keyPrefix?: string;
  /** How long connecting (and the first PING) may take before the store gives up. */
  readonly connectTimeoutMs?: number;
  /** How long one call (one batch of commands) may wait for Redis before it fails. */
  readonly commandTimeoutMs?: number;
}

export const REDIS_STORE_DEFAULTS = {
  keyPrefix: 'sparkplane:gateway:',
  connectTimeoutMs: 3000,
  commandTimeoutMs: 5000,
} as const;

/** Keys and times per script call, so one call never holds Redis for long. */
const BATCH = 500;

// KEYS: the session hash, the session set. ARGV: session key, field, value, …
// Replies [] when it bound the session, else the stored hash as field, value, …
const BIND = redisScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGETALL', KEYS[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return {}`);

// KEYS: the session hash. ARGV: the server-side session id.
const SET_SERVER_SIDE_ID = redisScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'server_side_session_id', ARGV[1])
end
return 0`);

// ARGV: prefix, then session key, time, …; a stored time is only ever raised.
const TOUCH = redisScript(`
for i = 2, #ARGV, 2 do
  local session = ARGV[1] .. 'session:' .. ARGV[i]
  local seen = redis.call('HGET', session, 'last_seen_at')
  if seen and tonumber(seen) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', session, 'last_seen_at', ARGV[i + 1])
  end
end
return 0`);

// ARGV: prefix, before ('' removes unconditionally, operations included), session key, …
// Replies the keys whose session it removed.
const REMOVE = redisScript(`
local prefix, before = ARGV[1], tonumber(ARGV[2])
local removed = {}
for i = 3, #ARGV do
  local key = ARGV[i]
  local session = prefix .. 'session:' .. key
  local seen = redis.call('HGET', session, 'last_seen_at')
  local idle = seen and (before == nil or tonumber(seen) < before)
  if idle then
    redis.call('DEL', session)
    redis.call('SREM', prefix .. 'sessions', key)
    removed[#removed + 1] = key
  end
  if idle or before == nil then
    local index = prefix .. 'session-operations:' .. key
    for _, id in ipairs(redis.call('SMEMBERS', index)) do
      redis.call('DEL', prefix .. 'operation:' .. id)
      redis.call('ZREM', prefix .. 'operations', id)
    end
    redis.call('DEL', index)
  end
end
return removed`);

// ARGV: prefix, operation id, session key, created at. The first binding of an id holds.
const BIND_OPERATION = redisScript(`
local operation = ARGV[1] .. 'operation:' .. ARGV[2]
if redis.call('EXISTS', operation) == 1 then return 0 end
redis.call('HSET', operation, 'session_key', ARGV[3], 'created_at', ARGV[4])
redis.call('ZADD', ARGV[1] .. 'operations', ARGV[4], ARGV[2])
redis.call('SADD', ARGV[1] .. 'session-operations:' .. ARGV[3], ARGV[2])
return 1`);

// ARGV: prefix, before, limit. Replies how many operations it forgot.
const PRUNE_OPERATIONS = redisScript(`
local prefix = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', prefix .. 'operations', '-inf', '(' .. ARGV[2],
  'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  local operation = prefix .. 'operation:' .. id
  local key = redis.call('HGET', operation, 'session_key')
  if key then redis.call('SREM', prefix .. 'session-operations:' .. key, id) end
  redis.call('DEL', operation)
  redis.call('ZREM', prefix .. 'operations', id)
end
return #ids`);

export async function openRedisAffinityStore(
  options: RedisAffinityStoreOptions,
): Promise<AffinityStore> {
  const connection = await openRedisConnection({
    url: options.url,
    connectTimeoutMs: options.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs,
    commandTimeoutMs: options.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs,
    user: 'the gateway session store',
  });
  const { run } = connection;
  const prefix = options.keyPrefix ?? REDIS_STORE_DEFAULTS.keyPrefix;
  const sessionHash = (key: string): string => `${prefix}session:${key}`;
  const operationHash = (operationId: string): string => `${prefix}operation:${operationId}`;
  const sessionSet = `${prefix}sessions`;
  const operationSet = `${prefix}operations`;

  // One call per batch: each gets the command timeout to itself.
  const remove = async (
    what: string,
    keys: readonly string[],
    before: string,
  ): Promise<string[]> => {
    const removed: string[] = [];
    for (const batch of batches(keys)) {
      const reply = await run(what, (redis) =>
        runScript(redis, REMOVE, [], [prefix, before, ...batch]),
      );
      removed.push(...stringsOf(reply));
    }
    return removed;
  };

  return {
    kind: 'redis',
    location: connection.location,
    shared: true,
    findSession: (key) =>
      run('look up a session', async (redis) => toBinding(await redis.hGetAll(sessionHash(key)))),
    findOperation: (operationId) =>
      run('look up an operation', async (redis) =>
        toOperation(operationId, await redis.hGetAll(operationHash(operationId))),
      ),
    async loadSessions() {
      const sessions: SessionBinding[] = [];
      let cursor = '0';
      do {
        const hashes = await run('load the sessions', async (redis) => {
          const page = await redis.sScan(sessionSet, cursor, { COUNT: BATCH });
          cursor = page.cursor;
          return Promise.all(page.members.map((key) => redis.hGetAll(sessionHash(key))));
        });
        for (const hash of hashes) {
          const binding = toBinding(hash);
          if (binding !== undefined) sessions.push(binding);
        }
      } while (cursor !== '0');
      return sessions;
    },
    async loadOperations() {
      const operations: OperationBinding[] = [];
      let cursor = '0';
      do {
        const found = await run('load the operations', async (redis) => {
          const page = await redis.zScan(operationSet, cursor, { COUNT: BATCH });
          cursor = page.cursor;
          return Promise.all(
            page.members.map(async ({ value }) =>
              toOperation(value, await redis.hGetAll(operationHash(value))),
            ),
          );
        });
        for (const operation of found) if (operation !== undefined) operations.push(operation);
      } while (cursor !== '0');
      return operations;
    },
    bind: (binding) =>
      run('bind a session', async (redis) => {
        const key = keyOf(binding);
        const reply = stringsOf(
          await runScript(redis, BIND, [sessionHash(key), sessionSet], [key, ...fields(binding)]),
        );
        if (reply.length === 0) return { binding, created: true };
        return { binding: toBinding(pairs(reply)) ?? binding, created: false };
      }),
    updateServerSideSessionId: (key, serverSideSessionId) =>
      run('record a server-side session id', async (redis) => {
        await runScript(redis, SET_SERVER_SIDE_ID, [sessionHash(key)], [serverSideSessionId]);
      }),
    async touch(lastSeen) {
      for (const batch of batches([...lastSeen])) {
        const args = batch.flatMap(([key, at]) => [key, String(at)]);
        await run('record last-seen times', (redis) =>
          runScript(redis, TOUCH, [], [prefix, ...args]),
        );
      }
    },
    async remove(keys) {
      await remove('remove sessions', keys, '');
    },
    removeIdle: (keys, before) => remove('remove idle sessions', keys, String(before)),
    bindOperation: (operation) =>
      run('bind an operation', async (redis) => {
        const { operationId, sessionKey, createdAt } = operation;
        const args = [prefix, operationId, sessionKey, String(createdAt)];
        await runScript(redis, BIND_OPERATION, [], args);
      }),
    async pruneOperations(before) {
      const args = [prefix, String(before), String(BATCH)];
      for (;;) {
        const pruned = await run('forget old operations', (redis) =>
          runScript(redis, PRUNE_OPERATIONS, [], args),
        );
        if (Number(pruned) < BATCH) return;
      }
    },
    close: () => connection.close(),
  };
}

function batches<T>(items: readonly T[]): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += BATCH)
    result.push(items.slice(start, start + BATCH));
  return result;
}

function fields(binding: SessionBinding): string[] {
  const list = [
    ['principal', binding.principal],
    ['user_id', binding.userId],
    ['session_id', binding.sessionId],
    ['backend', binding.backend],
    ['incarnation', binding.incarnation],
    ['client_address', binding.clientAddress],
    ['created_at', String(binding.createdAt)],
    ['last_seen_at', String(binding.lastSeenAt)],
  ];
  if (binding.serverSideSessionId !== undefined)
    list.push(['server_side_session_id', binding.serverSideSessionId]);
  return list.flat();
}

function toBinding(hash: Record<string, string>): SessionBinding | undefined {
  if (hash.session_id === undefined) return undefined;
  return {
    principal: hash.principal ?? '',
    userId: hash.user_id ?? '',
    sessionId: hash.session_id,
    backend: hash.backend ?? '',
    incarnation: hash.incarnation ?? '',
    createdAt: Number(hash.created_at),
    lastSeenAt: Number(hash.last_seen_at),
    serverSideSessionId: hash.server_side_session_id,
    clientAddress: hash.client_address ?? '',
  };
}

function toOperation(
  operationId: string,
  hash: Record<string, string>,
): OperationBinding | undefined {
  if (hash.session_key === undefined) return undefined;
  return { operationId, sessionKey: hash.session_key, createdAt: Number(hash.created_at) };
}

function stringsOf(reply: unknown): string[] {
  return Array.isArray(reply) ? reply.map(String) : [];
}

function pairs(flat: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) record[flat[i] ?? ''] = flat[i + 1] ?? '';
  return record;
}
