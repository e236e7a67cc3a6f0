// The gateway's connection to Redis: one client at a time, connected within a deadline, and
// replaced on the next call once it broke. Nothing reconnects in the background, so a closed
// connection leaves no socket, retry loop or timer behind; every failure becomes a GatewayError
// that names the Redis (its password masked) and what to check.
import { createHash } from 'node:crypto';
// node-redis rather than ioredis: the client Redis itself maintains, typed and promise-first.
import { createClient, ErrorReply } from 'redis';
import { describeSystemError } from '../../core/system-errors.ts';
import { GatewayError } from '../errors.ts';

export type RedisClient = ReturnType<typeof createClient>;

export interface RedisConnectionOptions {
  /** redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:///path/to/redis.sock */
  readonly url: string;
  /** How long connecting (up to the first PONG) may take. */
  readonly connectTimeoutMs: number;
  /** How long one call (a few commands, or one batch of them) may wait for Redis. */
  readonly commandTimeoutMs: number;
  /** What uses the connection, for messages: "the gateway session store". */
  readonly user: string;
}

export interface RedisConnection {
  /** The URL with its password masked. */
  readonly location: string;
  /**
   * Runs `work` on a connected client, within the command timeout (node-redis times a command only
   * until it is written); a failure says it could not `what`.
   */
  readonly run: <T>(what: string, work: (redis: RedisClient) => Promise<T>) => Promise<T>;
  /** Waits for the calls under way, then closes the client. */
  close(): Promise<void>;
}

/** Connects now, so that a wrong URL or an unreachable Redis fails at once. */
export async function openRedisConnection(
  options: RedisConnectionOptions,
): Promise<RedisConnection> {
  const target = parseRedisUrl(options.url);
  const { location } = target;
  let client: RedisClient | undefined;
  let connecting: Promise<RedisClient> | undefined;
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();

  const fail = (what: string, error: unknown): GatewayError => {
    if (error instanceof GatewayError) return error;
    const info = describeSystemError(error);
    const code = info.code === 'EUNKNOWN' ? '' : ` (${info.code})`;
    return new GatewayError(
      'GW_STORE_UNAVAILABLE',
      `${options.user} could not ${what} at Redis ${location}: ${info.summary}${code}; check that Redis at ${location} is reachable and accepts this gateway's connection`,
      { cause: error },
    );
  };

  const connection = (): Promise<RedisClient> => {
    if (client?.isReady === true) return Promise.resolve(client);
    if (client !== undefined) destroyQuietly(client);
    client = undefined;
    connecting ??= connectClient(target, options).then(
      (connected) => {
        connecting = undefined;
        if (closed) {
          destroyQuietly(connected);
          throw new Error('the connection was closed while it opened');
        }
        client = connected;
        return connected;
      },
      (error: unknown) => {
        connecting = undefined;
        throw error;
      },
    );
    return connecting;
  };

  const run = <T>(what: string, work: (redis: RedisClient) => Promise<T>): Promise<T> => {
    if (closed)
      return Promise.reject(
        new GatewayError(
          'GW_INTERNAL',
          `${options.user} at Redis ${location} was closed before it could ${what}`,
        ),
      );
    let used: RedisClient | undefined;
    const call = connection()
      .then((redis) => {
        used = redis;
        return withDeadline(work(redis), options.commandTimeoutMs);
      })
      .catch((error: unknown) => {
        // Anything but an answer from Redis (no answer in time, a cut connection) leaves the
        // connection in doubt; the next call opens a fresh one rather than wait on it.
        if (used !== undefined && !(error instanceof ErrorReply)) {
          destroyQuietly(used);
          if (client === used) client = undefined;
        }
        throw fail(what, error);
      });
    inFlight.add(call);
    void call.finally(() => inFlight.delete(call)).catch(() => undefined);
    return call;
  };

  await run('connect', (redis) => Promise.resolve(redis));
  return {
    location,
    run,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...inFlight, connecting]);
      if (client !== undefined) destroyQuietly(client);
      client = undefined;
    },
  };
}

export interface RedisScript {
  readonly source: string;
  readonly sha1: string;
}

export function redisScript(source: string): RedisScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/** Runs a Lua script by its digest, sending its source only when Redis does not hold it yet. */
export async function runScript(
  redis: RedisClient,
  script: RedisScript,
  keys: string[],
  args: string[],
): Promise<unknown> {
  try {
    return await redis.evalSha(script.sha1, { keys, arguments: args });
  } catch (error) {
    if (!(error instanceof ErrorReply) || !error.message.startsWith('NOSCRIPT')) throw error;
    return redis.eval(script.source, { keys, arguments: args });
  }
}

interface RedisTarget {
  readonly location: string;
  readonly options: Parameters<typeof createClient>[0];
}

/** The client options for a URL, and the URL with its password masked for messages and logs. */
function parseRedisUrl(url: string): RedisTarget {
  const forms =
    'redis://[user:password@]host[:port][/db], rediss://… or unix:///path/to/redis.sock';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new GatewayError(
      'GW_BAD_CONFIG',
      `the Redis URL ${url.replace(/:[^:@/]*@/, ':***@')} cannot be parsed; write it as ${forms}`,
      { cause: error },
    );
  }
  const masked = new URL(url);
  if (masked.password !== '') masked.password = '***';
  const location = masked.toString();
  if (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:')
    return { location, options: { url } };
  if (parsed.protocol === 'unix:' && parsed.pathname !== '')
    return {
      location,
      options: {
        ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
        ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
        socket: { path: decodeURIComponent(parsed.pathname), tls: false },
      },
    };
  throw new GatewayError(
    'GW_BAD_CONFIG',
    `the Redis URL ${location} names no Redis this gateway can reach; write it as ${forms}`,
  );
}

/** A connected client that answered PING, or an error within the connect timeout. */
function connectClient(target: RedisTarget, options: RedisConnectionOptions): Promise<RedisClient> {
  const timeoutMs = options.connectTimeoutMs;
  return new Promise((resolve, reject) => {
    // Inside the executor, so that options the client refuses reject rather than throw.
    const client = createClient({
      ...target.options,
      socket: { ...target.options?.socket, connectTimeout: timeoutMs, reconnectStrategy: false },
      disableOfflineQueue: true,
      disableClientInfo: true,
      maintNotifications: 'disabled',
    });
    // Failures reach the caller through the command they broke; an unheard 'error' would throw.
    client.on('error', () => undefined);
    let socketOpen = false;
    client.on('connect', () => {
      socketOpen = true;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`no answer within ${String(timeoutMs)} ms`));
      // Before its socket connects the client cannot be destroyed: its own connect timeout (the
      // same length) ends the attempt, or it is destroyed the moment the socket connects.
      if (socketOpen) destroyQuietly(client);
      else
        client.once('connect', () => {
          destroyQuietly(client);
        });
    }, timeoutMs);
    client
      .connect()
      .then(() => client.ping())
      .then(
        () => {
          clearTimeout(timer);
          if (timedOut) destroyQuietly(client);
          else resolve(client);
        },
        (error: unknown) => {
          clearTimeout(timer);
          destroyQuietly(client);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
  });
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no answer within ${String(timeoutMs)} ms`));
    }, timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function destroyQuietly(client: RedisClient): void {
  try {
    client.destroy();
  } catch {
    // Already closed.
  }
}
