// `sparkplane gateway`: one Spark Connect endpoint in front of many Spark Connect servers.
import { z } from 'zod';
import { ADMIN_AUTH_FILE_HELP, openAdminAuth, subscribeAdminLogs } from '../../core/admin-auth.ts';
import { createAdminServer } from '../../core/admin-server.ts';
import {
  duration,
  host,
  hostPort,
  path,
  port,
  portOrZero,
  positiveInt,
} from '../../core/config/fields.ts';
import { readNamedFile } from '../../core/config/read-named-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { createDashboardRoutes } from '../../dashboard/dashboard-routes.ts';
import { gatewayAdminRoutes } from '../../gateway/admin-api.ts';
import {
  createClientAuthenticator,
  type ClientAuthenticator,
} from '../../gateway/auth/client-auth.ts';
import { backendId } from '../../gateway/backends/backend-pool.ts';
import { loadNativeCore } from '../../gateway/native/native-core.ts';
import { openRedisAffinityStore } from '../../gateway/routing/redis-affinity-store.ts';
import {
  GATEWAY_DEFAULTS,
  RELAY_CORES,
  RELAY_MODES,
  startGateway,
  type Gateway,
} from '../../gateway/gateway-server.ts';
import {
  logsOkCalls,
  subscribeGatewayLogs,
  subscribeGatewayMetrics,
} from '../../gateway/observability.ts';
import { defineCommand, option, type ConfigOf } from '../command.ts';
import { serviceOptions } from '../common-options.ts';
import {
  gatewayBackendsCommand,
  gatewayDrainCommand,
  gatewayTokenCommand,
  gatewayUndrainCommand,
} from './gateway-admin.ts';
import { managedOptions, managedSettings } from '../managed-options.ts';
import { runServices } from '../run-service.ts';

const options = {
  host: option.string('HOST', host().default('0.0.0.0'), 'address to listen on'),
  port: option.integer(
    'PORT',
    port().default(GATEWAY_DEFAULTS.port),
    'Spark Connect port clients use (sc://HOST:PORT)',
  ),
  backend: option.list(
    'HOST:PORT',
    z.array(hostPort()).default([]),
    'a Spark Connect server behind the gateway (repeatable; the list is re-read on SIGHUP)',
  ),
  adminPort: option.integer(
    'PORT',
    portOrZero().default(15080),
    'admin port: /metrics, /healthz and the admin API (0 = any free port)',
  ),
  adminHost: option.string(
    'HOST',
    host().default('127.0.0.1'),
    'address the admin port listens on',
  ),
  adminAuthFile: option.string('FILE', path().optional(), ADMIN_AUTH_FILE_HELP),
  stateDir: option.string(
    'DIR',
    path().optional(),
    'folder for the embedded session store (in memory when unset: a restart forgets sessions)',
  ),
  storeUrl: option.string(
    'URL',
    z.url({ protocol: /^(redis|rediss|unix)$/ }).optional(),
    'keep the session table in Redis (redis://[user:password@]host[:port][/db], rediss://…, unix:///path) so several gateways share it; instead of the embedded store under --state-dir',
  ),
  placement: option.string(
    'POLICY',
    z.enum(['least-sessions', 'round-robin']).default('least-sessions'),
    'how new sessions are placed: least-sessions or round-robin',
  ),
  relay: option.string(
    'MODE',
    z.enum(RELAY_MODES).default('terminate'),
    'terminate: every call is terminated and relayed on its own; pinned: each client connection is relayed frame by frame to the one server its sessions live on, for the least overhead (cleartext or TLS; with --auth-* every request must name the verified identity as its user_id; a client mixing sessions of several servers on one connection is told to reconnect and is then terminated)',
  ),
  relayCore: option.string(
    'CORE',
    z.enum(RELAY_CORES).default('auto'),
    'what runs --relay pinned connections: native (the compiled core, built by scripts/build-native; an error when it is not built), typescript, or auto: native when built, else typescript',
  ),
  maxSessionsPerBackend: option.integer(
    'N',
    positiveInt().optional(),
    'sessions one server takes at most; when every server is full, new sessions get RESOURCE_EXHAUSTED',
  ),
  sessionIdleTimeout: {
    ...option.string(
      'DURATION',
      duration().default(GATEWAY_DEFAULTS.sessionIdleTimeoutMs),
      "forget a session after this long without calls (Spark's own default is 60m)",
    ),
    defaultHelp: '60m',
  },
  checkInterval: {
    ...option.string(
      'DURATION',
      duration().default(GATEWAY_DEFAULTS.health.intervalMs),
      'time between health checks of each server (a Config RPC, not a TCP connect)',
    ),
    defaultHelp: '2s',
  },
  checkTimeout: {
    ...option.string(
      'DURATION',
      duration().default(GATEWAY_DEFAULTS.health.timeoutMs),
      'a health check that takes longer fails',
    ),
    defaultHelp: '2s',
  },
  checkFall: option.integer(
    'N',
    positiveInt().default(GATEWAY_DEFAULTS.health.fall),
    'failed checks in a row that take a server down',
  ),
  checkRise: option.integer(
    'N',
    positiveInt().default(GATEWAY_DEFAULTS.health.rise),
    'passed checks in a row that bring a down server back',
  ),
  tlsCert: option.string('FILE', path().optional(), 'PEM certificate: clients connect with TLS'),
  tlsKey: option.string('FILE', path().optional(), 'PEM private key for --tls-cert'),
  authTokensFile: option.string(
    'FILE',
    path().optional(),
    "clients must send a bearer token: lines 'PRINCIPAL sha256:HEX' (sparkplane gateway token makes them); re-read on SIGHUP",
  ),
  jwtHs256SecretFile: option.list(
    'FILE',
    z.array(path()).default([]),
    'clients may send a JWT signed with HS256 by the secret in FILE (at least 32 bytes)',
  ),
  jwtPublicKeyFile: option.list(
    'FILE',
    z.array(path()).default([]),
    'clients may send a JWT signed with RS256 by the key of this PEM public key or certificate',
  ),
  jwtJwksFile: option.string(
    'FILE',
    path().optional(),
    'clients may send a JWT signed with RS256 by a key of this JSON Web Key Set (by kid); re-read on SIGHUP',
  ),
  jwtIssuer: option.string('ISSUER', z.string().min(1).optional(), 'JWTs must carry this iss'),
  jwtAudience: option.string('AUDIENCE', z.string().min(1).optional(), 'JWTs must carry this aud'),
  jwtPrincipalClaim: option.string(
    'CLAIM',
    z.string().min(1).default('sub'),
    'the JWT claim that names the user',
  ),
  managedServers: option.integer(
    'N',
    z
      .int({ error: 'must be a whole number of at least 0' })
      .min(0, { error: 'must be a whole number of at least 0' })
      .default(0),
    'Spark Connect servers the gateway launches with spark-submit and keeps running (see --spark-home, --spark-master, --isolation)',
  ),
  managedMaxServers: option.integer(
    'N',
    positiveInt().optional(),
    'servers the gateway launches at most (default: --managed-servers; 8 under --isolation user, group or connection); more start when every server is at --max-sessions-per-backend',
  ),
  ...managedOptions,
  backendTokenFile: option.string(
    'FILE',
    path().optional(),
    "file holding the servers' spark.connect.authenticate.token; sent to them, never to clients",
  ),
  ...serviceOptions,
};

