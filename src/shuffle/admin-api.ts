// The shuffle service's admin API on the metrics port: list registrations, and the control plane
// Spark's own service gets from its Worker or NodeManager ("application removed", "executor
// removed"). Changes delete state, so they are accepted only from this machine (loopback), or
// from a principal the admin port authenticated (--admin-auth-file).
import { CHANGE_REFUSED, mayChange, sendJson as send } from '../core/admin-http.ts';
import type { AdminHandler } from '../core/admin-server.ts';
import { shuffleChannels } from './observability.ts';
import type { ShuffleServer } from './server/shuffle-server.ts';

export interface ShuffleAdminOptions {
  /** Whether "application removed" may delete the app's local dirs (asked per request with ?cleanup=true). */
  readonly cleanupLocalDirs: boolean;
}

export const SHUFFLE_API_PREFIX = '/api/shuffle/';

export function shuffleAdminRoutes(
  server: ShuffleServer,
  options: ShuffleAdminOptions,
): Record<string, AdminHandler> {
  return {
    [SHUFFLE_API_PREFIX]: async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://admin');
      let parts: string[];
      try {
        parts = url.pathname
          .slice(SHUFFLE_API_PREFIX.length)
          .split('/')
          .filter(Boolean)
          .map(decodeURIComponent);
      } catch {
        send(response, 400, { error: `malformed percent-encoding in ${url.pathname}` });
        return;
      }
      const [apps, appId, third, execId, fifth] = parts;
      const route =
        apps === 'apps' && parts.length === 1
          ? 'list'
          : apps === 'apps' && appId !== undefined && third === 'remove' && parts.length === 3
            ? 'remove-app'
            : apps === 'apps' &&
                appId !== undefined &&
                third === 'executors' &&
                execId !== undefined &&
                fifth === 'remove' &&
                parts.length === 5
              ? 'remove-executor'
              : undefined;
      if (route === undefined) {
        send(response, 404, {
          error: `unknown shuffle admin path ${url.pathname}; use GET ${SHUFFLE_API_PREFIX}apps, POST ${SHUFFLE_API_PREFIX}apps/APP/remove[?cleanup=true] or POST ${SHUFFLE_API_PREFIX}apps/APP/executors/EXEC/remove`,
        });
        return;
      }
      const method = route === 'list' ? 'GET' : 'POST';
      if (request.method !== method) {
        send(response, 405, { error: `use ${method} ${url.pathname}` });
        return;
      }
      if (route === 'list') {
        send(response, 200, {
          apps: server.registry.applications().map((app) => ({
            appId: app,
            executors: server.registry.executorsOf(app).map((entry) => ({
              execId: entry.execId,
              localDirs: entry.info.localDirs,
              registeredAt: new Date(entry.registeredAt).toISOString(),
            })),
          })),
        });
        return;
      }
      if (!mayChange(request)) {
        send(response, 403, { error: CHANGE_REFUSED });
        return;
      }
      if (appId === undefined) return;
      if (route === 'remove-app') {
        const cleanup = url.searchParams.get('cleanup') === 'true';
        if (cleanup && !options.cleanupLocalDirs) {
          send(response, 400, {
            error:
              'deleting local dirs is off; start the service with --cleanup-local-dirs to allow it',
          });
          return;
        }
        const removed = server.registry.removeApplication(appId);
        for (const entry of removed) server.resolver.forget(entry.info);
        if (cleanup)
          await Promise.all(removed.map((entry) => server.resolver.removeLocalDirs(entry.info)));
        shuffleChannels.applicationRemoved.publish({ appId, executors: removed.length, cleanup });
        send(response, 200, { appId, removedExecutors: removed.length, localDirsDeleted: cleanup });
        return;
      }
      const info = execId === undefined ? undefined : server.registry.get(appId, execId);
      if (info === undefined || execId === undefined) {
        send(response, 404, {
          error: `Executor is not registered (appId=${appId}, execId=${String(execId)})`,
        });
        return;
      }
      const cleanup = await server.resolver.cleanupExecutorFiles(info);
      send(response, 200, {
        appId,
        execId,
        deletedFiles: cleanup.removed,
        failures: cleanup.failures.map((failure) => `${failure.path}: ${failure.error.message}`),
      });
    },
  };
}
