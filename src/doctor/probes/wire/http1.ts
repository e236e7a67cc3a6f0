// HTTP/1 as the probes see it: the request they send to web ports, and a reader for a response
// head in raw bytes, whatever port it came from, so "port 7337 answers HTTP, server: envoy" can be
// said. Envoy's marks (server header, x-envoy-* headers, its local-reply bodies) are named here.

/** A response head is never read past this many bytes. */
export const MAX_HEAD_BYTES = 16 * 1024;

export interface Http1Head {
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly version: string;
  readonly status: number;
  readonly statusText: string;
  /** Header names in lower case; a repeated header keeps its first value. */
  readonly headers: ReadonlyMap<string, string>;
  /** Where the body starts in the bytes read. */
  readonly bodyOffset: number;
}

export type Http1Read =
  | { readonly kind: 'not-http' }
  /** Starts like an HTTP/1 response; the head is not complete yet. */
  | { readonly kind: 'partial'; readonly statusLine?: string }
  | { readonly kind: 'head'; readonly head: Http1Head };

const HTTP1_PREFIX = 'HTTP/1.';
const STATUS_LINE = /^(HTTP\/1\.[01]) (\d{3})(?: ([^\r\n]*))?$/;

export function readHttp1Head(bytes: Buffer): Http1Read {
  const seen = Math.min(bytes.length, HTTP1_PREFIX.length);
  if (bytes.subarray(0, seen).toString('latin1') !== HTTP1_PREFIX.slice(0, seen))
    return { kind: 'not-http' };
  if (bytes.length > seen && bytes[seen] !== 0x30 && bytes[seen] !== 0x31)
    return { kind: 'not-http' };
  const window = bytes.subarray(0, MAX_HEAD_BYTES).toString('latin1');
  const firstLineEnd = window.indexOf('\r\n');
  const statusLine = firstLineEnd < 0 ? undefined : window.slice(0, firstLineEnd);
  const match = statusLine === undefined ? null : STATUS_LINE.exec(statusLine);
  if (statusLine !== undefined && match === null) return { kind: 'not-http' };
  const headEnd = window.indexOf('\r\n\r\n');
  if (headEnd < 0 || match === null)
    return statusLine === undefined ? { kind: 'partial' } : { kind: 'partial', statusLine };
  const headers = new Map<string, string>();
  for (const line of window.slice(firstLineEnd + 2, headEnd).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return {
    kind: 'head',
    head: {
      version: match[1] ?? 'HTTP/1.1',
      status: Number(match[2]),
      statusText: match[3] ?? '',
      headers,
      bodyOffset: headEnd + 4,
    },
  };
}

/** Body bytes worth waiting for after the head: enough to read a proxy's error text. */
export function wantedBodyBytes(head: Http1Head): number {
  if (head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200))
    return 0;
  const length = Number(head.headers.get('content-length') ?? '0');
  return Number.isFinite(length) && length > 0 ? Math.min(length, 1024) : 0;
}

/** A plain GET that asks the server to close when done. */
export function encodeHttp1Get(authority: string, path = '/'): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: sparkplane-doctor\r\n` +
      'Accept: */*\r\nConnection: close\r\n\r\n',
    'latin1',
  );
}

const ENVOY_BODIES = [
  'upstream connect error',
  'no healthy upstream',
  'RBAC: access denied',
  'upstream request timeout',
];

/** What marks the answer as Envoy's (an Istio sidecar or gateway), empty when nothing does. */
export function envoyMarks(head: Http1Head, body: string): string[] {
  const marks: string[] = [];
  if (/\benvoy\b/i.test(head.headers.get('server') ?? '')) marks.push('server: envoy');
  for (const name of head.headers.keys()) if (name.startsWith('x-envoy-')) marks.push(name);
  for (const text of ENVOY_BODIES) if (body.includes(text)) marks.push(`body: ${text}`);
  return marks;
}

/** `HTTP/1.1 400 Bad Request, server: envoy` — the head in a few words. */
export function describeHttp1Head(head: Http1Head): string {
  const server = head.headers.get('server');
  const status = `${head.version} ${String(head.status)}${head.statusText === '' ? '' : ` ${head.statusText}`}`;
  return server === undefined ? status : `${status}, server: ${server}`;
}
