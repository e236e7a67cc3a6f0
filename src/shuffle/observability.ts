// The shuffle service's events on node:diagnostics_channel, and the one place each that turns
// them into Prometheus metrics and log lines.
import type { Registry } from 'prom-client';
import { Counter, Gauge, Histogram } from 'prom-client';
import { defineChannel as channel } from '../core/diagnostics.ts';
import type { Logger } from '../core/logging.ts';

export interface ConnectionEvent {
  readonly connectionId: number;
  readonly remote: string;
}
export interface ExecutorRegistered {
  readonly appId: string;
  readonly execId: string;
  readonly localDirs: readonly string[];
  readonly durationMs: number;
}
export interface BlocksOpened {
  readonly appId: string;
  readonly execId: string;
  readonly streamId: bigint;
  readonly chunks: number;
  readonly durationMs: number;
}
export interface ChunkServed {
  readonly appId: string;
  /** Blocks in the chunk: a batch fetch serves several reduce partitions as one chunk. */
  readonly blocks: number;
  readonly bytes: number;
  readonly mode: 'chunk' | 'stream';
}
export interface RequestFailed {
  /** What kind of failure, for the metric label: the error code or the protocol failure kind. */
  readonly kind: string;
  readonly connectionId: number;
  readonly remote: string;
  readonly request: string;
  readonly message: string;
}
export interface ConnectionClosedForError extends ConnectionEvent {
  readonly reason: string;
}

export interface ClientAuthenticated extends ConnectionEvent {
  readonly appId: string;
  /** `sasl` (DIGEST-MD5) or `auth-engine` (spark.network.crypto, then AES-CTR). */
  readonly method: 'sasl' | 'auth-engine';
}

export const shuffleChannels = {
  authenticated: channel<ClientAuthenticated>('sparkplane:shuffle:authenticated'),
  connectionOpened: channel<ConnectionEvent>('sparkplane:shuffle:connection-opened'),
  connectionClosed: channel<ConnectionEvent>('sparkplane:shuffle:connection-closed'),
  connectionDropped: channel<ConnectionClosedForError>('sparkplane:shuffle:connection-dropped'),
  executorRegistered: channel<ExecutorRegistered>('sparkplane:shuffle:executor-registered'),
  applicationRemoved: channel<{
    readonly appId: string;
    readonly executors: number;
    readonly cleanup: boolean;
  }>('sparkplane:shuffle:application-removed'),
  blocksOpened: channel<BlocksOpened>('sparkplane:shuffle:blocks-opened'),
  chunkServed: channel<ChunkServed>('sparkplane:shuffle:chunk-served'),
  requestFailed: channel<RequestFailed>('sparkplane:shuffle:request-failed'),
};

export interface ShuffleGauges {
  readonly registeredExecutors: () => number;
  readonly registeredApps: () => number;
  readonly activeStreams: () => number;
  readonly pendingWriteBytes: () => number;
}

/** The gauges of a running shuffle server. */
export function serverGauges(server: {
  readonly registry: { readonly executorCount: number; readonly applicationCount: number };
  readonly streams: { readonly size: number };
  readonly pendingWriteBytes: number;
}): ShuffleGauges {
  return {
    registeredExecutors: () => server.registry.executorCount,
    registeredApps: () => server.registry.applicationCount,
    activeStreams: () => server.streams.size,
    pendingWriteBytes: () => server.pendingWriteBytes,
  };
}

