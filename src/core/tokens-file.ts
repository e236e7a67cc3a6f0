// Static tokens kept as SHA-256 hashes in a file of `PRINCIPAL sha256:HEX` lines: the gateway's
// client tokens and the admin port's credentials use the same format, made by
// `sparkplane gateway token PRINCIPAL`, so one parser and one hash serve both.
import { createHash, randomBytes } from 'node:crypto';
import { readNamedFile } from './config/read-named-file.ts';
import { ConfigError } from './errors.ts';

export const TOKEN_HASH_PREFIX = 'sha256:';
const MAX_PRINCIPAL_CHARS = 256;

export function hashToken(token: string): string {
  return `${TOKEN_HASH_PREFIX}${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** A new random token: 32 bytes, base64url, with a prefix that makes leaked ones easy to find. */
export function newToken(): string {
  return `spgw_${randomBytes(32).toString('base64url')}`;
}

/** The line a tokens file holds for `token`. */
export function tokenFileLine(principal: string, token: string): string {
  return `${principal} ${hashToken(token)}`;
}

/** Why `principal` cannot be a verified identity, or undefined when it can. */
export function principalProblem(principal: string): string | undefined {
  if (principal === '') return 'it is empty';
  if (principal.length > MAX_PRINCIPAL_CHARS)
    return `it is longer than ${String(MAX_PRINCIPAL_CHARS)} characters`;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f\s]/u.test(principal)) return 'it has spaces or control characters';
  return undefined;
}

/**
 * Reads a tokens file into hash → principal. `what` names the file in errors ("gateway tokens",
 * "admin credentials"). Blank lines and `#` comments are skipped; a malformed line, a principal
 * that cannot name a user, or one hash given to two principals is a ConfigError naming the line.
 */
export function readTokensFile(file: string, what: string): Map<string, string> {
  const tokens = new Map<string, string>();
  const lines = readNamedFile(file, what).toString('utf8').split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file} line ${String(index + 1)}`;
    const [principal = '', hash = '', ...rest] = line.split(/\s+/);
    if (rest.length > 0 || !/^sha256:[0-9a-f]{64}$/.test(hash))
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: expected "PRINCIPAL sha256:HEX" (64 hex digits); 'sparkplane gateway token PRINCIPAL' prints such a line`,
      );
    const problem = principalProblem(principal);
    if (problem !== undefined)
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: "${principal}" cannot name a user: ${problem}`,
      );
    const other = tokens.get(hash);
    if (other !== undefined && other !== principal)
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: this token hash is also given to ${other}; one token names one user`,
      );
    tokens.set(hash, principal);
  });
  return tokens;
}

/**
 * The token a client keeps in a file (as `sparkplane gateway token` printed it): its first line
 * that is neither blank nor a `#` comment. `flag` names the option in the error.
 */
export function readTokenFromFile(file: string, flag: string): string {
  const token = readNamedFile(file, 'token')
    .toString('utf8')
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !line.startsWith('#'));
  if (token === undefined)
    throw new ConfigError(
      'CONFIG_INVALID',
      `invalid config: ${flag} ${file} holds no token; put the token on its first line`,
    );
  return token;
}
