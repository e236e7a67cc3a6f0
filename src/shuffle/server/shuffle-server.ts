// The external shuffle service: a TCP server speaking Spark's shuffle protocol, with the executor
// registry, the block resolver and the open streams it shares across connections.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { channels } from '../../core/diagnostics.ts';
import type { Closeable } from '../../core/lifecycle.ts';
import { boundAddress, listenOn } from '../../core/listen.ts';
import { shuffleChannels } from '../observability.ts';
import { openExecutorRegistry, type ExecutorRegistry } from '../registry/executor-registry.ts';
import { createBlockResolver, type BlockResolver } from '../resolver/block-resolver.ts';
import type { AuthEngineVersion } from '../auth/auth-engine.ts';
import { createBufferPool } from './buffer-pool.ts';
import { serveConnection, type ConnectionHandle } from './connection.ts';
import { createStreamManager, type StreamManager } from './stream-manager.ts';

export interface ShuffleServerConfig {
  readonly host: string;
  readonly port: number;
  /** Folders executors may register local dirs under; nothing outside is ever opened. */
  readonly allowedRoots: readonly string[];
  /** Where registrations persist; in memory only when undefined. */
  readonly stateDir: string | undefined;
  /** Shared secret of spark.authenticate; when set, unauthenticated clients are refused. */
  readonly authSecret: string | undefined;
  /** spark.network.crypto.authEngineVersion of the executors (default 1). */
  readonly authEngineVersion?: AuthEngineVersion;
  readonly maxFrameBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxQueuedRequests: number;
  readonly maxConnections: number;
  /** 256 KiB read buffers shared by all connections (the memory for file data at most). */
  readonly bufferPieces?: number;
}

export const SHUFFLE_DEFAULTS = {
  // Requests are small (the largest, OpenBlocks, holds block ids); 16 MiB is ~500k ids.
  maxFrameBytes: 16 * 1024 * 1024,
  // spark.shuffle.io.connectionTimeout defaults to spark.network.timeout, 120 s.
  idleTimeoutMs: 120_000,
  maxQueuedRequests: 4096,
  maxConnections: 10_000,
  // Read buffers shared by all connections: 32 × 256 KiB = 8 MiB for file data at most.
  bufferPieceBytes: 256 * 1024,
  bufferPieces: 32,
} as const;

export interface ShuffleServer extends Closeable {
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
  readonly registry: ExecutorRegistry;
  readonly resolver: BlockResolver;
  readonly streams: StreamManager;
  readonly connections: number;
  /** Reply bytes queued in socket buffers across all connections. */
  readonly pendingWriteBytes: number;
}

const SERVICE = 'shuffle';

export function createShuffleServer(config: ShuffleServerConfig): ShuffleServer {
  const registry = openExecutorRegistry({ stateDir: config.stateDir });
  const resolver = createBlockResolver({ allowedRoots: config.allowedRoots });
  const streams = createStreamManager();
  const deps = { registry, resolver, streams, allowedRoots: config.allowedRoots };
  const open = new Map<number, ConnectionHandle>();
  const pool = createBufferPool({
    pieceBytes: SHUFFLE_DEFAULTS.bufferPieceBytes,
    pieces: config.bufferPieces ?? SHUFFLE_DEFAULTS.bufferPieces,
  });
  let nextConnectionId = 1;

  const server: Server = createServer(
    // Two pooled buffers may wait in a socket before a reply waits for it to drain.
    { noDelay: true, keepAlive: false, highWaterMark: 2 * SHUFFLE_DEFAULTS.bufferPieceBytes },
    (socket: Socket) => {
      if (open.size >= config.maxConnections) {
        shuffleChannels.connectionDropped.publish({
          connectionId: 0,
          remote: `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? '?')}`,
          reason: `connection limit ${config.maxConnections} reached`,
        });
        socket.destroy();
        return;
      }
      const id = nextConnectionId++;
      const handle = serveConnection(socket, id, deps, {
        maxFrameBytes: config.maxFrameBytes,
        idleTimeoutMs: config.idleTimeoutMs,
        maxQueuedRequests: config.maxQueuedRequests,
        authSecret: config.authSecret,
        authEngineVersion: config.authEngineVersion ?? 1,
        pool,
      });
      open.set(id, handle);
      void handle.closed.then(() => open.delete(id));
    },
  );
  server.on('error', (error) => {
    channels.warning.publish({ message: `shuffle server error: ${error.message}` });
  });

  const address = (): AddressInfo | undefined => boundAddress(server);

  return {
    name: SERVICE,
    registry,
    resolver,
    streams,
    get connections() {
      return open.size;
    },
    get pendingWriteBytes() {
      let total = 0;
      for (const handle of open.values()) total += handle.pendingWriteBytes;
      return total;
    },
    address,
    listen: () => listenOn(server, SERVICE, 'shuffle service', config.host, config.port),
    async close(deadlineMs) {
      const stopped = new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        else
          server.close(() => {
            resolve();
          });
      });
      let drained = true;
      const timer = setTimeout(() => {
        drained = false;
        for (const handle of open.values()) handle.destroy();
      }, deadlineMs);
      timer.unref();
      await Promise.all([...open.values()].map((handle) => handle.drain()));
      await stopped;
      clearTimeout(timer);
      registry.close();
      await resolver.close();
      return drained;
    },
  };
}
