// `sparkplane shuffle`: an external shuffle service that unchanged Spark executors use.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ADMIN_AUTH_FILE_HELP, openAdminAuth, subscribeAdminLogs } from '../../core/admin-auth.ts';
import { createAdminServer } from '../../core/admin-server.ts';
import { duration, host, path, port, portOrZero, positiveInt } from '../../core/config/fields.ts';
import { ConfigError } from '../../core/errors.ts';
import { createDashboardRoutes } from '../../dashboard/dashboard-routes.ts';
import { shuffleAdminRoutes } from '../../shuffle/admin-api.ts';
import {
  serverGauges,
  subscribeShuffleLogs,
  subscribeShuffleMetrics,
} from '../../shuffle/observability.ts';
import { startSweeper } from '../../shuffle/registry/sweeper.ts';
import { SHUFFLE_DEFAULTS, createShuffleServer } from '../../shuffle/server/shuffle-server.ts';
import { defineCommand, option } from '../command.ts';
import { serviceOptions } from '../common-options.ts';
import { runServices } from '../run-service.ts';

export const shuffleCommand = defineCommand({
  name: 'shuffle',
  summary: 'run the external shuffle service',
  description:
    "Run an external shuffle service wire-compatible with Spark's, so executors can leave under " +
    'dynamic allocation without losing their shuffle output. Executors use it with ' +
    'spark.shuffle.service.enabled=true and spark.shuffle.service.port=PORT.',
  configFile: true,
  options: {
    host: option.string('HOST', host().default('0.0.0.0'), 'address to listen on'),
    port: option.integer(
      'PORT',
      port().default(7337),
      'port executors use (spark.shuffle.service.port)',
    ),
    allowedRoot: option.list(
      'DIR',
      z.array(path()).default([]),
      'folder executors may register local dirs under (cover spark.local.dir); nothing outside is opened',
    ),
    stateDir: option.string(
      'DIR',
      path().optional(),
      'folder for the registered-executor store (in memory when unset)',
    ),
    metricsPort: option.integer(
      'PORT',
      portOrZero().optional(),
      'port for /metrics, /healthz, the admin API and the dashboard (off when unset)',
    ),
    adminAuthFile: option.string('FILE', path().optional(), ADMIN_AUTH_FILE_HELP),
    authSecretFile: option.string(
      'FILE',
      path().optional(),
      'file holding spark.authenticate.secret; clients must then authenticate (SASL or spark.network.crypto)',
    ),
    authEngineVersion: option.integer(
      'N',
      z.union([z.literal(1), z.literal(2)], { error: 'must be 1 or 2' }).default(1),
      'spark.network.crypto.authEngineVersion of the executors, when they use spark.network.crypto',
    ),
    idleTimeout: {
      ...option.string(
        'DURATION',
        duration().default(SHUFFLE_DEFAULTS.idleTimeoutMs),
        'close connections idle this long',
      ),
      defaultHelp: '120s',
    },
    maxConnections: option.integer(
      'N',
      positiveInt().default(SHUFFLE_DEFAULTS.maxConnections),
      'open connections at most',
    ),
    cleanupLocalDirs: option.boolean(
      z.boolean().default(false),
      'allow "application removed" to delete the app\'s local dirs',
    ),
    sweepInterval: {
      ...option.string(
        'DURATION',
        duration().default(600_000),
        'how often apps whose local dirs are all gone are forgotten (0 = never)',
      ),
      defaultHelp: '10m',
    },
    ...serviceOptions,
  },
  run(config, io) {
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    if (config.allowedRoot.length === 0) {
      throw new ConfigError(
        'CONFIG_INVALID',
        'invalid config: allowedRoot (--allowed-root) is required: give the folders executors keep shuffle files under (their spark.local.dir), e.g. --allowed-root /var/lib/spark',
      );
    }
    if (config.adminAuthFile !== undefined && config.metricsPort === undefined)
      throw new ConfigError(
        'CONFIG_INVALID',
        'invalid config: --admin-auth-file protects the admin port, which is off; give --metrics-port PORT too, or drop --admin-auth-file',
      );
    const authSecret =
      config.authSecretFile === undefined ? undefined : readSecret(config.authSecretFile);
    const adminAuth = openAdminAuth(config.adminAuthFile);
    return runServices(config, io, async ({ logger, metrics }) => {
      subscribeShuffleLogs(logger);
      subscribeAdminLogs(logger);
      const server = createShuffleServer({
        host: config.host,
        port: config.port,
        allowedRoots: config.allowedRoot,
        stateDir: config.stateDir,
        authSecret,
        authEngineVersion: config.authEngineVersion,
        maxFrameBytes: SHUFFLE_DEFAULTS.maxFrameBytes,
        idleTimeoutMs: config.idleTimeout,
        maxQueuedRequests: SHUFFLE_DEFAULTS.maxQueuedRequests,
        maxConnections: config.maxConnections,
      });
      subscribeShuffleMetrics(metrics.registry, serverGauges(server));
      const bound = await server.listen();
      logger.info(
        {
          executors: server.registry.executorCount,
          apps: server.registry.applicationCount,
          state: server.registry.path ?? 'memory',
          auth: authSecret === undefined ? 'off' : 'sasl',
        },
        `shuffle service on ${bound.address}:${bound.port}: ${server.registry.executorCount} executors of ${server.registry.applicationCount} apps restored`,
      );
      const sweeper = startSweeper(server.registry, config.sweepInterval);
      const services = [
        {
          name: 'shuffle',
          close: async (deadlineMs: number) => {
            sweeper.stop();
            return server.close(deadlineMs);
          },
        },
      ];
      if (config.metricsPort !== undefined) {
        const dashboard = createDashboardRoutes({ shuffle: server });
        const admin = createAdminServer({
          host: config.host,
          port: config.metricsPort,
          metrics,
          auth: adminAuth,
          routes: {
            ...shuffleAdminRoutes(server, { cleanupLocalDirs: config.cleanupLocalDirs }),
            ...dashboard.routes,
          },
        });
        await admin.listen();
        services.push(admin, dashboard);
      }
      if (adminAuth !== undefined) {
        const onHangup = (): void => {
          try {
            adminAuth.reload();
            logger.info(
              { adminAuth: adminAuth.describe() },
              'reloaded the admin credentials (SIGHUP)',
            );
          } catch (error) {
            logger.error(
              { err: error },
              `SIGHUP: the admin credentials did not reload, the previous ones stay: ${error instanceof Error ? error.message : String(error)}`,
            );
          }
        };
        process.on('SIGHUP', onHangup);
        services.push({
          name: 'admin credentials reload',
          close: () => {
            process.off('SIGHUP', onHangup);
            return Promise.resolve(true);
          },
        });
      }
      return services;
    });
  },
});

function readSecret(file: string): string {
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read the auth secret file ${file}: ${String(error)}`,
      { cause: error },
    );
  }
  if (secret === '')
    throw new ConfigError(
      'CONFIG_INVALID',
      `invalid config: the auth secret file ${file} is empty`,
    );
  return secret;
}
