// Whether one query succeeded, and if not, the class its failure is counted under: the gRPC status
// the server or gateway sent, or what the client found itself (a timeout, a broken connection, a
// wrong number of rows, or a session that now lives in another server-side session).
import { grpcStatusName, SESSION_CHANGED, WRONG_RESULT } from './bench-stats.ts';
import type { ExecuteOutcome } from './connect-client.ts';

export type QueryVerdict =
  { readonly ok: true } | { readonly ok: false; readonly status: string; readonly message: string };

export interface QueryExpectation {
  /** Rows the result must have; undefined when any number is right. */
  readonly rows?: number;
  /** The server-side session id earlier queries of the session saw. */
  readonly serverSideSessionId?: string;
  readonly timeoutMs: number;
}

export function judgeQuery(outcome: ExecuteOutcome, expected: QueryExpectation): QueryVerdict {
  if (outcome.timedOut)
    return {
      ok: false,
      status: 'DEADLINE_EXCEEDED',
      message: `no complete result within the query timeout (${String(expected.timeoutMs)} ms); the call was cancelled`,
    };
  if (outcome.transportError !== undefined)
    return { ok: false, status: 'UNAVAILABLE', message: `connection: ${outcome.transportError}` };
  if (outcome.status !== 0)
    return { ok: false, status: grpcStatusName(outcome.status), message: outcome.message };
  if (
    expected.serverSideSessionId !== undefined &&
    outcome.serverSideSessionId !== undefined &&
    outcome.serverSideSessionId !== expected.serverSideSessionId
  )
    return {
      ok: false,
      status: SESSION_CHANGED,
      message:
        'the server-side session id changed within the session: it runs in a new session on a ' +
        'restarted or another server, without its temp views, cache and confs',
    };
  if (expected.rows !== undefined && outcome.rows !== expected.rows)
    return {
      ok: false,
      status: WRONG_RESULT,
      message: `expected ${String(expected.rows)} rows, got ${String(outcome.rows)}`,
    };
  return { ok: true };
}
