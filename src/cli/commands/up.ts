// `sparkplane up`: everything in one process with embedded state under one folder — the gateway,
// the shuffle service, the admin port with its dashboard, and (when Spark is on this machine)
// Spark Connect servers the gateway launches itself, so `pyspark --remote sc://localhost:15002`
// works at once. Ctrl-C stops everything it started.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { ADMIN_AUTH_FILE_HELP, openAdminAuth, subscribeAdminLogs } from '../../core/admin-auth.ts';
import { createAdminServer } from '../../core/admin-server.ts';
import { host, path, portOrZero } from '../../core/config/fields.ts';
import type { Logger } from '../../core/logging.ts';
import { createDashboardRoutes } from '../../dashboard/dashboard-routes.ts';
import { gatewayAdminRoutes } from '../../gateway/admin-api.ts';
import { startGateway, type Gateway } from '../../gateway/gateway-server.ts';
import type { ManagedSettings } from '../../gateway/managed/managed-servers.ts';
import { checkoutSpark, findSparkInstall } from '../../gateway/managed/spark-install.ts';
import {
  logsOkCalls,
  subscribeGatewayLogs,
  subscribeGatewayMetrics,
} from '../../gateway/observability.ts';
import { shuffleAdminRoutes } from '../../shuffle/admin-api.ts';
import {
  serverGauges,
  subscribeShuffleLogs,
  subscribeShuffleMetrics,
} from '../../shuffle/observability.ts';
import { startSweeper } from '../../shuffle/registry/sweeper.ts';
import { SHUFFLE_DEFAULTS, createShuffleServer } from '../../shuffle/server/shuffle-server.ts';
import { defineCommand, option, type CommandIo } from '../command.ts';
import { defaultStateDir, serviceOptions } from '../common-options.ts';
import { managedOptions, managedSettings } from '../managed-options.ts';
import { runServices } from '../run-service.ts';

/** Spark Connect servers `up` launches when Spark is found and no number is given. */
const DEFAULT_CONNECT_SERVERS = 2;

