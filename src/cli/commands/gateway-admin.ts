// The operator's commands under `sparkplane gateway`: list the servers behind a running gateway,
// drain one (and wait until its last session has ended), undrain it, and make client tokens.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { duration, hostPort, path } from '../../core/config/fields.ts';
import { readTokenFromFile } from '../../core/tokens-file.ts';
import { SparkplaneError, UsageError } from '../../core/errors.ts';
import { newToken, principalProblem, tokenFileLine } from '../../gateway/auth/client-auth.ts';
import { backendId } from '../../gateway/backends/backend-pool.ts';
import { defineCommand, option } from '../command.ts';

const DEFAULT_ADMIN_URL = 'http://127.0.0.1:15080';
const POLL_INTERVAL_MS = 1000;

interface BackendView {
  readonly id: string;
  readonly health: string;
  readonly draining: boolean;
  readonly drained: boolean;
  readonly sessions: number;
  readonly maxSessions: number | null;
  readonly appId: string | null;
  readonly downReason: string | null;
}

const adminUrl = option.string(
  'URL',
  z.url({ protocol: /^https?$/ }).default(DEFAULT_ADMIN_URL),
  "the gateway's admin port (without admin credentials, changes are accepted from the gateway's own machine only)",
);

const adminTokenFile = option.string(
  'FILE',
  path().optional(),
  'when the admin port requires credentials (--admin-auth-file): a file holding a token sparkplane gateway token made, sent as Bearer',
);

const backendArgument = option.positional(
  'HOST:PORT',
  z.array(hostPort()).length(1, 'name one Spark Connect server, as HOST:PORT').default([]),
  'the Spark Connect server, as the gateway lists it',
);

export const gatewayBackendsCommand = defineCommand({
  name: 'gateway backends',
  summary: 'list the servers behind a running gateway',
  description:
    'List the Spark Connect servers behind a running gateway with their health, drain state and session counts.',
  configFile: false,
  options: {
    adminUrl,
    adminTokenFile,
    json: option.boolean(z.boolean().default(false), 'print the admin API answer as JSON'),
  },
  async run(config, io) {
    const { backends } = (await admin(config, 'GET', 'backends')) as {
      backends: BackendView[];
    };
    if (config.json) io.stdout(`${JSON.stringify({ backends }, null, 2)}\n`);
    else io.stdout(backendTable(backends));
    return 0;
  },
});

export const gatewayDrainCommand = defineCommand({
  name: 'gateway drain',
  summary: 'stop placing new sessions on a server',
  description:
    'Drain a Spark Connect server: the gateway places no new sessions on it while its existing ' +
    'sessions keep working. With --wait, waits until its last session has ended (released by ' +
    'its client, or idle past the session timeout) and exits 0, so the server can be stopped.',
  configFile: false,
  options: {
    backend: backendArgument,
    adminUrl,
    adminTokenFile,
    wait: option.boolean(
      z.boolean().default(false),
      'wait until the server has no sessions left, printing the count as it falls',
    ),
    timeout: {
      ...option.string(
        'DURATION',
        duration().default(24 * 3600_000),
        'with --wait: give up after this long (exit 1, naming the sessions left)',
      ),
      defaultHelp: '24h',
    },
  },
  async run(config, io) {
    const id = targetOf(config.backend);
    let view = (await admin(config, 'POST', `backends/${id}/drain`)) as BackendView;
    io.stdout(`${id}: draining; ${sessionCount(view.sessions)} left\n`);
    if (!config.wait || view.drained) {
      if (view.drained) io.stdout(`${id}: drained, no sessions left; safe to stop\n`);
      return 0;
    }
    const deadline = Date.now() + config.timeout;
    let shown = view.sessions;
    for (;;) {
      await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
      const { backends } = (await admin(config, 'GET', 'backends')) as {
        backends: BackendView[];
      };
      const found = backends.find((backend) => backend.id === id);
      if (found === undefined) {
        io.stdout(`${id}: removed from the gateway while draining\n`);
        return 0;
      }
      view = found;
      if (!view.draining) {
        io.stderr(`${id}: undrained by someone else while waiting; stopped waiting\n`);
        return 1;
      }
      if (view.drained) {
        io.stdout(`${id}: drained, no sessions left; safe to stop\n`);
        return 0;
      }
      if (view.sessions !== shown) {
        shown = view.sessions;
        io.stdout(`${id}: ${sessionCount(view.sessions)} left\n`);
      }
      if (Date.now() >= deadline) {
        io.stderr(
          `${id}: still ${sessionCount(view.sessions)} after ${formatWait(config.timeout)}; ` +
            `GET ${config.adminUrl}/api/gateway/sessions shows whose they are\n`,
        );
        return 1;
      }
    }
  },
});

