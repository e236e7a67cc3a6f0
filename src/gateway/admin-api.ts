// The gateway's admin API on the admin port: backends with health and session counts, sessions,
// and the changes an operator makes without a restart — drain/undrain, add, remove. Changes are
// accepted from this machine (loopback), or from anywhere for a principal the admin port
// authenticated (--admin-auth-file).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CHANGE_REFUSED, mayChange, pathParts, sendJson } from '../core/admin-http.ts';
import type { AdminHandler } from '../core/admin-server.ts';
import { parseHostPort } from '../core/config/fields.ts';
import type { Backend } from './backends/backend-pool.ts';
import type { Gateway } from './gateway-server.ts';

export const GATEWAY_API_PREFIX = '/api/gateway/';

export function describeBackend(backend: Backend, sessions: number): Record<string, unknown> {
  return {
    id: backend.id,
    health: backend.health,
    draining: backend.draining,
    /** Draining and no session left: safe to stop. */
    drained: backend.draining && sessions === 0,
    sessions,
    maxSessions: backend.maxSessions ?? null,
    appId: backend.appId ?? null,
    lastCheck: backend.lastCheck ?? null,
    downSince: backend.downSince === undefined ? null : new Date(backend.downSince).toISOString(),
    downReason: backend.downReason ?? null,
  };
}

export function gatewayAdminRoutes(gateway: Gateway): Record<string, AdminHandler> {
  const backends = (): Record<string, unknown>[] => {
    const counts = gateway.sessions.sessionsPerBackend();
    return gateway.pool
      .list()
      .map((backend) => describeBackend(backend, counts.get(backend.id) ?? 0));
  };
  return {
    [GATEWAY_API_PREFIX]: async (request, response) => {
      const parts = pathParts(request, GATEWAY_API_PREFIX);
      if (parts === undefined) {
        sendJson(response, 400, { error: 'malformed percent-encoding in the path' });
        return;
      }
      const [collection, id, action] = parts;
      if (request.method === 'GET' && collection === 'backends' && parts.length === 1) {
        sendJson(response, 200, { backends: backends() });
        return;
      }
      if (request.method === 'GET' && collection === 'managed' && parts.length === 1) {
        sendJson(response, 200, {
          enabled: gateway.managed !== undefined,
          servers: (gateway.managed?.list() ?? []).map((server) => ({
            ...server,
            key: server.key ?? null,
            startedAt: new Date(server.startedAt).toISOString(),
          })),
        });
        return;
      }
      if (request.method === 'GET' && collection === 'sessions' && parts.length === 1) {
        const now = Date.now();
        sendJson(response, 200, {
          sessions: gateway.sessions.list().map((session) => ({
            sessionId: session.sessionId,
            userId: session.userId,
            principal: session.principal,
            backend: session.backend,
            client: session.clientAddress,
            serverSideSessionId: session.serverSideSessionId ?? null,
            createdAt: new Date(session.createdAt).toISOString(),
            lastSeenAt: new Date(session.lastSeenAt).toISOString(),
            ageSeconds: Math.round((now - session.createdAt) / 1000),
          })),
        });
        return;
      }
      if (
        request.method === 'POST' &&
        collection === 'backends' &&
        id !== undefined &&
        parts.length === 3
      ) {
        await change(request, response, gateway, id, action ?? '');
        return;
      }
      sendJson(response, 404, {
        error: `no admin route ${request.method ?? ''} ${request.url ?? ''}; try GET ${GATEWAY_API_PREFIX}backends, GET ${GATEWAY_API_PREFIX}sessions, GET ${GATEWAY_API_PREFIX}managed, POST ${GATEWAY_API_PREFIX}backends/HOST:PORT/{drain,undrain,add,remove}`,
      });
    },
  };
}

async function change(
  request: IncomingMessage,
  response: ServerResponse,
  gateway: Gateway,
  id: string,
  action: string,
): Promise<void> {
  if (!mayChange(request)) {
    sendJson(response, 403, { error: CHANGE_REFUSED });
    return;
  }
  const counts = (): number => gateway.sessions.sessionsPerBackend().get(id) ?? 0;
  switch (action) {
    case 'drain':
    case 'undrain': {
      const backend = gateway.pool.get(id);
      if (backend === undefined || !gateway.pool.setDraining(id, action === 'drain')) {
        sendJson(response, 404, {
          error: `no backend ${id}; GET ${GATEWAY_API_PREFIX}backends lists them`,
        });
        return;
      }
      sendJson(response, 200, describeBackend(backend, counts()));
      return;
    }
    case 'add': {
      const spec = parseHostPort(id);
      if (spec === undefined) {
        sendJson(response, 400, { error: `"${id}" is not HOST:PORT` });
        return;
      }
      gateway.addBackend(spec);
      await gateway.pool.checkAll();
      const backend = gateway.pool
        .list()
        .find((candidate) => candidate.host === spec.host && candidate.port === spec.port);
      sendJson(response, 200, backend === undefined ? {} : describeBackend(backend, counts()));
      return;
    }
    case 'remove':
      if (!(await gateway.pool.remove(id))) {
        sendJson(response, 404, {
          error: `no backend ${id}; GET ${GATEWAY_API_PREFIX}backends lists them`,
        });
        return;
      }
      sendJson(response, 200, { removed: id, strandedSessions: counts() });
      return;
    default:
      sendJson(response, 404, {
        error: `unknown action "${action}": use drain, undrain, add or remove`,
      });
  }
}
