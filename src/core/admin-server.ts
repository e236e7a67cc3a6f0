// The admin HTTP server every sparkplane service exposes: Prometheus metrics, a health probe and,
// as components arrive, their admin API and dashboard pages. With an authenticator every route
// but /healthz needs credentials; state-changing requests from another site's page are refused
// whatever the credentials, and each change is published with the principal that made it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_CHALLENGE, adminChannels, type AdminAuthenticator } from './admin-auth.ts';
import { crossSiteProblem, requestPrincipal, sendJson, setRequestPrincipal } from './admin-http.ts';
import { channels } from './diagnostics.ts';
import { closeHttpServer } from './http-close.ts';
import { boundAddress, listenOn } from './listen.ts';
import type { Closeable } from './lifecycle.ts';
import type { Metrics } from './metrics.ts';

export type AdminHandler = (
  request: IncomingMessage,
  response: ServerResponse,
) => void | Promise<void>;

export interface AdminServerOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: Metrics;
  /** Extra routes by exact path (`/api/backends`), or by prefix when the key ends in `/` (`/api/shuffle/`). */
  readonly routes?: Readonly<Record<string, AdminHandler>>;
  /** When set, every route but /healthz requires credentials (`--admin-auth-file`). */
  readonly auth?: AdminAuthenticator | undefined;
}

export interface AdminServer extends Closeable {
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
}

const SERVICE = 'admin';
const OPEN_ROUTES = new Set(['/healthz']);
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createAdminServer(options: AdminServerOptions): AdminServer {
  const routes: Record<string, AdminHandler> = {
    '/metrics': async (_request, response) => {
      const body = await options.metrics.render();
      response.writeHead(200, { 'content-type': options.metrics.contentType });
      response.end(body);
    },
    '/healthz': (_request, response) => {
      sendJson(response, 200, { status: 'ok' });
    },
    ...options.routes,
  };

  const server = createServer((request, response) => {
    const started = performance.now();
    const path = new URL(request.url ?? '/', 'http://admin').pathname;
    const prefix = Object.keys(routes)
      .filter((key) => key.endsWith('/') && path.startsWith(key))
      .sort((a, b) => b.length - a.length)[0];
    const route = routes[path] === undefined ? (prefix ?? 'unknown') : path;
    const handler = routes[route];
    const method = request.method ?? 'GET';
    response.on('finish', () => {
      channels.adminRequest.publish({
        method,
        route,
        status: response.statusCode,
        durationMs: performance.now() - started,
      });
      // Refused and failed attempts are logged too: an audit trail of who tried what.
      if (!READ_METHODS.has(method) && response.statusCode !== 401)
        adminChannels.change.publish({
          method,
          path,
          status: response.statusCode,
          principal: requestPrincipal(request),
          remote: request.socket.remoteAddress ?? '?',
        });
    });
    if (options.auth !== undefined && !OPEN_ROUTES.has(path)) {
      const checked = options.auth.check(request.headers);
      if (!checked.ok) {
        adminChannels.refused.publish({
          path,
          remote: request.socket.remoteAddress ?? '?',
          why: checked.why,
        });
        sendUnauthorized(request, response, checked.why);
        return;
      }
      setRequestPrincipal(request, checked.principal);
    }
    if (!READ_METHODS.has(method)) {
      const problem = crossSiteProblem(request);
      if (problem !== undefined) {
        sendJson(response, 403, { error: problem });
        return;
      }
    }
    if (handler === undefined) {
      sendJson(response, 404, {
        error: `no admin route ${path}; routes: ${Object.keys(routes).join(', ')}`,
      });
      return;
    }
    Promise.resolve(handler(request, response)).catch((error: unknown) => {
      if (!response.headersSent) sendJson(response, 500, { error: String(error) });
      else response.destroy();
    });
  });

  const address = (): AddressInfo | undefined => boundAddress(server);

  return {
    name: SERVICE,
    address,
    listen: () => listenOn(server, SERVICE, 'admin server', options.host, options.port),
    close: (deadlineMs) => closeHttpServer(server, deadlineMs),
  };
}

/** A 401 that makes browsers ask for a login and tells people and scripts what to send. */
function sendUnauthorized(request: IncomingMessage, response: ServerResponse, why: string): void {
  const message = `sparkplane admin: ${why}`;
  const headers = { 'www-authenticate': ADMIN_CHALLENGE, 'cache-control': 'no-store' };
  if (!(request.headers.accept ?? '').includes('text/html')) {
    response.writeHead(401, { ...headers, 'content-type': 'application/json' });
    response.end(`${JSON.stringify({ error: message })}\n`);
    return;
  }
  response.writeHead(401, {
    ...headers,
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'",
  });
  response.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>401 · sparkplane admin</title></head><body><h1>Login required</h1><p>${escapeText(message)}</p><p>Reload the page to log in again.</p></body></html>\n`,
  );
}

function escapeText(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${String(char.charCodeAt(0))};`);
}