export const gatewayUndrainCommand = defineCommand({
  name: 'gateway undrain',
  summary: 'place new sessions on a drained server again',
  configFile: false,
  options: { backend: backendArgument, adminUrl, adminTokenFile },
  async run(config, io) {
    const id = targetOf(config.backend);
    const view = (await admin(config, 'POST', `backends/${id}/undrain`)) as BackendView;
    io.stdout(`${id}: takes new sessions again (${view.health}, ${sessionCount(view.sessions)})\n`);
    return 0;
  },
});

export const gatewayTokenCommand = defineCommand({
  name: 'gateway token',
  summary: 'make a client token for the gateway',
  description:
    'Make a random bearer token for a user. Prints the token, to give to the user once, and the ' +
    "line for the gateway's --auth-tokens-file, which holds only the token's SHA-256 hash. With " +
    '--stdin, hashes a token read from standard input instead.',
  configFile: false,
  options: {
    principal: option.positional(
      'PRINCIPAL',
      z.array(z.string()).length(1, 'name one user').default([]),
      'the user the token names: it becomes the user id every Spark server sees',
    ),
    stdin: option.boolean(
      z.boolean().default(false),
      'read the token from standard input rather than making one',
    ),
  },
  async run(config, io) {
    const principal = config.principal[0];
    if (principal === undefined)
      throw new UsageError('name the user the token is for: sparkplane gateway token PRINCIPAL');
    const problem = principalProblem(principal);
    if (problem !== undefined)
      throw new UsageError(`"${principal}" cannot name a user: ${problem}`);
    const token = config.stdin ? (await readStdin()).trim() : newToken();
    if (token === '') throw new UsageError('standard input held no token');
    if (!config.stdin)
      io.stdout(`token (give it to ${principal}; it is not stored anywhere):\n  ${token}\n`);
    io.stdout(
      `${config.stdin ? '' : 'line for --auth-tokens-file:\n  '}${tokenFileLine(principal, token)}\n`,
    );
    return 0;
  },
});

function targetOf(backends: readonly { host: string; port: number }[]): string {
  const [backend] = backends;
  if (backend === undefined)
    throw new UsageError(
      'name the Spark Connect server, as HOST:PORT (see sparkplane gateway backends)',
    );
  return backendId(backend);
}

async function admin(
  target: { readonly adminUrl: string; readonly adminTokenFile: string | undefined },
  method: 'GET' | 'POST',
  path: string,
): Promise<unknown> {
  const url = `${target.adminUrl.replace(/\/+$/, '')}/api/gateway/${path}`;
  const headers: Record<string, string> = {};
  if (target.adminTokenFile !== undefined)
    headers.authorization = `Bearer ${readTokenFromFile(target.adminTokenFile, '--admin-token-file')}`;
  let response: Response;
  try {
    response = await fetch(url, { method, headers, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    throw new SparkplaneError(
      'GW_ADMIN_UNREACHABLE',
      `cannot reach the gateway's admin API at ${url}: ${cause instanceof Error ? cause.message : String(cause)}; is sparkplane gateway running with its admin port there (--admin-url)?`,
      { cause: error, exitCode: 3 },
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new SparkplaneError(
      'GW_ADMIN_BAD_ANSWER',
      `${url} answered ${String(response.status)} with something other than JSON; is that a sparkplane gateway's admin port?`,
      { exitCode: 3 },
    );
  }
  if (!response.ok) {
    const why =
      typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : text;
    throw new SparkplaneError(
      'GW_ADMIN_REFUSED',
      `the gateway refused ${method} ${url} (${String(response.status)}): ${why}${response.status === 401 ? `; the admin port requires credentials: ${target.adminTokenFile === undefined ? 'give --admin-token-file FILE with a token' : `the token in ${target.adminTokenFile} is not`} in its --admin-auth-file` : ''}`,
      { exitCode: response.status === 404 ? 2 : 1 },
    );
  }
  return body;
}

function backendTable(backends: readonly BackendView[]): string {
  if (backends.length === 0) return 'no Spark Connect servers behind the gateway\n';
  const rows = [
    ['SERVER', 'HEALTH', 'STATE', 'SESSIONS', 'APPLICATION'],
    ...backends.map((backend) => [
      backend.id,
      backend.health,
      backend.drained ? 'drained' : backend.draining ? 'draining' : 'active',
      backend.maxSessions === null
        ? String(backend.sessions)
        : `${String(backend.sessions)}/${String(backend.maxSessions)}`,
      backend.appId ?? (backend.downReason === null ? '-' : `- (${backend.downReason})`),
    ]),
  ];
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

function sessionCount(count: number): string {
  return `${String(count)} session${count === 1 ? '' : 's'}`;
}

function formatWait(ms: number): string {
  return ms % 60_000 === 0 ? `${String(ms / 60_000)}m` : `${String(Math.round(ms / 1000))}s`;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