export const gatewayCommand = defineCommand({
  name: 'gateway',
  summary: 'run the Spark Connect gateway',
  description:
    'Run one Spark Connect endpoint (sc://HOST:PORT) in front of many Spark Connect servers, ' +
    'routing every session by the session id inside its gRPC requests. A session stays on the ' +
    'server it was placed on; if that server goes away its clients get UNAVAILABLE saying so. ' +
    'SIGHUP re-reads the config and adds or removes servers.',
  configFile: true,
  options,
  subcommands: [
    gatewayBackendsCommand,
    gatewayDrainCommand,
    gatewayUndrainCommand,
    gatewayTokenCommand,
  ],
  run(config, io, reload) {
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    if ((config.tlsCert === undefined) !== (config.tlsKey === undefined))
      throw new ConfigError(
        'CONFIG_INVALID',
        'invalid config: --tls-cert and --tls-key go together; give both for TLS, or neither',
      );
    const tls =
      config.tlsCert === undefined || config.tlsKey === undefined
        ? undefined
        : {
            cert: readNamedFile(config.tlsCert, 'TLS certificate'),
            key: readNamedFile(config.tlsKey, 'TLS key'),
          };
    const backendToken =
      config.backendTokenFile === undefined
        ? undefined
        : readNamedFile(config.backendTokenFile, 'backend token').toString('utf8').trim();
    const auth = clientAuth(config);
    const adminAuth = openAdminAuth(config.adminAuthFile);
    return runServices(config, io, async ({ logger, metrics }) => {
      const managed = await managedSettings(config, config.stateDir, io.env);
      subscribeGatewayLogs(logger);
      subscribeAdminLogs(logger);
      if (auth !== undefined && tls === undefined)
        logger.warn(
          {},
          'clients authenticate with bearer tokens over cleartext HTTP/2: anyone on the path can read the tokens; give --tls-cert and --tls-key unless a TLS proxy sits in front',
        );
      const store =
        config.storeUrl === undefined
          ? undefined
          : await openRedisAffinityStore({ url: config.storeUrl });
      const gateway = await startGateway({
        host: config.host,
        port: config.port,
        backends: config.backend,
        stateDir: config.stateDir,
        store,
        tls,
        placement: config.placement,
        relay: config.relay,
        relayCore: config.relayCore,
        maxSessionsPerBackend: config.maxSessionsPerBackend,
        sessionIdleTimeoutMs: config.sessionIdleTimeout,
        health: {
          intervalMs: config.checkInterval,
          timeoutMs: config.checkTimeout,
          fall: config.checkFall,
          rise: config.checkRise,
        },
        backendToken,
        authenticate: auth === undefined ? undefined : (headers) => auth.authenticate(headers),
        managed: managed?.settings,
        summarizeOkCalls: !logsOkCalls(logger),
      });
      subscribeGatewayMetrics(metrics.registry, gateway);
      if (gateway.relayCore === 'typescript' && config.relayCore === 'auto')
        logger.warn(
          `--relay pinned runs in TypeScript, which costs about twice the CPU per call of the native core: ${loadNativeCore().missing ?? 'not loaded'}`,
        );
      logger.info(
        {
          backends: config.backend.map((b) => backendId(b)),
          sessions: gateway.sessions.size,
          store: gateway.store.location ?? 'memory',
          tls: tls !== undefined,
          auth: auth?.describe() ?? 'none',
          relay: config.relay,
          relayCore: gateway.relayCore,
        },
        `Spark Connect gateway on ${gateway.address.address}:${String(gateway.address.port)} in front of ${String(config.backend.length)} servers; ${String(gateway.sessions.size)} sessions restored`,
      );
      const onHangup = (): void => {
        try {
          applyBackends(gateway, reload());
          auth?.reload();
          adminAuth?.reload();
          managed?.reloadGroups();
          logger.info(
            { auth: auth?.describe() ?? 'none', adminAuth: adminAuth?.describe() ?? 'none' },
            'reloaded the backend list, the client tokens and keys, and the admin credentials (SIGHUP)',
          );
        } catch (error) {
          logger.error(
            { err: error },
            `SIGHUP: the config did not reload, nothing changed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      };
      process.on('SIGHUP', onHangup);
      const dashboard = createDashboardRoutes({ gateway });
      const admin = createAdminServer({
        host: config.adminHost,
        port: config.adminPort,
        metrics,
        auth: adminAuth,
        routes: { ...gatewayAdminRoutes(gateway), ...dashboard.routes },
      });
      const adminAddress = await admin.listen();
      logger.info(
        { adminAuth: adminAuth?.describe() ?? 'none' },
        `dashboard on http://${adminAddress.address}:${String(adminAddress.port)}/ (${adminAuth === undefined ? 'no admin auth: changes from this machine only' : 'admin credentials required'})`,
      );
      return [
        {
          name: 'gateway',
          close: (deadlineMs: number) => {
            process.off('SIGHUP', onHangup);
            return gateway.close(deadlineMs);
          },
        },
        admin,
        dashboard,
      ];
    });
  },
});

/** The client authenticator the flags ask for, or undefined when clients are not authenticated. */
function clientAuth(config: ConfigOf<typeof options>): ClientAuthenticator | undefined {
  const jwt = {
    hs256SecretFiles: config.jwtHs256SecretFile,
    publicKeyFiles: config.jwtPublicKeyFile,
    jwksFile: config.jwtJwksFile,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    principalClaim: config.jwtPrincipalClaim,
  };
  const jwtKeys =
    jwt.hs256SecretFiles.length > 0 || jwt.publicKeyFiles.length > 0 || jwt.jwksFile !== undefined;
  if (config.authTokensFile === undefined && !jwtKeys) {
    if (config.jwtIssuer !== undefined || config.jwtAudience !== undefined)
      throw new ConfigError(
        'CONFIG_INVALID',
        'invalid config: --jwt-issuer and --jwt-audience need a key to verify JWTs with: --jwt-hs256-secret-file, --jwt-public-key-file or --jwt-jwks-file',
      );
    return undefined;
  }
  return createClientAuthenticator({
    tokensFile: config.authTokensFile,
    jwt: jwtKeys ? jwt : undefined,
  });
}

/** Adds the servers the config names that the gateway lacks, and removes the others. */
function applyBackends(gateway: Gateway, config: ConfigOf<typeof options>): void {
  const wanted = new Map(config.backend.map((spec) => [backendId(spec), spec]));
  for (const backend of gateway.pool.list())
    if (!wanted.has(backend.id) && gateway.managed?.owns(backend.id) !== true)
      void gateway.pool.remove(backend.id);
  for (const [id, spec] of wanted) if (gateway.pool.get(id) === undefined) gateway.addBackend(spec);
}