/** Registers the shuffle metrics (names after Spark's own shuffle-service metrics). */
export function subscribeShuffleMetrics(registry: Registry, gauges: ShuffleGauges): () => void {
  const registers = [registry];
  const blocks = new Counter({
    name: 'sparkplane_shuffle_blocks_transferred_total',
    help: 'Blocks served (Spark blockTransferRate)',
    registers,
  });
  const chunks = new Counter({
    name: 'sparkplane_shuffle_chunks_transferred_total',
    help: 'Chunks and streams served (Spark blockTransferMessageRate)',
    labelNames: ['mode'],
    registers,
  });
  const bytes = new Counter({
    name: 'sparkplane_shuffle_bytes_transferred_total',
    help: 'Bytes served (Spark blockTransferRateBytes)',
    registers,
  });
  const openLatency = new Histogram({
    name: 'sparkplane_shuffle_open_blocks_seconds',
    help: 'Time to handle OpenBlocks/FetchShuffleBlocks (Spark openBlockRequestLatencyMillis)',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers,
  });
  const registerLatency = new Histogram({
    name: 'sparkplane_shuffle_register_executor_seconds',
    help: 'Time to handle RegisterExecutor, persistence included (Spark registerExecutorRequestLatencyMillis)',
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers,
  });
  const failures = new Counter({
    name: 'sparkplane_shuffle_failures_total',
    help: 'Requests answered with a failure, and connections dropped for bad input, by kind',
    labelNames: ['kind'],
    registers,
  });
  let activeConnections = 0;
  new Gauge({
    name: 'sparkplane_shuffle_active_connections',
    help: 'Open client connections (Spark numActiveConnections)',
    registers,
    collect() {
      this.set(activeConnections);
    },
  });
  new Gauge({
    name: 'sparkplane_shuffle_registered_executors',
    help: 'Registered executors (Spark registeredExecutorsSize)',
    registers,
    collect() {
      this.set(gauges.registeredExecutors());
    },
  });
  new Gauge({
    name: 'sparkplane_shuffle_registered_apps',
    help: 'Applications with at least one registered executor',
    registers,
    collect() {
      this.set(gauges.registeredApps());
    },
  });
  new Gauge({
    name: 'sparkplane_shuffle_active_streams',
    help: 'Streams opened by OpenBlocks/FetchShuffleBlocks and not yet fully fetched',
    registers,
    collect() {
      this.set(gauges.activeStreams());
    },
  });
  new Gauge({
    name: 'sparkplane_shuffle_pending_write_bytes',
    help: 'Reply bytes queued in socket buffers (bounded per connection: slow readers are not buffered for)',
    registers,
    collect() {
      this.set(gauges.pendingWriteBytes());
    },
  });
  const authentications = new Counter({
    name: 'sparkplane_shuffle_authentications_total',
    help: 'Connections that authenticated, by method (sasl, auth-engine)',
    labelNames: ['method'],
    registers,
  });
  const stops = [
    shuffleChannels.authenticated.subscribe((event) => {
      authentications.inc({ method: event.method });
    }),
    shuffleChannels.connectionOpened.subscribe(() => {
      activeConnections++;
    }),
    shuffleChannels.connectionClosed.subscribe(() => {
      activeConnections--;
    }),
    shuffleChannels.chunkServed.subscribe((event) => {
      blocks.inc(event.blocks);
      chunks.inc({ mode: event.mode });
      bytes.inc(event.bytes);
    }),
    shuffleChannels.blocksOpened.subscribe((event) => {
      openLatency.observe(event.durationMs / 1000);
    }),
    shuffleChannels.executorRegistered.subscribe((event) => {
      registerLatency.observe(event.durationMs / 1000);
    }),
    shuffleChannels.requestFailed.subscribe((event) => {
      failures.inc({ kind: event.kind });
    }),
    shuffleChannels.connectionDropped.subscribe(() => {
      failures.inc({ kind: 'connection-dropped' });
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}

export function subscribeShuffleLogs(logger: Logger): () => void {
  const stops = [
    shuffleChannels.executorRegistered.subscribe((event) => {
      logger.info(
        { appId: event.appId, execId: event.execId, localDirs: event.localDirs },
        `registered executor ${event.execId} of ${event.appId}`,
      );
    }),
    shuffleChannels.applicationRemoved.subscribe((event) => {
      logger.info(
        event,
        `removed application ${event.appId} (${event.executors} executors${event.cleanup ? ', local dirs deleted' : ''})`,
      );
    }),
    shuffleChannels.requestFailed.subscribe((event) => {
      logger.warn(event, `${event.request} from ${event.remote} failed: ${event.message}`);
    }),
    shuffleChannels.connectionDropped.subscribe((event) => {
      logger.warn(event, `closed connection from ${event.remote}: ${event.reason}`);
    }),
    shuffleChannels.connectionOpened.subscribe((event) => {
      logger.debug(event, `connection from ${event.remote}`);
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
