// Placement of new sessions on backends. Only backends that are healthy, not draining and below
// their session cap take new sessions; among them least-sessions picks the emptiest (ties go
// round the ring so equal backends fill evenly) and round-robin takes turns.
import { GatewayError } from '../errors.ts';

export type PlacementPolicy = 'least-sessions' | 'round-robin';

export interface PlacementCandidate {
  readonly id: string;
  readonly healthy: boolean;
  readonly draining: boolean;
  /** Sessions this backend takes at most; undefined for no cap. */
  readonly maxSessions: number | undefined;
}

export interface Placement {
  /** Picks a backend for a new session or throws GW_NO_BACKEND / GW_BACKENDS_FULL. */
  choose(
    candidates: readonly PlacementCandidate[],
    sessions: ReadonlyMap<string, number>,
  ): PlacementCandidate;
}

export function createPlacement(policy: PlacementPolicy): Placement {
  let turn = 0;
  return {
    choose(candidates, sessions) {
      const healthy = candidates.filter((candidate) => candidate.healthy);
      const open = healthy.filter((candidate) => !candidate.draining);
      const withRoom = open.filter(
        (candidate) =>
          candidate.maxSessions === undefined ||
          (sessions.get(candidate.id) ?? 0) < candidate.maxSessions,
      );
      if (withRoom.length === 0) throw noRoom(candidates, healthy, open, sessions);
      const start = turn++ % withRoom.length;
      const ring = [...withRoom.slice(start), ...withRoom.slice(0, start)];
      let best = withRoom[start] ?? withRoom[0];
      if (best === undefined) throw noRoom(candidates, healthy, open, sessions);
      if (policy === 'round-robin') return best;
      for (const candidate of ring)
        if ((sessions.get(candidate.id) ?? 0) < (sessions.get(best.id) ?? 0)) best = candidate;
      return best;
    },
  };
}

function noRoom(
  all: readonly PlacementCandidate[],
  healthy: readonly PlacementCandidate[],
  open: readonly PlacementCandidate[],
  sessions: ReadonlyMap<string, number>,
): GatewayError {
  if (all.length === 0)
    return new GatewayError(
      'GW_NO_BACKEND',
      'the sparkplane gateway has no Spark Connect servers configured; add one with --backend HOST:PORT or the admin API',
    );
  if (healthy.length === 0)
    return new GatewayError(
      'GW_NO_BACKEND',
      `no Spark Connect server behind the sparkplane gateway is healthy (${all.map((b) => b.id).join(', ')}); retry shortly, and check the servers and the gateway's health checks`,
    );
  if (open.length === 0)
    return new GatewayError(
      'GW_NO_BACKEND',
      `every healthy Spark Connect server behind the sparkplane gateway is draining (${healthy.map((b) => b.id).join(', ')}); no new sessions are placed until one is undrained or added`,
    );
  const caps = open.map(
    (b) => `${b.id} ${String(sessions.get(b.id) ?? 0)}/${String(b.maxSessions)}`,
  );
  return new GatewayError(
    'GW_BACKENDS_FULL',
    `every Spark Connect server behind the sparkplane gateway has reached its session cap (${caps.join(', ')}); retry after sessions end, or raise the cap or add a server`,
  );
}
