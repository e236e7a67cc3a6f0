// Spark Connect's connection string, `sc://HOST[:PORT][/;key=value;…]`, read the way PySpark's
// DefaultChannelBuilder (4.x) reads it, so a URL that works with `pyspark --remote` works here and
// one PySpark refuses is refused here, with the same reason. PySpark rewrites `sc` to `http` and
// lets Python's urlparse split it; the rules below are that parser's, as far as a Spark Connect URL
// can use them.
import { isIPv6 } from 'node:net';
import { decodeGrpcMessageText } from '../gateway/wire/grpc-status-text.ts';

export const DEFAULT_CONNECT_PORT = 15002;

/** Parameters PySpark uses itself; every other one is sent as gRPC metadata on each call. */
const CHANNEL_PARAMETERS = new Set([
  'token',
  'use_ssl',
  'user_id',
  'user_agent',
  'session_id',
  'grpc_keepalive_enabled',
  'grpc_keepalive_time_ms',
  'grpc_keepalive_timeout_ms',
  'grpc_keepalive_without_calls',
]);

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const METADATA_KEY = /^[0-9a-z_.-]+$/;

export interface ConnectUrl {
  /** Host name (lowercase, as urlparse gives it) or IP address, without brackets. */
  readonly host: string;
  readonly port: number;
  /** TLS: `use_ssl=true`, or a token (except to `localhost`, which PySpark 4.x reaches in cleartext). */
  readonly tls: boolean;
  readonly token?: string;
  readonly userId?: string;
  readonly userAgent?: string;
  readonly sessionId?: string;
  /** The remaining parameters, sent as gRPC metadata as PySpark does. */
  readonly metadata: Readonly<Record<string, string>>;
  /** `host:port`, the IPv6 address in brackets. */
  readonly endpoint: string;
}

export type ConnectUrlResult =
  | { readonly ok: true; readonly url: ConnectUrl }
  | { readonly ok: false; readonly problem: string };

const EXAMPLE = "e.g. 'sc://hostname:15002' or 'sc://hostname:15002/;use_ssl=true;token=…'";

/**
 * Parses a Spark Connect URL. `env` supplies SPARK_CONNECT_AUTHENTICATE_TOKEN, which PySpark 4.x
 * uses when the URL has no token.
 */
export function parseConnectUrl(text: string, env: NodeJS.ProcessEnv = {}): ConnectUrlResult {
  const fail = (problem: string): ConnectUrlResult => ({ ok: false, problem });
  if (!text.startsWith('sc://'))
    return fail(`the URL must start with 'sc://' (${EXAMPLE}), not '${text}'`);
  // urlparse drops tabs and newlines anywhere and trailing spaces and control characters.
  const rest = text
    .slice('sc://'.length)
    .replace(/[\t\r\n]/g, '')
    .trimEnd();

  const netlocEnd = firstIndexOf(rest, ['/', '?', '#']);
  const netloc = rest.slice(0, netlocEnd);
  // The query and fragment are split off and, as in PySpark, never used.
  const afterNetloc = rest.slice(netlocEnd);
  const pathAndParams = afterNetloc.slice(0, firstIndexOf(afterNetloc, ['?', '#']));
  const { path, params } = splitParams(pathAndParams);
  if (path !== '' && path !== '/')
    return fail(`the path component '${path}' must be empty (${EXAMPLE})`);

  const hostinfo = netloc.slice(netloc.lastIndexOf('@') + 1);
  if (hostinfo.includes('[') !== hostinfo.includes(']'))
    return fail(`'${netloc}' is not a valid IPv6 address in brackets (${EXAMPLE})`);
  let hostname: string;
  let portText: string;
  const bracket = hostinfo.indexOf('[');
  if (bracket >= 0) {
    const close = hostinfo.indexOf(']', bracket);
    hostname = hostinfo.slice(bracket + 1, close);
    const afterBracket = hostinfo.slice(close + 1);
    const colon = afterBracket.indexOf(':');
    portText = colon < 0 ? '' : afterBracket.slice(colon + 1);
    if (!isIPv6(hostname)) return fail(`'[${hostname}]' is not a valid IPv6 address (${EXAMPLE})`);
  } else {
    const colon = hostinfo.indexOf(':');
    hostname = colon < 0 ? hostinfo : hostinfo.slice(0, colon);
    portText = colon < 0 ? '' : hostinfo.slice(colon + 1);
  }
  if (hostname === '') return fail(`the host name is missing in 'sc://${rest}' (${EXAMPLE})`);
  hostname = hostname.toLowerCase();

  let port = DEFAULT_CONNECT_PORT;
  if (portText !== '') {
    if (!/^[0-9]+$/.test(portText))
      return fail(`the port '${portText}' is not a number (${EXAMPLE})`);
    port = Number(portText);
    if (port > 65535) return fail(`the port ${portText} is out of range 0-65535`);
    // Python accepts 0, but nothing can be reached on it.
    if (port === 0)
      return fail('port 0 cannot be connected to; give the port the server listens on');
  }

  const values = new Map<string, string>();
  if (params !== '') {
    for (const part of params.split(';')) {
      const pair = part.split('=');
      if (pair.length !== 2)
        return fail(
          `the parameter '${part}' must be one key=value pair separated by one '=' ` +
            '(percent-encode an = inside a value as %3D)',
        );
      values.set(pair[0] ?? '', decodeGrpcMessageText(pair[1] ?? ''));
    }
  }

  const sessionId = values.get('session_id');
  if (sessionId !== undefined && !UUID.test(sessionId))
    return fail(`the parameter session_id '${sessionId}' must be a UUID`);
  const metadata: Record<string, string> = {};
  for (const [key, value] of values) {
    if (CHANNEL_PARAMETERS.has(key)) continue;
    if (!METADATA_KEY.test(key))
      return fail(
        `the parameter '${key}' would be sent as gRPC metadata, whose keys are lowercase letters, digits, '-', '_' and '.'`,
      );
    metadata[key] = value;
  }
  const token = values.get('token') ?? nonEmpty(env.SPARK_CONNECT_AUTHENTICATE_TOKEN);
  const useSsl = values.get('use_ssl')?.toLowerCase() === 'true';
  const userId = values.get('user_id');
  const userAgent = values.get('user_agent');
  return {
    ok: true,
    url: {
      host: hostname,
      port,
      tls: useSsl || (token !== undefined && hostname !== 'localhost'),
      ...(token === undefined ? {} : { token }),
      ...(userId === undefined ? {} : { userId }),
      ...(userAgent === undefined ? {} : { userAgent }),
      ...(sessionId === undefined ? {} : { sessionId }),
      metadata,
      endpoint: `${hostname.includes(':') ? `[${hostname}]` : hostname}:${String(port)}`,
    },
  };
}

/** The URL as it may be printed: the token's value hidden. */
export function redactConnectUrl(text: string): string {
  return text.replace(/(;token=)[^;?#]*/gi, '$1***');
}

function firstIndexOf(text: string, needles: readonly string[]): number {
  let first = text.length;
  for (const needle of needles) {
    const at = text.indexOf(needle);
    if (at >= 0 && at < first) first = at;
  }
  return first;
}

/** urlparse's params: after the first ';' of the path's last segment. */
function splitParams(path: string): { path: string; params: string } {
  const at = path.indexOf(';', Math.max(0, path.lastIndexOf('/')));
  return at < 0 ? { path, params: '' } : { path: path.slice(0, at), params: path.slice(at + 1) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
