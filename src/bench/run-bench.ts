// A Spark Connect stress run: N sessions, each a user with a connection of its own, started over
// the ramp-up, each running its mix's setup and then queries one after another until its query
// count or the run's duration is reached. In-flight queries finish (each bounded by the query
// timeout) after the duration ends; then the spread is read, and every session is released.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchQueryFinished, benchSession } from './bench-channels.ts';
import { createBenchStats, type BenchStats, type QueryOutcome } from './bench-stats.ts';
import {
  NO_OUTCOME,
  openConnection,
  type ConnectConnection,
  type ConnectEndpoint,
  type ExecuteOutcome,
} from './connect-client.ts';
import { encodeSqlExecutePlanRequest } from './connect-plans.ts';
import { mixCycle, queryAt, type QueryKind, type QueryMix } from './query-mix.ts';
import { judgeQuery } from './query-verdict.ts';
import { releaseSessions, type ReleaseSummary } from './release-sessions.ts';
import { NO_ADMIN_URL, type SessionSpread } from './session-spread.ts';

/** The wait after a session's first failed query in a row; it doubles up to the maximum. */
export const BACKOFF_FIRST_MS = 50;
export const BACKOFF_MAX_MS = 1000;

export interface BenchOptions {
  readonly endpoint: ConnectEndpoint;
  readonly sessions: number;
  /** Queries per session after its setup; unbounded when undefined (then durationMs bounds). */
  readonly queriesPerSession?: number;
  /** Wall time from the start after which no query starts; unbounded when undefined. */
  readonly durationMs?: number;
  readonly rampUpMs: number;
  readonly queryTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly mix: QueryMix;
  readonly userId: string;
  readonly clientType: string;
  /** Session ids to use (a URL's session_id); fresh UUIDs otherwise. */
  readonly sessionIds?: readonly string[];
  /** Reads the per-backend spread while the sessions still exist. */
  readonly spread?: (sessionIds: readonly string[]) => Promise<SessionSpread>;
  readonly onProgress?: (progress: BenchProgress) => void;
  readonly progressIntervalMs?: number;
  /** Stops starting queries (Ctrl-C); in-flight ones finish. */
  readonly signal?: AbortSignal;
}

export interface BenchProgress {
  readonly elapsedMs: number;
  readonly durationMs?: number;
  readonly sessionsStarted: number;
  readonly sessions: number;
  readonly queries: number;
  readonly failed: number;
  readonly plannedQueries?: number;
  readonly recentMedianMs: number;
}

export interface SessionRecord {
  readonly index: number;
  readonly sessionId: string;
  queries: number;
  failed: number;
  readonly latencies: number[];
  started: boolean;
  /** The server's id of this session (Spark 4.0+), from its first answer. */
  serverSideSessionId?: string;
}

export interface BenchResult {
  readonly startedAt: Date;
  readonly elapsedMs: number;
  readonly endedBy: 'queries' | 'duration' | 'interrupted';
  readonly options: BenchOptions;
  readonly stats: BenchStats;
  readonly sessions: readonly SessionRecord[];
  readonly spread: SessionSpread;
  readonly releases: ReleaseSummary;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const began = performance.now();
  const stats = createBenchStats();
  const cycle = mixCycle(options.mix);
  const deadline = options.durationMs === undefined ? Infinity : began + options.durationMs;
  const stopped = (): boolean => performance.now() >= deadline || options.signal?.aborted === true;
  const sessions: SessionRecord[] = Array.from({ length: options.sessions }, (_, index) => ({
    index,
    sessionId: options.sessionIds?.[index] ?? randomUUID(),
    queries: 0,
    failed: 0,
    latencies: [],
    started: false,
  }));
  const connections: (ConnectConnection | undefined)[] = sessions.map(() => undefined);

  const progress = (): BenchProgress => ({
    elapsedMs: performance.now() - began,
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    sessionsStarted: sessions.filter((session) => session.started).length,
    sessions: options.sessions,
    queries: stats.queries,
    failed: stats.failed,
    ...(options.queriesPerSession === undefined
      ? {}
      : {
          plannedQueries: options.sessions * (options.queriesPerSession + options.mix.setup.length),
        }),
    recentMedianMs: stats.recentMedianMs(),
  });
  const ticker =
    options.onProgress === undefined
      ? undefined
      : setInterval(() => options.onProgress?.(progress()), options.progressIntervalMs ?? 500);

