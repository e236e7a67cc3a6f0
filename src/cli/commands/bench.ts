// `sparkplane bench connect`: many concurrent Spark Connect sessions against the gateway (or any
// Spark Connect endpoint) running a mix of queries, then latency percentiles, failures, throughput
// and the per-backend spread of the sessions. Exit codes: 0 the run completed within
// --max-error-rate, 1 more failures than that, 2 usage, 3 the endpoint could not be reached.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { benchVerdict, renderJson, renderText } from '../../bench/bench-report.ts';
import { openConnection, type ConnectEndpoint } from '../../bench/connect-client.ts';
import { parseConnectUrl, redactConnectUrl, type ConnectUrl } from '../../bench/connect-url.ts';
import { BenchError } from '../../bench/errors.ts';
import { terminalProgress } from '../../bench/progress.ts';
import { findMix, MIXES, MIX_NAMES } from '../../bench/query-mix.ts';
import { runBench } from '../../bench/run-bench.ts';
import { fetchSessionSpread } from '../../bench/session-spread.ts';
import { duration, oneOf, path, positiveInt } from '../../core/config/fields.ts';
import { readTokenFromFile } from '../../core/tokens-file.ts';
import { UsageError } from '../../core/errors.ts';
import { VERSION } from '../../core/version.ts';
import { defineCommand, option } from '../command.ts';

const DEFAULT_QUERIES_PER_SESSION = 20;
const DEFAULT_DURATION_MS = 60_000;
const CLIENT_TYPE = 'sparkplane-bench';

/** A fraction 0–1 or a percentage such as `5%`; yields the fraction. */
const errorRate = () =>
  z
    .union([z.number(), z.string()], { error: 'must be a fraction 0–1 or a percentage such as 5%' })
    .transform((value, ctx) => {
      const text = String(value).trim();
      const fraction = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text);
      if (
        text === '' ||
        text === '%' ||
        !Number.isFinite(fraction) ||
        fraction < 0 ||
        fraction > 1
      ) {
        ctx.issues.push({
          code: 'custom',
          message: 'must be a fraction 0–1 or a percentage such as 5%',
          input: value,
        });
        return z.NEVER;
      }
      return fraction;
    });

const httpUrl = () =>
  z
    .string({ error: 'must be an http:// or https:// URL' })
    .regex(/^https?:\/\/[^/\s]+\/?$/, { error: 'must be http://HOST:PORT, the gateway admin API' });

