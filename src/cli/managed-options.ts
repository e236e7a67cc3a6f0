// Options of the Spark Connect servers the gateway launches and supervises itself ("managed
// backends"), shared by `sparkplane gateway` and `sparkplane up`, and their translation into the
// gateway's settings.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { duration, host, oneOf, parsedText, path } from '../core/config/fields.ts';
import { readNamedFile } from '../core/config/read-named-file.ts';
import { ConfigError } from '../core/errors.ts';
import { ISOLATION_LEVELS, parseGroupsFile, type GroupMap } from '../gateway/managed/isolation.ts';
import type { ManagedSettings } from '../gateway/managed/managed-servers.ts';
import { parsePortRange } from '../gateway/managed/managed-state.ts';
import { findSparkInstall, type SparkInstall } from '../gateway/managed/spark-install.ts';
import { option, type ConfigOf } from './command.ts';

/** Servers launched at most when isolation gives each user, group or session its own. */
const DEFAULT_ISOLATED_MAX = 8;

const sparkConfEntry = () =>
  parsedText((text) => {
    const at = text.indexOf('=');
    return at <= 0 ? undefined : ([text.slice(0, at).trim(), text.slice(at + 1)] as const);
  }, 'must be KEY=VALUE');

const portRange = () => parsedText(parsePortRange, 'must be FIRST-LAST, ports 1–65535');

export const managedOptions = {
  sparkHome: option.string(
    'DIR',
    path().optional(),
    'Spark installation the gateway launches Spark Connect servers from (default: $SPARK_HOME, else the pyspark package python3 imports)',
  ),
  sparkMaster: option.string(
    'MASTER',
    z.string().min(1).default('local[*]'),
    'spark.master of the servers it launches: local[*], yarn, k8s://…, spark://… (drivers run on this machine)',
  ),
  sparkConf: option.list(
    'KEY=VALUE',
    z.array(sparkConfEntry()).default([]),
    'a Spark conf for the servers it launches (repeatable), e.g. spark.yarn.queue=sparkconnect',
  ),
  sparkConnectJar: option.string(
    'FILE',
    path().optional(),
    'Spark 3.5 only: the spark-connect jar (else it comes from Maven Central through --packages, as start-connect-server.sh does)',
  ),
  isolation: option.string(
    'LEVEL',
    oneOf(ISOLATION_LEVELS).default('shared'),
    'which sessions share a launched server: shared (a pool), user, group (--groups-file) or connection (one server per session)',
  ),
  groupsFile: option.string(
    'FILE',
    path().optional(),
    "for --isolation group: lines 'GROUP: USER USER…'; a user in no group is a group of their own",
  ),
  managedIdleTimeout: {
    ...option.string(
      'DURATION',
      duration().default(30 * 60_000),
      'stop a launched server that has held no session this long (the shared pool keeps --managed-servers)',
    ),
    defaultHelp: '30m',
  },
  managedPorts: {
    ...option.string(
      'FIRST-LAST',
      portRange().default({ first: 15100, last: 15199 }),
      'ports launched servers listen on',
    ),
    defaultHelp: '15100-15199',
  },
  managedHost: option.string(
    'HOST',
    host().default('127.0.0.1'),
    'address launched servers listen on and the gateway connects to',
  ),
  managedStartTimeout: {
    ...option.string(
      'DURATION',
      duration().default(180_000),
      'a launched server that has not answered a Spark Connect call by then is stopped and retried',
    ),
    defaultHelp: '3m',
  },
};

export type ManagedConfig = ConfigOf<typeof managedOptions> & {
  readonly managedServers: number;
  readonly managedMaxServers?: number | undefined;
};

/**
 * The gateway's managed-server settings, or undefined when the config asks for none. Fails with
 * what to install or set when no Spark is found; `found` is a Spark the caller already looked up.
 */
export async function managedSettings(
  config: ManagedConfig,
  stateDir: string | undefined,
  env: NodeJS.ProcessEnv,
  found?: SparkInstall,
): Promise<
  { settings: Omit<ManagedSettings, 'maxSessionsPerServer'>; reloadGroups: () => void } | undefined
> {
  const isolated = config.isolation !== 'shared';
  if (config.managedServers === 0 && !isolated && (config.managedMaxServers ?? 0) === 0)
    return undefined;
  const maxServers =
    config.managedMaxServers ?? (isolated ? DEFAULT_ISOLATED_MAX : config.managedServers);
  if (maxServers < config.managedServers)
    throw new ConfigError(
      'CONFIG_INVALID',
      `invalid config: --managed-max-servers (${String(maxServers)}) is below --managed-servers (${String(config.managedServers)})`,
    );
  if (config.isolation === 'group' && config.groupsFile === undefined)
    throw new ConfigError(
      'CONFIG_INVALID',
      'invalid config: --isolation group needs --groups-file FILE (lines "GROUP: USER USER…")',
    );
  const install = found ?? (await findSparkInstall(config.sparkHome, env));
  if (install === undefined)
    throw new ConfigError(
      'CONFIG_INVALID',
      'the gateway was asked to launch Spark Connect servers but finds no Spark: set --spark-home or SPARK_HOME, install pyspark for python3 (pip install "pyspark[connect]"), or run scripts/install --spark in the sparkplane checkout',
    );
  const groupsFile = config.groupsFile;
  const loadGroups = (): GroupMap =>
    groupsFile === undefined
      ? new Map()
      : parseGroupsFile(readNamedFile(groupsFile, 'groups file').toString('utf8'), groupsFile);
  let groups = loadGroups();
  const base = stateDir ?? join(env.TMPDIR ?? '/tmp', `sparkplane-${String(process.pid)}`);
  const logDir = join(base, 'connect-servers');
  mkdirSync(logDir, { recursive: true });
  const settings = {
    install,
    minServers: config.managedServers,
    maxServers,
    master: config.sparkMaster,
    conf: config.sparkConf,
    connectJar: config.sparkConnectJar,
    isolation: config.isolation,
    groups: () => groups,
    idleTimeoutMs: config.managedIdleTimeout,
    host: config.managedHost,
    ports: config.managedPorts,
    logDir,
    stateFile: stateDir === undefined ? undefined : join(stateDir, 'connect-servers.json'),
    startTimeoutMs: config.managedStartTimeout,
  };
  return {
    settings,
    reloadGroups: () => {
      groups = loadGroups();
    },
  };
}