  /** Runs one query and counts it; true when it succeeded. */
  const runQuery = async (session: SessionRecord, kind: QueryKind): Promise<boolean> => {
    let connection = connections[session.index];
    const context = { sessionIndex: session.index };
    const operationId = randomUUID();
    const begin = performance.now();
    let outcome: ExecuteOutcome;
    try {
      if (!connection?.usable) {
        connection?.close();
        connection = await openConnection(options.endpoint, options.connectTimeoutMs);
        connections[session.index] = connection;
      }
      const request = encodeSqlExecutePlanRequest({
        sessionId: session.sessionId,
        userId: options.userId,
        clientType: options.clientType,
        operationId,
        sql: kind.sql(context),
        ...(session.serverSideSessionId === undefined
          ? {}
          : { observedServerSideSessionId: session.serverSideSessionId }),
      });
      outcome = await connection.executePlan(request, options.queryTimeoutMs);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      outcome = { ...NO_OUTCOME, message: text, transportError: text };
    }
    const latencyMs = performance.now() - begin;
    const expectedRows = kind.expectedRows?.(context);
    const verdict = judgeQuery(outcome, {
      timeoutMs: options.queryTimeoutMs,
      ...(expectedRows === undefined ? {} : { rows: expectedRows }),
      ...(session.serverSideSessionId === undefined
        ? {}
        : { serverSideSessionId: session.serverSideSessionId }),
    });
    if (session.serverSideSessionId === undefined && outcome.serverSideSessionId !== undefined)
      session.serverSideSessionId = outcome.serverSideSessionId;
    const record: QueryOutcome = {
      kind: kind.name,
      sessionIndex: session.index,
      latencyMs,
      rows: outcome.rows,
      arrowBytes: outcome.arrowBytes,
      ...verdict,
    };
    stats.record(record);
    session.queries++;
    if (verdict.ok) session.latencies.push(latencyMs);
    else session.failed++;
    benchQueryFinished.publish({
      sessionIndex: session.index,
      sessionId: session.sessionId,
      operationId,
      kind: kind.name,
      ok: verdict.ok,
      ...(verdict.ok ? {} : { status: verdict.status }),
      latencyMs,
      rows: outcome.rows,
      arrowBytes: outcome.arrowBytes,
    });
    return verdict.ok;
  };

  const runSession = async (session: SessionRecord): Promise<void> => {
    const delay = options.sessions > 1 ? (options.rampUpMs * session.index) / options.sessions : 0;
    if (delay > 0) {
      const wait = Math.min(delay, Math.max(0, deadline - performance.now()));
      // Ctrl-C during the ramp-up ends the wait, not only the queries.
      await sleep(wait, undefined, { signal: options.signal }).catch(() => undefined);
    }
    if (stopped()) return;
    session.started = true;
    benchSession.publish({
      sessionIndex: session.index,
      sessionId: session.sessionId,
      state: 'started',
    });
    // A session whose queries fail (a server gone, the endpoint down) waits before its next one,
    // as Spark clients back off, rather than flood the endpoint with failures it can only count.
    let failedInRow = 0;
    const step = async (kind: QueryKind): Promise<void> => {
      failedInRow = (await runQuery(session, kind)) ? 0 : failedInRow + 1;
      if (failedInRow === 0 || stopped()) return;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failedInRow - 1));
      const wait = Math.min(backoff, Math.max(0, deadline - performance.now()));
      await sleep(wait, undefined, { signal: options.signal }).catch(() => undefined);
    };
    for (const kind of options.mix.setup) {
      if (stopped()) return;
      await step(kind);
    }
    for (let index = 0; index < (options.queriesPerSession ?? Infinity); index++) {
      if (stopped()) return;
      await step(queryAt(cycle, session.index, index));
    }
    benchSession.publish({
      sessionIndex: session.index,
      sessionId: session.sessionId,
      state: 'finished',
    });
  };

  try {
    await Promise.all(sessions.map(runSession));
  } finally {
    if (ticker !== undefined) clearInterval(ticker);
  }
  const elapsedMs = performance.now() - began;
  const endedBy =
    options.signal?.aborted === true
      ? 'interrupted'
      : performance.now() >= deadline
        ? 'duration'
        : 'queries';
  options.onProgress?.(progress());

  const started = sessions.filter((session) => session.started);
  const spread =
    options.spread === undefined
      ? NO_ADMIN_URL
      : await options.spread(sessions.map((session) => session.sessionId));
  const releases = await releaseSessions(
    {
      endpoint: options.endpoint,
      userId: options.userId,
      clientType: options.clientType,
      timeoutMs: Math.min(options.queryTimeoutMs, 30_000),
      connectTimeoutMs: options.connectTimeoutMs,
      stats,
      connections,
    },
    started,
  );
  for (const connection of connections) connection?.close();
  return { startedAt, elapsedMs, endedBy, options, stats, sessions, spread, releases };
}