export const benchConnectCommand = defineCommand({
  name: 'bench connect',
  summary: 'stress a Spark Connect endpoint with many concurrent sessions',
  description:
    'Open --sessions Spark Connect sessions (each a connection of its own, as PySpark users have) ' +
    'against --url, run the --mix of queries in each, and report latency percentiles per query ' +
    'kind, failures by gRPC status and message, throughput, and, with --admin-url, how the ' +
    'sessions spread over the gateway backends. Every result is checked (row counts; a temp view ' +
    'read back in its own session). The run ends by itself: after --queries-per-session, after ' +
    '--duration, or whichever comes first when neither or both are given. Exit codes: 0 done, ' +
    '1 more failures than --max-error-rate, 2 usage error, 3 the endpoint cannot be reached.',
  configFile: true,
  options: {
    url: option.string(
      'URL',
      z.string().default('sc://localhost:15002'),
      'Spark Connect endpoint, sc://HOST:PORT[/;token=…;use_ssl=true;user_id=…] as PySpark reads it',
    ),
    sessions: option.integer('N', positiveInt().default(8), 'concurrent sessions'),
    queriesPerSession: {
      ...option.integer('N', positiveInt().optional(), 'queries each session runs after its setup'),
      defaultHelp: `${String(DEFAULT_QUERIES_PER_SESSION)} when --duration is not given`,
    },
    duration: {
      ...option.string('DURATION', duration().optional(), 'no query starts after this, e.g. 5m'),
      defaultHelp: '60s when --queries-per-session is not given',
    },
    rampUp: {
      ...option.string(
        'DURATION',
        duration().default(0),
        'start the sessions evenly over this time instead of all at once',
      ),
      defaultHelp: '0s',
    },
    mix: option.string(
      'NAME',
      oneOf(MIX_NAMES).default('default'),
      `queries to run: ${MIXES.map((mix) => `${mix.name} (${mix.description})`).join('; ')}`,
    ),
    adminUrl: option.string(
      'URL',
      httpUrl().optional(),
      "the gateway's admin API, http://HOST:PORT, to show the sessions per backend",
    ),
    adminTokenFile: option.string(
      'FILE',
      path().optional(),
      'when the admin port requires credentials: a file holding a token it accepts, sent as Bearer',
    ),
    tlsCa: option.string('FILE', path().optional(), 'PEM CA to check the server certificate with'),
    maxErrorRate: {
      ...option.string(
        'RATE',
        errorRate().default(0),
        'exit 1 when more than this share of calls fail, e.g. 0.01 or 1%',
      ),
      defaultHelp: '0, any failure',
    },
    queryTimeout: {
      ...option.string(
        'DURATION',
        duration().default(120_000),
        'a query still running after this is cancelled and failed',
      ),
      defaultHelp: '2m',
    },
    connectTimeout: {
      ...option.string('DURATION', duration().default(10_000), 'time to open a connection'),
      defaultHelp: '10s',
    },
    json: option.boolean(z.boolean().default(false), 'print the report as JSON (docs/bench.md)'),
    printConfig: option.boolean(
      z.boolean().default(false),
      'print the validated configuration as JSON and exit',
    ),
  },
  async run(config, io) {
    const parsed = parseConnectUrl(config.url, io.env);
    if (!parsed.ok)
      throw new BenchError(
        'BENCH_BAD_URL',
        `--url ${redactConnectUrl(config.url)}: ${parsed.problem}`,
      );
    const url = parsed.url;
    if (url.sessionId !== undefined && config.sessions > 1)
      throw new UsageError(
        `--url names one session_id but --sessions is ${String(config.sessions)}; drop session_id from the URL (each session gets its own) or use --sessions 1`,
      );
    const bothUnset = config.queriesPerSession === undefined && config.duration === undefined;
    const queriesPerSession = bothUnset ? DEFAULT_QUERIES_PER_SESSION : config.queriesPerSession;
    const durationMs = bothUnset ? DEFAULT_DURATION_MS : config.duration;
    if (config.printConfig) {
      io.stdout(
        `${JSON.stringify({ ...config, url: redactConnectUrl(config.url), queriesPerSession, duration: durationMs }, null, 2)}\n`,
      );
      return 0;
    }
    const label = redactConnectUrl(config.url);
    const endpoint = await endpointOf(url, label, config.tlsCa);
    const adminToken =
      config.adminTokenFile === undefined
        ? undefined
        : readTokenFromFile(config.adminTokenFile, '--admin-token-file');
    // One connection first, so an endpoint that cannot be reached is one clear error (exit 3).
    (await openConnection(endpoint, config.connectTimeout)).close();

    const mix = findMix(config.mix);
    if (mix === undefined) throw new UsageError(`--mix ${config.mix}: no such mix`);
    const interrupt = new AbortController();
    const onSigint = (): void => {
      interrupt.abort();
    };
    process.once('SIGINT', onSigint);
    const progress = io.isTty && !config.json ? terminalProgress(io.stderr) : undefined;
    try {
      const adminUrl = config.adminUrl;
      const result = await runBench({
        endpoint,
        sessions: config.sessions,
        ...(queriesPerSession === undefined ? {} : { queriesPerSession }),
        ...(durationMs === undefined ? {} : { durationMs }),
        rampUpMs: config.rampUp,
        queryTimeoutMs: config.queryTimeout,
        connectTimeoutMs: config.connectTimeout,
        mix,
        userId: url.userId ?? nonEmpty(io.env.SPARK_USER) ?? nonEmpty(io.env.USER) ?? CLIENT_TYPE,
        clientType: url.userAgent ?? CLIENT_TYPE,
        ...(url.sessionId === undefined ? {} : { sessionIds: [url.sessionId] }),
        ...(adminUrl === undefined
          ? {}
          : {
              spread: (ids: readonly string[]) =>
                fetchSessionSpread(adminUrl, ids, 10_000, adminToken),
            }),
        ...(progress === undefined ? {} : { onProgress: progress.update }),
        signal: interrupt.signal,
      });
      progress?.clear();
      const verdict = benchVerdict(result, config.maxErrorRate);
      io.stdout(
        config.json ? renderJson(result, verdict, label) : renderText(result, verdict, label),
      );
      return verdict.exitCode;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
});

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'load tests: bench connect stresses a Spark Connect endpoint',
  configFile: false,
  options: {},
  subcommands: [benchConnectCommand],
  run() {
    return Promise.reject(
      new UsageError(
        'name a benchmark: sparkplane bench connect (see sparkplane bench connect --help)',
      ),
    );
  },
});

async function endpointOf(
  url: ConnectUrl,
  label: string,
  tlsCa: string | undefined,
): Promise<ConnectEndpoint> {
  let ca: Buffer | undefined;
  if (tlsCa !== undefined) {
    try {
      ca = await readFile(tlsCa);
    } catch (error) {
      throw new BenchError(
        'BENCH_TLS_CA_UNREADABLE',
        `--tls-ca ${tlsCa}: cannot read the CA file (${error instanceof Error ? error.message : String(error)}); give a readable PEM file`,
        { cause: error },
      );
    }
    if (!url.tls)
      throw new UsageError(
        `--tls-ca is given but ${label} is cleartext; add ;use_ssl=true to the URL or drop --tls-ca`,
      );
  }
  return {
    host: url.host,
    port: url.port,
    tls: url.tls,
    ...(ca === undefined ? {} : { ca }),
    metadata: {
      'user-agent': `sparkplane-bench/${VERSION}`,
      ...url.metadata,
      ...(url.token === undefined ? {} : { authorization: `Bearer ${url.token}` }),
    },
    label,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
