// Map outputs laid out on disk exactly as Spark's sort shuffle writes them, a shuffle server on
// port 0 around them, and raw connections and event recorders for tests that drive it by hand.
import { once } from 'node:events';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Channel } from '../../../src/core/diagnostics.ts';
import type { ExecutorShuffleInfo } from '../../../src/shuffle/protocol/block-transfer.ts';
import { createFrameDecoder } from '../../../src/shuffle/protocol/frame-decoder.ts';
import { encodeMessage, type TransportMessage } from '../../../src/shuffle/protocol/messages.ts';
import { blockFilePath } from '../../../src/shuffle/resolver/disk-layout.ts';
import {
  SHUFFLE_DEFAULTS,
  createShuffleServer,
  type ShuffleServer,
  type ShuffleServerConfig,
} from '../../../src/shuffle/server/shuffle-server.ts';

export async function tempRoot(prefix: string): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), `sparkplane-shuffle-${prefix}-`)));
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

async function put(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

/** Writes `shuffle_S_M_0.data` and `.index` for these partitions under the executor's dirs. */
export async function writeMapOutput(
  info: ExecutorShuffleInfo,
  shuffleId: number,
  mapId: bigint,
  partitions: readonly Buffer[],
): Promise<void> {
  const index = Buffer.alloc((partitions.length + 1) * 8);
  let offset = 0n;
  partitions.forEach((partition, i) => {
    offset += BigInt(partition.length);
    index.writeBigInt64BE(offset, (i + 1) * 8);
  });
  await put(blockFilePath(info, `shuffle_${shuffleId}_${mapId}_0.data`), Buffer.concat(partitions));
  await put(blockFilePath(info, `shuffle_${shuffleId}_${mapId}_0.index`), index);
}

/** An executor of Spark's sort shuffle with these local dirs (64 sub-dirs each, Spark's default). */
export function executorInfo(localDirs: readonly string[]): ExecutorShuffleInfo {
  return {
    localDirs,
    subDirsPerLocalDir: 64,
    shuffleManager: 'org.apache.spark.shuffle.sort.SortShuffleManager',
  };
}

/** Deterministic partition bytes, distinct per (map, partition). */
export function partitionBytes(mapId: number, reduceId: number, length: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (mapId * 31 + reduceId * 7 + i) & 0xff;
  return data;
}

export function startServer(
  overrides: Partial<ShuffleServerConfig> & Pick<ShuffleServerConfig, 'allowedRoots'>,
): Promise<{ server: ShuffleServer; port: number }> {
  const server = createShuffleServer({
    host: '127.0.0.1',
    port: 0,
    stateDir: undefined,
    authSecret: undefined,
    maxFrameBytes: SHUFFLE_DEFAULTS.maxFrameBytes,
    idleTimeoutMs: SHUFFLE_DEFAULTS.idleTimeoutMs,
    maxQueuedRequests: SHUFFLE_DEFAULTS.maxQueuedRequests,
    maxConnections: SHUFFLE_DEFAULTS.maxConnections,
    ...overrides,
  });
  return server.listen().then((address) => ({ server, port: address.port }));
}

/** Polls until `condition` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await delay(5);
  }
}

/** Collects what is published on a channel until `stop()`. */
export function recordEvents<T>(channel: Channel<T>): { readonly events: T[]; stop(): void } {
  const events: T[] = [];
  const stop = channel.subscribe((event) => {
    events.push(event);
  });
  return { events, stop };
}

/** A reply as a raw connection received it; `streamBody` holds a StreamResponse's trailing bytes. */
export interface RawReply {
  readonly message: TransportMessage;
  readonly streamBody: Buffer;
}

/**
 * A client socket that sends hand-built frames and decodes what comes back, in arrival order, with
 * the project's own frame decoder. For tests of what the server does with frames no well-behaved
 * client sends, and of how it treats a reader that stops reading.
 */
export interface RawConnection {
  readonly socket: Socket;
  /** This connection as the server's events name it (`remote`). */
  readonly remote: string;
  send(message: TransportMessage): void;
  /** Sends an RpcRequest with this body; returns its request id. */
  sendRpc(body: Buffer): bigint;
  /** The next reply; fails when the connection closes first or after `timeoutMs`. */
  next(timeoutMs?: number): Promise<RawReply>;
  /** Replies received and not yet taken by next(). */
  readonly queued: number;
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
  close(): void;
}

let nextRawRequestId = 1n;

export async function rawConnect(port: number): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const remote = `${socket.localAddress ?? '?'}:${String(socket.localPort ?? '?')}`;
  const replies: RawReply[] = [];
  const waiters: PromiseWithResolvers<RawReply>[] = [];
  let receiving: { message: TransportMessage; parts: Buffer[] } | undefined;
  let isClosed = false;

  const deliver = (reply: RawReply): void => {
    const waiter = waiters.shift();
    if (waiter === undefined) replies.push(reply);
    else waiter.resolve(reply);
  };
  const decoder = createFrameDecoder(
    {
      message(message) {
        if (message.type === 'StreamResponse') receiving = { message, parts: [] };
        else deliver({ message, streamBody: Buffer.alloc(0) });
      },
      rawBody(chunk) {
        receiving?.parts.push(chunk);
      },
      rawBodyEnd() {
        if (receiving !== undefined)
          deliver({ message: receiving.message, streamBody: Buffer.concat(receiving.parts) });
        receiving = undefined;
      },
    },
    { maxFrameBytes: 64 * 1024 * 1024 },
  );
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk);
    } catch {
      // The server sent something that is not a frame: the waiters fail when the socket closes.
      socket.destroy();
    }
  });
  // Not events.once: it rejects when 'error' (ECONNRESET …) comes before 'close'.
  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      resolve();
    });
  }).then(() => {
    isClosed = true;
    for (const waiter of waiters.splice(0))
      waiter.reject(new Error(`connection ${remote} closed before the next reply`));
  });

  return {
    socket,
    remote,
    send(message) {
      socket.write(encodeMessage(message));
    },
    sendRpc(body) {
      const requestId = nextRawRequestId++;
      socket.write(encodeMessage({ type: 'RpcRequest', requestId, body }));
      return requestId;
    },
    next(timeoutMs = 3000) {
      const ready = replies.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      if (isClosed) return Promise.reject(new Error(`connection ${remote} is closed`));
      const waiter = Promise.withResolvers<RawReply>();
      waiters.push(waiter);
      const timer = setTimeout(() => {
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        waiter.reject(new Error(`no reply on ${remote} within ${timeoutMs} ms`));
      }, timeoutMs);
      return waiter.promise.finally(() => {
        clearTimeout(timer);
      });
    },
    get queued() {
      return replies.length;
    },
    closed,
    get isClosed() {
      return isClosed;
    },
    close() {
      socket.destroy();
    },
  };
}

/** Resolves with how long the connection took to close, or fails after `timeoutMs`. */
export async function closedWithin(
  connection: { readonly closed: Promise<void> },
  timeoutMs: number,
): Promise<number> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`connection still open after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await Promise.race([connection.closed, timeout]);
    return performance.now() - started;
  } finally {
    clearTimeout(timer);
  }
}
