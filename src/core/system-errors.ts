// The one place where Node's system error codes (ECONNREFUSED, EADDRINUSE, ...) become words a
// person can act on. Components wrap the result in their own error classes.
import { SparkplaneError } from './errors.ts';

export interface SystemErrorInfo {
  /** The errno-style code, e.g. `ECONNREFUSED`, or `EUNKNOWN` when the error carries none. */
  readonly code: string;
  /** What happened, in plain words. */
  readonly summary: string;
  /** What usually fixes it. */
  readonly hint: string;
}

const KNOWN: Readonly<Record<string, Omit<SystemErrorInfo, 'code'>>> = {
  ECONNREFUSED: {
    summary: 'connection refused: nothing listens on that port',
    hint: 'check that the service runs and listens on that address and port',
  },
  ECONNRESET: {
    summary: 'connection reset by the peer',
    hint: 'the peer or something in the path closed the connection; check its logs and any proxy in between',
  },
  ETIMEDOUT: {
    summary: 'timed out: no answer from the peer',
    hint: 'a firewall or security group may be dropping the traffic; check the path to the peer',
  },
  EHOSTUNREACH: {
    summary: 'host unreachable',
    hint: 'check the route to the host and any firewall that answers with ICMP unreachable',
  },
  ENETUNREACH: {
    summary: 'network unreachable: no route to that network',
    hint: 'add a route to the destination network',
  },
  ENOTFOUND: {
    summary: 'the host name does not resolve',
    hint: 'check the spelling and the DNS configuration',
  },
  EAI_AGAIN: {
    summary: 'DNS lookup failed temporarily',
    hint: 'check that a DNS server is reachable, then retry',
  },
  EADDRINUSE: {
    summary: 'address already in use',
    hint: 'another process listens on that port; stop it or choose another port',
  },
  EADDRNOTAVAIL: {
    summary: 'address not available on this machine',
    hint: 'bind to an address this machine has, or to 0.0.0.0',
  },
  EACCES: {
    summary: 'permission denied',
    hint: 'check file permissions, or use a port above 1023 when not privileged',
  },
  EPERM: { summary: 'operation not permitted', hint: 'check permissions and security policy' },
  ENOENT: { summary: 'no such file or directory', hint: 'check the path' },
  EPIPE: {
    summary: 'broken pipe: the peer closed the connection while data was sent',
    hint: 'check the peer logs for why it closed',
  },
};

export function describeSystemError(error: unknown): SystemErrorInfo {
  const code = systemErrorCode(error);
  const known = KNOWN[code];
  if (known !== undefined) return { code, ...known };
  const message = error instanceof Error ? error.message : String(error);
  return { code, summary: message, hint: 'see the cause for details' };
}

/** The error for a server that cannot listen: names the service, the address and the fix. */
export function listenError(
  service: string,
  host: string,
  port: number,
  error: unknown,
): SparkplaneError {
  const info = describeSystemError(error);
  return new SparkplaneError(
    'LISTEN_FAILED',
    `${service} cannot listen on ${host}:${port}: ${info.summary} (${info.code}); ${info.hint}`,
    { cause: error },
  );
}

export function systemErrorCode(error: unknown): string {
  if (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'string'
  ) {
    return error.code;
  }
  return 'EUNKNOWN';
}
