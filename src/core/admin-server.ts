// The admin HTTP server every sparkplane service exposes: Prometheus metrics, a health probe and,
// as components arrive, their admin API and dashboard pages.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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
}

export interface AdminServer extends Closeable {
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | undefined;
}

const SERVICE = 'admin';

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
    response.on('finish', () => {
      channels.adminRequest.publish({
        method: request.method ?? 'GET',
        route,
        status: response.statusCode,
        durationMs: performance.now() - started,
      });
    });
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

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body)}\n`);
}
