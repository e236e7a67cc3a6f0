// Metrics and log lines of the Spark Connect servers the gateway runs itself; called from the
// gateway's one place for each (observability.ts).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../core/logging.ts';
import { gatewayChannels } from '../observability-channels.ts';
import type { ManagedServers } from './managed-servers.ts';

export function subscribeManagedMetrics(
  registry: Registry,
  managed: () => ManagedServers | undefined,
): () => void {
  const registers = [registry];
  new Gauge({
    name: 'sparkplane_gateway_managed_servers',
    help: 'Spark Connect servers the gateway runs itself, by state (starting, running, stopping)',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      const servers = managed()?.list() ?? [];
      for (const state of ['starting', 'running', 'stopping'])
        this.set({ state }, servers.filter((server) => server.state === state).length);
    },
  });
  const exits = new Counter({
    name: 'sparkplane_gateway_managed_server_exits_total',
    help: 'Launched Spark Connect servers that exited on their own (crashes) or failed to start',
    labelNames: ['kind'],
    registers,
  });
  const stops = [
    gatewayChannels.managedServerExited.subscribe(() => {
      exits.inc({ kind: 'crashed' });
    }),
    gatewayChannels.managedServerFailed.subscribe(() => {
      exits.inc({ kind: 'failed-to-start' });
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}

export function subscribeManagedLogs(logger: Logger): (() => void)[] {
  const whose = (key: string | undefined): string => (key === undefined ? '' : ` for ${key}`);
  return [
    gatewayChannels.managedServerStarting.subscribe((event) => {
      logger.info(
        event,
        `launching Spark Connect server ${event.name}${whose(event.key)} on ${event.backend} (pid ${String(event.pid)}, log ${event.logFile})`,
      );
    }),
    gatewayChannels.managedServerReady.subscribe((event) => {
      logger.info(
        event,
        event.adopted
          ? `adopted Spark Connect server ${event.name}${whose(event.key)} on ${event.backend} (pid ${String(event.pid)}), left running by an earlier gateway`
          : `Spark Connect server ${event.name}${whose(event.key)} serves on ${event.backend} after ${(event.startupMs / 1000).toFixed(1)} s`,
      );
    }),
    gatewayChannels.managedServerExited.subscribe((event) => {
      logger.error(
        event,
        `Spark Connect server ${event.name}${whose(event.key)} on ${event.backend} exited (${event.signal ?? (event.code === null ? 'exit status unknown' : `code ${String(event.code)}`)}); its sessions are gone${event.key === undefined ? '; a new server starts after a backoff' : ''}. Log ends:\n${event.logTail}`,
      );
    }),
    gatewayChannels.managedServerFailed.subscribe((event) => {
      logger.error(
        event,
        `Spark Connect server ${event.name}${whose(event.key)} did not start: ${event.error}`,
      );
    }),
    gatewayChannels.managedServerStopped.subscribe((event) => {
      logger.info(
        event,
        `stopped Spark Connect server ${event.name} on ${event.backend} (${event.reason === 'idle' ? 'idle' : 'gateway shutting down'})`,
      );
    }),
  ];
}