export const upCommand = defineCommand({
  name: 'up',
  summary: 'start sparkplane on this machine: gateway, shuffle service, dashboard, Spark',
  description:
    'Start sparkplane in one process with its state in one folder: the Spark Connect gateway, the ' +
    'external shuffle service and the admin port with metrics and the dashboard. When Spark is on ' +
    'this machine (--spark-home, SPARK_HOME, pyspark importable by python3, or the Spark that ' +
    'scripts/install --spark put into this checkout) the gateway launches ' +
    'Spark Connect servers behind itself, so `pyspark --remote sc://localhost:15002` works at once. ' +
    'Prints the endpoints and what it launched; Ctrl-C stops everything it started.',
  configFile: true,
  options: {
    host: option.string('HOST', host().default('127.0.0.1'), 'address to listen on'),
    gatewayPort: option.integer(
      'PORT',
      portOrZero().default(15002),
      'Spark Connect port of the gateway (0 = any free port)',
    ),
    shufflePort: option.integer(
      'PORT',
      portOrZero().default(7337),
      'port of the external shuffle service (0 = any free port)',
    ),
    adminPort: option.integer(
      'PORT',
      portOrZero().default(15080),
      'admin port: dashboard, metrics, health, admin API',
    ),
    stateDir: {
      ...option.string('DIR', path().optional(), 'folder for embedded state and server logs'),
      defaultHelp: '$XDG_STATE_HOME/sparkplane',
    },
    connectServers: {
      ...option.integer(
        'N',
        z
          .int({ error: 'must be a whole number of at least 0' })
          .min(0, { error: 'must be a whole number of at least 0' })
          .optional(),
        'Spark Connect servers to launch behind the gateway (0: none; the gateway then has no server until one is added)',
      ),
      defaultHelp: `${String(DEFAULT_CONNECT_SERVERS)} when Spark is found`,
    },
    connectMaxServers: option.integer(
      'N',
      z.int().min(1).optional(),
      'servers to launch at most (default: --connect-servers; 8 under --isolation user, group or connection)',
    ),
    ...managedOptions,
    shuffleAllowedRoot: {
      ...option.list(
        'DIR',
        z.array(path()).default([tmpdir()]),
        "folder executors may keep shuffle files under (their spark.local.dir; Spark's default is the temp folder)",
      ),
      defaultHelp: 'the temp folder ($TMPDIR or /tmp)',
    },
    adminAuthFile: option.string('FILE', path().optional(), ADMIN_AUTH_FILE_HELP),
    ...serviceOptions,
  },
  async run(config, io) {
    const stateDir = config.stateDir ?? defaultStateDir(io.env);
    if (config.printConfig) {
      io.stdout(`${JSON.stringify({ ...config, stateDir }, null, 2)}\n`);
      return 0;
    }
    // Without a number, servers are launched only when Spark is found; with one, Spark is required.
    const found =
      config.connectServers === 0 ? undefined : await findSparkInstall(config.sparkHome, io.env);
    const connectServers =
      config.connectServers ?? (found === undefined ? 0 : DEFAULT_CONNECT_SERVERS);
    const managed = await managedSettings(
      { ...config, managedServers: connectServers, managedMaxServers: config.connectMaxServers },
      stateDir,
      io.env,
      found,
    );
    const adminAuth = openAdminAuth(config.adminAuthFile);
    mkdirSync(stateDir, { recursive: true });
    return runServices(config, io, async ({ logger, metrics }) => {
      subscribeGatewayLogs(logger);
      subscribeShuffleLogs(logger);
      subscribeAdminLogs(logger);
      const gateway = await startGateway({
        host: config.host,
        port: config.gatewayPort,
        backends: [],
        stateDir: join(stateDir, 'gateway'),
        managed: managed?.settings,
        summarizeOkCalls: !logsOkCalls(logger),
      });
      subscribeGatewayMetrics(metrics.registry, gateway);
      const shuffle = createShuffleServer({
        host: config.host,
        port: config.shufflePort,
        allowedRoots: config.shuffleAllowedRoot,
        stateDir: join(stateDir, 'shuffle'),
        authSecret: undefined,
        maxFrameBytes: SHUFFLE_DEFAULTS.maxFrameBytes,
        idleTimeoutMs: SHUFFLE_DEFAULTS.idleTimeoutMs,
        maxQueuedRequests: SHUFFLE_DEFAULTS.maxQueuedRequests,
        maxConnections: SHUFFLE_DEFAULTS.maxConnections,
      });
      subscribeShuffleMetrics(metrics.registry, serverGauges(shuffle));
      const services = [
        { name: 'gateway', close: (deadlineMs: number) => gateway.close(deadlineMs) },
      ];
      const shuffleAddress = await shuffle.listen();
      const sweeper = startSweeper(shuffle.registry, 600_000);
      services.push({
        name: 'shuffle',
        close: (deadlineMs: number) => {
          sweeper.stop();
          return shuffle.close(deadlineMs);
        },
      });
      const dashboard = createDashboardRoutes({ gateway, shuffle, title: 'sparkplane up' });
      const admin = createAdminServer({
        host: config.host,
        port: config.adminPort,
        metrics,
        auth: adminAuth,
        routes: {
          ...gatewayAdminRoutes(gateway),
          ...shuffleAdminRoutes(shuffle, { cleanupLocalDirs: false }),
          ...dashboard.routes,
        },
      });
      const adminAddress = await admin.listen();
      const connect = `sc://${hostForUrl(config.host)}:${String(gateway.address.port)}`;
      // The pyspark of the Spark this checkout installed, when that is the Spark it runs.
      const pyspark =
        managed?.settings.install.foundBy === 'scripts/install --spark'
          ? (checkoutSpark(io.env)?.pyspark ?? 'pyspark')
          : 'pyspark';
      const adminUrl = `http://${hostForUrl(config.host)}:${String(adminAddress.port)}`;
      io.stdout(
        [
          'sparkplane is up',
          `  Spark Connect  ${connect}   (${pyspark} --remote ${connect})`,
          `  shuffle        ${hostForUrl(config.host)}:${String(shuffleAddress.port)}   (spark.shuffle.service.enabled=true, spark.shuffle.service.port=${String(shuffleAddress.port)})`,
          `  dashboard      ${adminUrl}/${adminAuth === undefined ? '' : '   (admin credentials required)'}`,
          `  metrics        ${adminUrl}/metrics`,
          `  state          ${stateDir}`,
          `  Spark          ${config.connectServers === 0 ? 'no Spark Connect server launched (--connect-servers 0)' : describeSpark(managed?.settings, connectServers)}`,
          'Press Ctrl-C to stop.',
          '',
        ].join('\n'),
      );
      reportWhenReady(gateway, io, logger, `${pyspark} --remote ${connect}`);
      return [...services, admin, dashboard];
    });
  },
});

function describeSpark(
  settings: Omit<ManagedSettings, 'maxSessionsPerServer'> | undefined,
  servers: number,
): string {
  if (settings === undefined)
    return 'not found, so no Spark Connect server launched: run scripts/install --spark (or pip install "pyspark[connect]" for python3, or set SPARK_HOME), then sparkplane up again; or add running servers with POST /api/gateway/backends/HOST:PORT/add on the admin port';
  const { install } = settings;
  return `${install.version} from ${install.home} (${install.foundBy}): launching ${String(servers)} Spark Connect servers (master ${settings.master}, ports ${String(settings.ports.first)}-${String(settings.ports.last)}, logs in ${settings.logDir})`;
}

/** Tells the person at the terminal when the launched servers answer (a JVM takes a while). */
function reportWhenReady(gateway: Gateway, io: CommandIo, logger: Logger, command: string): void {
  const managed = gateway.managed;
  if (managed === undefined) return;
  const started = Date.now();
  void gateway.managedStarted.then(() => {
    const running = managed.list().filter((server) => server.state === 'running');
    if (running.length === 0) {
      logger.warn({}, 'no Spark Connect server started yet; see the errors above and their logs');
      return;
    }
    io.stdout(
      `ready after ${((Date.now() - started) / 1000).toFixed(0)} s: ${running
        .map((server) => `${server.name} on ${server.backend}`)
        .join(', ')}; connect with ${command}\n`,
    );
  });
}

function hostForUrl(address: string): string {
  const shown = address === '0.0.0.0' ? 'localhost' : address === '::' ? 'localhost' : address;
  return shown.includes(':') ? `[${shown}]` : shown;
}
