// Decides which backend a request goes to. A known session goes to the server it was placed on,
// strictly: if that server is down, removed or has restarted (another driver now answers on its
// port), the request fails with UNAVAILABLE saying the session is gone — it is never sent to
// another server, where it would silently find an empty session. A new session is placed.
import type { Backend, BackendPool } from '../backends/backend-pool.ts';
import { GatewayError } from '../errors.ts';
import { gatewayChannels } from '../observability-channels.ts';
import { keyOf, sessionKey, type SessionBinding } from './affinity-store.ts';
import type { Placement } from './placement.ts';
import type { SessionTable } from './session-table.ts';

export interface RouteRequest {
  readonly method: string;
  /** Whether this RPC creates its session on the server when it is new. */
  readonly createsSession: boolean;
  readonly principal: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly operationId: string | undefined;
  readonly client: string;
}

export type Route =
  | {
      readonly kind: 'backend';
      readonly backend: Backend;
      readonly binding: SessionBinding | undefined;
      readonly placed: boolean;
    }
  /** ReleaseSession for a session the gateway does not know: nothing to release anywhere. */
  | { readonly kind: 'unknown-session-release' };

export interface Router {
  route(request: RouteRequest): Promise<Route>;
  /**
   * The route of a session the gateway holds, on a server that is up and unchanged, without
   * waiting; undefined when `route` has more to find out (or an error to give).
   */
  routeKnown(request: RouteRequest): Route | undefined;
  /** Drops a binding the gateway just made when its first request never reached the server. */
  unplace(binding: SessionBinding): Promise<void>;
}

/** Places a new session when the gateway runs its own servers (launching one if needed). */
export type SessionPlacer = (request: RouteRequest) => Promise<Backend>;

export function createRouter(deps: {
  readonly sessions: SessionTable;
  readonly pool: BackendPool;
  readonly placement: Placement;
  readonly placer?: SessionPlacer | undefined;
}): Router {
  const { sessions, pool, placement } = deps;

  const existing = async (binding: SessionBinding): Promise<Backend> => {
    let backend: Backend;
    try {
      backend = await pool.ready(binding.backend);
    } catch (error) {
      throw gone(binding, error instanceof Error ? error.message : String(error));
    }
    if (backend.incarnation !== binding.incarnation)
      throw gone(
        binding,
        `the Spark Connect server ${binding.backend} restarted (it now runs ${backend.appId ?? 'another application'})`,
      );
    return backend;
  };

  const choose = (): Backend => {
    const choice = placement.choose(pool.candidates(), sessions.placementLoad());
    const backend = pool.get(choice.id);
    if (backend === undefined)
      throw new GatewayError(
        'GW_NO_BACKEND',
        `backend ${choice.id} disappeared while a session was placed`,
      );
    return backend;
  };

  return {
    routeKnown(request) {
      const key = sessionKey(request.principal, request.userId, request.sessionId);
      const binding = sessions.find(key);
      if (binding === undefined) return undefined;
      const backend = pool.readyNow(binding.backend);
      if (backend?.incarnation !== binding.incarnation) return undefined;
      sessions.seen(key);
      return { kind: 'backend', backend, binding, placed: false };
    },
    async route(request) {
      const key = sessionKey(request.principal, request.userId, request.sessionId);
      let binding = await sessions.lookup(key);
      if (binding === undefined && request.operationId !== undefined) {
        const owner = await sessions.lookupByOperation(request.operationId);
        if (owner?.principal === request.principal && owner.sessionId === request.sessionId)
          binding = owner;
      }
      if (binding !== undefined) {
        sessions.seen(keyOf(binding));
        return { kind: 'backend', backend: await existing(binding), binding, placed: false };
      }
      if (request.method === 'ReleaseSession') return { kind: 'unknown-session-release' };
      const backend = deps.placer === undefined ? choose() : await deps.placer(request);
      if (!request.createsSession)
        // The server answers SESSION_NOT_FOUND itself; nothing to remember.
        return { kind: 'backend', backend, binding: undefined, placed: false };
      const now = Date.now();
      const { binding: held, created } = await sessions.bind({
        principal: request.principal,
        userId: request.userId,
        sessionId: request.sessionId,
        backend: backend.id,
        incarnation: backend.incarnation ?? '',
        createdAt: now,
        lastSeenAt: now,
        serverSideSessionId: undefined,
        clientAddress: request.client,
      });
      if (!created)
        // Another request of the same new session was placed first.
        return { kind: 'backend', backend: await existing(held), binding: held, placed: false };
      gatewayChannels.sessionPlaced.publish({
        backend: backend.id,
        userId: request.userId,
        sessionId: request.sessionId,
        principal: request.principal,
        client: request.client,
      });
      return { kind: 'backend', backend, binding: held, placed: true };
    },
    async unplace(binding) {
      await sessions.release(keyOf(binding));
    },
  };
}

function gone(binding: SessionBinding, why: string): GatewayError {
  return new GatewayError(
    'GW_BACKEND_GONE',
    `Spark Connect session ${binding.sessionId} is gone: ${why}. The gateway never moves a session to another server, where its temp views, cached data and confs would be missing; create a new Spark session (in PySpark: spark.stop(), then SparkSession.builder.remote(...).getOrCreate()).`,
  );
}
