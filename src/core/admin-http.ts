// Small helpers every admin API shares: JSON replies and the loopback check that guards changes.
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

/** The path below `prefix`, split and percent-decoded; undefined when the encoding is malformed. */
export function pathParts(request: IncomingMessage, prefix: string): string[] | undefined {
  const url = new URL(request.url ?? '/', 'http://admin');
  try {
    return url.pathname.slice(prefix.length).split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return undefined;
  }
}
