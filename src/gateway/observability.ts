// The one place the gateway's events become Prometheus metrics and log lines.
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { createCountedHistogram, type CountedHistogramChild } from '../core/counted-histogram.ts';
import type { Logger } from '../core/logging.ts';
import type { BackendPool } from './backends/backend-pool.ts';
import { GrpcStatus } from './errors.ts';
import { gatewayChannels } from './observability-channels.ts';
import type { SessionTable } from './routing/session-table.ts';
import type { ManagedServers } from './managed/managed-servers.ts';
import { subscribeManagedLogs, subscribeManagedMetrics } from './managed/managed-observability.ts';

const GRPC_CODES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export function grpcCodeName(status: number): string {
  return GRPC_CODES[status] ?? (status === -1 ? 'NONE' : String(status));
}

/** One method's latency, and its calls by status not yet handed to the counter. */
interface PerMethod {
  readonly latency: CountedHistogramChild;
  readonly byStatus: Map<number, PerStatus>;
}

interface PerStatus {
  readonly rpcs: { inc(value?: number): void };
  pending: number;
}

export function subscribeGatewayMetrics(
  registry: Registry,
  state: {
    readonly pool: BackendPool;
    readonly sessions: SessionTable;
    readonly managed?: ManagedServers | undefined;
  },
): () => void {
  const registers = [registry];
  const stopManaged = subscribeManagedMetrics(registry, () => state.managed);
  // Calls are counted in plain numbers as they finish and handed to the counters when they are
  // read, and their latencies go to a counted histogram: a labelled prom-client update hashes its
  // labels every time, which a gateway relaying tens of thousands of calls a second pays for on
  // each.
  const perMethod = new Map<string, PerMethod>();
  let pendingBytesIn = 0;
  let pendingBytesOut = 0;
  const rpcs = new Counter({
    name: 'sparkplane_gateway_rpcs_total',
    help: 'Spark Connect calls finished, by method and gRPC status',
    labelNames: ['method', 'code'],
    registers,
    // The first of the counts a scrape reads: what is held back is handed over before any.
    collect() {
      gatewayChannels.countsWanted.publish(undefined);
      for (const method of perMethod.values())
        for (const status of method.byStatus.values())
          if (status.pending > 0) {
            status.rpcs.inc(status.pending);
            status.pending = 0;
          }
    },
  });
  const latency = createCountedHistogram({
    name: 'sparkplane_gateway_rpc_duration_seconds',
    help: 'Duration of Spark Connect calls through the gateway (streams: until the last byte)',
    labelNames: ['method'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers,
  });
  new Counter({
    name: 'sparkplane_gateway_bytes_total',
    help: 'Bytes relayed, by direction (in: client to server, out: server to client)',
    labelNames: ['direction'],
    registers,
    collect() {
      this.inc({ direction: 'in' }, pendingBytesIn);
      this.inc({ direction: 'out' }, pendingBytesOut);
      pendingBytesIn = 0;
      pendingBytesOut = 0;
    },
  });
  const rejected = new Counter({
    name: 'sparkplane_gateway_rejected_total',
    help: 'Requests and connections the gateway answered or closed itself, by kind',
    labelNames: ['kind'],
    registers,
  });
  const placed = new Counter({
    name: 'sparkplane_gateway_sessions_placed_total',
    help: 'New sessions placed, by backend',
    labelNames: ['backend'],
    registers,
  });
  const ended = new Counter({
    name: 'sparkplane_gateway_sessions_ended_total',
    help: 'Sessions forgotten, by reason (released, expired)',
    labelNames: ['reason'],
    registers,
  });
  const restarts = new Counter({
    name: 'sparkplane_gateway_backend_restarts_total',
    help: 'Backends seen running a new Spark application (driver restarted)',
    labelNames: ['backend'],
    registers,
  });
  let activeStreams = 0;
  let connections = 0;
  new Gauge({
    name: 'sparkplane_gateway_active_calls',
    help: 'Calls being relayed now',
    registers,
    collect() {
      this.set(activeStreams);
    },
  });
  new Gauge({
    name: 'sparkplane_gateway_client_connections',
    help: 'Open client HTTP/2 connections',
    registers,
    collect() {
      this.set(connections);
    },
  });
  new Gauge({
    name: 'sparkplane_gateway_sessions',
    help: 'Sessions bound to each backend',
    labelNames: ['backend'],
    registers,
    collect() {
      this.reset();
      for (const backend of state.pool.list()) this.set({ backend: backend.id }, 0);
      for (const [backend, count] of state.sessions.sessionsPerBackend())
        this.set({ backend }, count);
    },
  });
  new Gauge({
    name: 'sparkplane_gateway_backend_up',
    help: 'Backend health: 1 up, 0 down or not yet checked',
    labelNames: ['backend'],
    registers,
    collect() {
      this.reset();
      for (const backend of state.pool.list())
        this.set({ backend: backend.id }, backend.health === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sparkplane_gateway_backend_draining',
    help: 'Backend drain state: 1 draining (no new sessions)',
    labelNames: ['backend'],
    registers,
    collect() {
      this.reset();
      for (const backend of state.pool.list())
        this.set({ backend: backend.id }, backend.draining ? 1 : 0);
    },
  });
  new Gauge({
    name: 'sparkplane_gateway_backend_check_seconds',
    help: 'Latency of the last passed health check',
    labelNames: ['backend'],
    registers,
    collect() {
      this.reset();
      for (const backend of state.pool.list())
        if (backend.lastCheck?.ok === true)
          this.set({ backend: backend.id }, backend.lastCheck.latencyMs / 1000);
    },
  });
  /** The counters of calls of `name` that ended with `code`. */
  const countersOf = (name: string, code: number): { method: PerMethod; status: PerStatus } => {
    let method = perMethod.get(name);
    if (method === undefined) {
      method = { latency: latency.labels({ method: name }), byStatus: new Map() };
      perMethod.set(name, method);
    }
    let status = method.byStatus.get(code);
    if (status === undefined) {
      status = { rpcs: rpcs.labels({ method: name, code: grpcCodeName(code) }), pending: 0 };
      method.byStatus.set(code, status);
    }
    return { method, status };
  };
  const stops = [
    gatewayChannels.rpcStarted.subscribe(() => {
      activeStreams++;
    }),
    gatewayChannels.rpcsStarted.subscribe((event) => {
      activeStreams += event.count;
    }),
    gatewayChannels.rpcFinished.subscribe((event) => {
      if (event.backend !== '') activeStreams--;
      const { method, status } = countersOf(event.method, event.status);
      status.pending++;
      method.latency.observe(event.durationMs / 1000);
      pendingBytesIn += event.bytesIn;
      pendingBytesOut += event.bytesOut;
    }),
    gatewayChannels.rpcsFinished.subscribe((event) => {
      activeStreams -= event.count;
      const { method, status } = countersOf(event.method, GrpcStatus.OK);
      status.pending += event.count;
      const { durationsMs, durationsAt } = event;
      for (let index = durationsAt; index < durationsAt + event.count; index++)
        method.latency.observe((durationsMs[index] ?? 0) / 1000);
      pendingBytesIn += event.bytesIn;
      pendingBytesOut += event.bytesOut;
    }),
    gatewayChannels.requestRejected.subscribe((event) => {
      rejected.inc({ kind: event.kind });
    }),
    gatewayChannels.relayFailed.subscribe(() => {
      rejected.inc({ kind: 'GW_INTERNAL' });
    }),
    gatewayChannels.sessionPlaced.subscribe((event) => {
      placed.inc({ backend: event.backend });
    }),
    gatewayChannels.sessionEnded.subscribe((event) => {
      ended.inc({ reason: event.reason });
    }),
    gatewayChannels.backendRestarted.subscribe((event) => {
      restarts.inc({ backend: event.backend });
    }),
    gatewayChannels.connectionOpened.subscribe(() => {
      connections++;
    }),
    gatewayChannels.connectionClosed.subscribe(() => {
      connections--;
    }),
  ];
  return () => {
    stopManaged();
    for (const stop of stops) stop();
  };
}

/** Calls that went well (OK, or cancelled by their client) are logged at info, the rest at warn. */
const wentWell = (status: number): boolean =>
  status === GrpcStatus.OK || status === GrpcStatus.CANCELLED;

/**
 * Whether `logger` writes an access-log line for each call that ends OK; when it does not, the
 * gateway may count such calls in summaries (GatewayOptions.summarizeOkCalls).
 */
export const logsOkCalls = (logger: Logger): boolean => logger.isLevelEnabled('info');

/** Structured logs: one access-log line per call, and every backend and session change. */
export function subscribeGatewayLogs(logger: Logger): () => void {
  const stops = [
    gatewayChannels.rpcFinished.subscribe((event) => {
      const ok = wentWell(event.status);
      // Built only when it will be written: at level warn, calls that went well cost nothing here.
      if (ok ? !logsOkCalls(logger) : !logger.isLevelEnabled('warn')) return;
      const line = { ...event, code: grpcCodeName(event.status), access: true };
      const text = `${event.method} ${event.sessionId || '-'} → ${event.backend || 'gateway'} ${grpcCodeName(event.status)} ${event.durationMs.toFixed(1)} ms${event.message === '' ? '' : `: ${event.message}`}`;
      if (ok) logger.info(line, text);
      else logger.warn(line, text);
    }),
    gatewayChannels.requestRejected.subscribe((event) => {
      logger.warn(event, `rejected ${event.kind} from ${event.client}: ${event.detail}`);
    }),
    gatewayChannels.relayFailed.subscribe((event) => {
      logger.error(
        { method: event.method, backend: event.backend, err: event.error },
        `internal fault while relaying ${event.method} to ${event.backend}; that call was cancelled`,
      );
    }),
    gatewayChannels.backendHealth.subscribe((event) => {
      const text = `backend ${event.backend} ${event.from} → ${event.to}${event.reason === '' ? '' : `: ${event.reason}`}`;
      if (event.to === 'down') logger.warn(event, text);
      else logger.info(event, text);
    }),
    gatewayChannels.backendRestarted.subscribe((event) => {
      logger.warn(
        event,
        `backend ${event.backend} restarted (was ${event.previous}, now ${event.current}): its earlier sessions are gone`,
      );
    }),
    gatewayChannels.backendAdded.subscribe((event) => {
      logger.info(event, `backend ${event.backend} added`);
    }),
    gatewayChannels.backendRemoved.subscribe((event) => {
      logger.info(event, `backend ${event.backend} removed`);
    }),
    gatewayChannels.backendDrain.subscribe((event) => {
      logger.info(event, `backend ${event.backend} ${event.draining ? 'draining' : 'undrained'}`);
    }),
    gatewayChannels.sessionPlaced.subscribe((event) => {
      logger.info(
        event,
        `session ${event.sessionId} of ${event.userId || '-'} placed on ${event.backend}`,
      );
    }),
    gatewayChannels.sessionEnded.subscribe((event) => {
      logger.info(event, `session ${event.sessionId} ${event.reason}`);
    }),
    ...subscribeManagedLogs(logger),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
