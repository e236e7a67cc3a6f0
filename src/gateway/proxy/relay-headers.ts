// Which headers cross the gateway: hop-by-hop headers stay on their hop, the server gets the
// gateway's own authority and (when configured) the backend token, and the client never sees
// that token in any header or trailer.
import type http2 from 'node:http2';
import type { HeaderField } from '../wire/hpack.ts';
import { maskHeaderValue } from './secret-masker.ts';

/** Request headers that belong to one hop, or that the gateway sets itself. */
export const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

/** The request headers a server gets: the client's, with this hop's and the gateway's own set. */
export function upstreamHeaders(
  headers: http2.IncomingHttpHeaders,
  backendId: string,
  deps: { readonly backendToken: string | undefined; readonly rewriteUserId: boolean },
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || HOP_HEADERS.has(name) || value === undefined) continue;
    out[name] = value;
  }
  out[':method'] = 'POST';
  out[':path'] = headers[':path'];
  out[':scheme'] = 'http';
  out[':authority'] = backendId;
  if (deps.backendToken !== undefined) {
    out.authorization = `Bearer ${deps.backendToken}`;
    // Uncompressed replies, so the token can be kept out of them.
    out['grpc-accept-encoding'] = 'identity';
  } else if (deps.rewriteUserId) {
    // The client's gateway credentials are not the server's business.
    delete out.authorization;
  }
  return out;
}

/**
 * The same as upstreamHeaders, for a header list a pinned connection re-encodes. `authenticated`:
 * the gateway verified the client's credentials, which are not the server's business; with a
 * backend token the server gets that token instead, and is asked for uncompressed replies so the
 * token can be kept out of them.
 */
export function upstreamFields(
  fields: readonly HeaderField[],
  path: string,
  backendId: string,
  deps: { readonly authenticated: boolean; readonly backendToken: string | undefined },
): HeaderField[] {
  const out: HeaderField[] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', backendId],
  ];
  const token = deps.backendToken;
  const dropAuthorization = deps.authenticated || token !== undefined;
  for (const field of fields) {
    const name = field[0];
    if (name.startsWith(':') || HOP_HEADERS.has(name)) continue;
    if (dropAuthorization && name === 'authorization') continue;
    if (token !== undefined && name === 'grpc-accept-encoding') continue;
    out.push(field);
  }
  if (token !== undefined)
    out.push(['authorization', `Bearer ${token}`], ['grpc-accept-encoding', 'identity']);
  return out;
}

/** The response headers or trailers a client gets, with the backend token masked. */
export function clientHeaders(
  headers: http2.IncomingHttpHeaders,
  backendToken: string | undefined,
  trailers = false,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_HEADERS.has(name)) continue;
    if (name.startsWith(':') && (trailers || name !== ':status')) continue;
    // Values are strings, but for :status, which is a number.
    out[name] =
      backendToken === undefined || typeof value === 'number'
        ? value
        : Array.isArray(value)
          ? value.map((item) => maskHeaderValue(name, item, backendToken))
          : maskHeaderValue(name, value, backendToken);
  }
  return out;
}
