// Who may use the admin port. With an admin credentials file (`--admin-auth-file`, lines
// `PRINCIPAL sha256:HEX` as `sparkplane gateway token` prints them) every route but /healthz asks
// for `Authorization: Bearer TOKEN` (Prometheus, scripts) or HTTP Basic with the principal as user
// and the token as password (browsers). Tokens are compared by hash, against every entry, in
// constant time. Changes an operator makes (POST) are published with the principal that made them.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { defineChannel } from './diagnostics.ts';
import type { Logger } from './logging.ts';
import { hashToken, readTokensFile, TOKEN_HASH_PREFIX } from './tokens-file.ts';

export const ADMIN_REALM = 'sparkplane admin';
/** The header a 401 carries so browsers ask for a user (principal) and password (token). */
export const ADMIN_CHALLENGE = `Basic realm="${ADMIN_REALM}", charset="UTF-8"`;

/** Help for `--admin-auth-file`, the same on every command that runs an admin port. */
export const ADMIN_AUTH_FILE_HELP =
  "the admin port (dashboard, admin API, /metrics) requires credentials: lines 'PRINCIPAL sha256:HEX' (sparkplane gateway token makes them), sent as Bearer TOKEN or Basic PRINCIPAL:TOKEN; /healthz stays open; re-read on SIGHUP";

export type AdminCredentialCheck =
  { readonly ok: true; readonly principal: string } | { readonly ok: false; readonly why: string };

export interface AdminAuthenticator {
  /** Checks the request's Authorization header against the credentials file. */
  check(headers: IncomingHttpHeaders): AdminCredentialCheck;
  /** Reads the file again; when it is unreadable or malformed the previous credentials stay. */
  reload(): void;
  /** What is accepted, for the startup log. */
  describe(): { principals: number; file: string };
}

interface Credential {
  readonly hash: Buffer;
  readonly principal: string;
}

export function createAdminAuthenticator(file: string): AdminAuthenticator {
  let credentials = load(file);
  return {
    check(headers) {
      const presented = presentedCredentials(headers.authorization);
      if ('why' in presented) return { ok: false, why: presented.why };
      const principal = match(credentials, presented.token);
      if (principal === undefined)
        return {
          ok: false,
          why: `the ${presented.scheme} token is not one of the admin port's credentials; 'sparkplane gateway token NAME' makes one, and the admin credentials file needs its line`,
        };
      if (presented.user !== undefined && presented.user !== principal)
        return {
          ok: false,
          why: 'the Basic user name is not the principal this token belongs to; log in with the principal from the admin credentials file as the user and the token as the password',
        };
      return { ok: true, principal };
    },
    reload() {
      credentials = load(file);
    },
    describe: () => ({
      principals: new Set(credentials.map((entry) => entry.principal)).size,
      file,
    }),
  };
}

/** Opens the authenticator for `--admin-auth-file`, or undefined when the admin port is open. */
export function openAdminAuth(file: string | undefined): AdminAuthenticator | undefined {
  return file === undefined ? undefined : createAdminAuthenticator(file);
}

function load(file: string): Credential[] {
  return [...readTokensFile(file, 'admin credentials')].map(([hash, principal]) => ({
    hash: Buffer.from(hash.slice(TOKEN_HASH_PREFIX.length), 'hex'),
    principal,
  }));
}

/** Compares the token's hash with every entry (no early exit) so timing says nothing of which. */
function match(credentials: readonly Credential[], token: string): string | undefined {
  const hash = Buffer.from(hashToken(token).slice(TOKEN_HASH_PREFIX.length), 'hex');
  let found: string | undefined;
  for (const entry of credentials)
    if (timingSafeEqual(entry.hash, hash) && found === undefined) found = entry.principal;
  return found;
}

type Presented =
  | { readonly scheme: 'Bearer' | 'Basic'; readonly token: string; readonly user?: string }
  | { readonly why: string };

function presentedCredentials(header: string | undefined): Presented {
  if (header === undefined || header === '')
    return {
      why: 'the admin port requires credentials and the request carries none; send "Authorization: Bearer TOKEN", or log in with the principal as user and the token as password',
    };
  const bearer = /^Bearer +(\S+)\s*$/i.exec(header);
  if (bearer?.[1] !== undefined) return { scheme: 'Bearer', token: bearer[1] };
  const basic = /^Basic +([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0)
      return { why: 'the Basic credentials are not "user:password"; the user is the principal' };
    return { scheme: 'Basic', user: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
  }
  return {
    why: 'the Authorization header is neither "Bearer TOKEN" nor HTTP Basic; use one of them',
  };
}

export interface AdminChange {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** The authenticated principal; undefined when the admin port has no credentials file. */
  readonly principal: string | undefined;
  readonly remote: string;
}

export interface AdminAuthRefused {
  readonly path: string;
  readonly remote: string;
  readonly why: string;
}

export const adminChannels = {
  change: defineChannel<AdminChange>('sparkplane:admin:change'),
  refused: defineChannel<AdminAuthRefused>('sparkplane:admin:auth-refused'),
};

/** Logs every change made on the admin port with who made it, and refused credentials. */
export function subscribeAdminLogs(logger: Logger): () => void {
  const stops = [
    adminChannels.change.subscribe((event) => {
      const who = event.principal ?? `${event.remote} (loopback, no admin auth)`;
      logger.info(
        event,
        `admin change by ${who}: ${event.method} ${event.path} → ${String(event.status)}`,
      );
    }),
    adminChannels.refused.subscribe((event) => {
      logger.info(
        event,
        `admin request to ${event.path} from ${event.remote} refused: ${event.why}`,
      );
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
