// Which server each benchmark session landed on, read from the gateway's admin API
// (`GET /api/gateway/sessions`) by session id. Without it the spread is unknown, never guessed:
// a plain TCP balancer or a single server has no such list.

export interface BackendShare {
  readonly backend: string;
  /** Indexes of the run's sessions placed on this backend. */
  readonly sessionIndexes: readonly number[];
}

export type SessionSpread =
  | {
      readonly available: true;
      readonly backends: readonly BackendShare[];
      /** Sessions of the run the gateway did not list (never reached it, or already gone). */
      readonly unlisted: readonly number[];
    }
  | { readonly available: false; readonly reason: string };

export const NO_ADMIN_URL: SessionSpread = {
  available: false,
  reason:
    'the per-backend spread needs --admin-url http://GATEWAY_HOST:ADMIN_PORT (the gateway admin API)',
};

/** Reads the gateway's session list; a failure becomes the reason the spread is unknown. */
export async function fetchSessionSpread(
  adminUrl: string,
  sessionIds: readonly string[],
  timeoutMs: number,
  adminToken?: string,
): Promise<SessionSpread> {
  const url = `${adminUrl.replace(/\/+$/, '')}/api/gateway/sessions`;
  let body: unknown;
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: adminToken === undefined ? {} : { authorization: `Bearer ${adminToken}` },
    });
    if (response.status === 401)
      return unknown(
        `GET ${url} answered HTTP 401: the admin port requires credentials; ${adminToken === undefined ? 'give --admin-token-file FILE with a token it accepts' : 'the token of --admin-token-file is not one it accepts'}`,
      );
    if (!response.ok)
      return unknown(
        `GET ${url} answered HTTP ${String(response.status)}; is --admin-url the gateway's admin port?`,
      );
    body = await response.json();
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    return unknown(
      `GET ${url} failed (${cause instanceof Error ? cause.message : String(cause)}); check --admin-url and that the gateway's admin port is reachable from here`,
    );
  }
  const listed = listedSessions(body);
  if (listed === undefined)
    return unknown(
      `GET ${url} did not return a gateway session list; is --admin-url a sparkplane gateway?`,
    );
  return spreadOf(listed, sessionIds);
}

export function spreadOf(
  listed: ReadonlyMap<string, string>,
  sessionIds: readonly string[],
): SessionSpread {
  const byBackend = new Map<string, number[]>();
  const unlisted: number[] = [];
  sessionIds.forEach((sessionId, index) => {
    const backend = listed.get(sessionId);
    if (backend === undefined) {
      unlisted.push(index);
      return;
    }
    let indexes = byBackend.get(backend);
    if (indexes === undefined) byBackend.set(backend, (indexes = []));
    indexes.push(index);
  });
  const backends = [...byBackend]
    .map(([backend, sessionIndexes]) => ({ backend, sessionIndexes }))
    .sort((a, b) => a.backend.localeCompare(b.backend));
  return { available: true, backends, unlisted };
}

function listedSessions(body: unknown): Map<string, string> | undefined {
  if (typeof body !== 'object' || body === null || !('sessions' in body)) return undefined;
  const { sessions } = body;
  if (!Array.isArray(sessions)) return undefined;
  const listed = new Map<string, string>();
  for (const entry of sessions as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const record = entry as Record<string, unknown>;
    if (typeof record.sessionId === 'string' && typeof record.backend === 'string')
      listed.set(record.sessionId, record.backend);
  }
  return listed;
}

function unknown(reason: string): SessionSpread {
  return { available: false, reason };
}
