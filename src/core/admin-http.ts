// Small helpers every admin API shares: JSON replies, who made a request, and the rule that
// guards changes (loopback, or an authenticated principal when the admin port has credentials).
import type { IncomingMessage, ServerResponse } from 'node:http';

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}

/** Whether the request came from this machine. */
export function fromLoopback(request: IncomingMessage): boolean {
  const address = request.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

// Set by the admin server once credentials passed, so handlers keep their (request, response) shape.
const principals = new WeakMap<IncomingMessage, string>();

export function setRequestPrincipal(request: IncomingMessage, principal: string): void {
  principals.set(request, principal);
}

/** The principal the admin server authenticated for this request; undefined when auth is off. */
export function requestPrincipal(request: IncomingMessage): string | undefined {
  return principals.get(request);
}

/** Whether the request may change state: an authenticated principal, or else one from loopback. */
export function mayChange(request: IncomingMessage): boolean {
  return requestPrincipal(request) !== undefined || fromLoopback(request);
}

export const CHANGE_REFUSED =
  'changes are accepted from this machine only (loopback); to allow them from elsewhere, start the service with --admin-auth-file and send credentials';

/**
 * Why a state-changing request looks like it came from another site's page (a browser sends
 * remembered Basic credentials along with it), or undefined when it does not.
 */
export function crossSiteProblem(request: IncomingMessage): string | undefined {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site')
    return `a ${site} request may not change anything here; use the dashboard on this port or a non-browser client`;
  // Browsers set Sec-Fetch-Site themselves (a page cannot); it stays right behind a proxy that
  // rewrites Host, where comparing Origin with Host would refuse the dashboard's own forms.
  if (site === 'same-origin' || site === 'none') return undefined;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  if (origin === 'null')
    return 'the request comes from an opaque origin (a sandboxed page or a redirect); use the dashboard on this port';
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `the Origin header "${origin}" is not a URL`;
  }
  if (host !== request.headers.host)
    return `the request comes from ${origin}, not from this admin port; use the dashboard on this port`;
  return undefined;
}

/** The path below `prefix`, split and percent-decoded; undefined when the encoding is malformed. */
export function pathParts(request: IncomingMessage, prefix: string): string[] | undefined {
  const url = new URL(request.url ?? '/', 'http://admin');
  try {
    return url.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
