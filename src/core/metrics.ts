// The Prometheus registry. Components publish events on diagnostics channels; this module is the
// one subscriber that turns them into metrics, so protocol code never touches prom-client.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { channels } from './diagnostics.ts';
import { VERSION } from './version.ts';

export interface Metrics {
  readonly registry: Registry;
  /** Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
  /** Stops listening to the diagnostics channels. */
  close(): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sparkplane_' });

  new Gauge({
    name: 'sparkplane_build_info',
    help: 'Always 1; labels carry the sparkplane and Node.js versions',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: VERSION, node: process.versions.node }, 1);

  const serviceUp = new Gauge({
    name: 'sparkplane_service_up',
    help: '1 while the named service accepts connections, 0 once it closes',
    labelNames: ['service'],
    registers: [registry],
  });
  const shutdownSeconds = new Gauge({
    name: 'sparkplane_service_shutdown_seconds',
    help: 'How long the last shutdown of the named service took',
    labelNames: ['service', 'drained'],
    registers: [registry],
  });
  const adminRequests = new Counter({
    name: 'sparkplane_admin_requests_total',
    help: 'Requests served on the admin port, by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  });
  const adminLatency = new Histogram({
    name: 'sparkplane_admin_request_duration_seconds',
    help: 'Time to answer a request on the admin port',
    labelNames: ['route'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });

  const stops = [
    channels.serviceListening.subscribe((event) => {
      serviceUp.set({ service: event.service }, 1);
    }),
    channels.serviceClosing.subscribe((event) => {
      serviceUp.set({ service: event.service }, 0);
    }),
    channels.serviceClosed.subscribe((event) => {
      shutdownSeconds.set(
        { service: event.service, drained: String(event.drained) },
        event.durationMs / 1000,
      );
    }),
    channels.adminRequest.subscribe((event) => {
      adminRequests.inc({ route: event.route, status: String(event.status) });
      adminLatency.observe({ route: event.route }, event.durationMs / 1000);
    }),
  ];

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    close() {
      for (const stop of stops) stop();
    },
  };
}
