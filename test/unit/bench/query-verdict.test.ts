// How a query's outcome is judged: the transport and the server's status first, then the
// session's identity on the server, then the size of the result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ExecuteOutcome } from '../../../src/bench/connect-client.ts';
import { judgeQuery } from '../../../src/bench/query-verdict.ts';

const ok: ExecuteOutcome = {
  status: 0,
  message: '',
  rows: 10,
  arrowBytes: 100,
  batches: 1,
  resultComplete: false,
  timedOut: false,
  serverSideSessionId: 'a',
};

describe('judgeQuery', () => {
  it('passes a result of the expected size in the same server-side session', () => {
    assert.deepEqual(judgeQuery(ok, { timeoutMs: 1, rows: 10, serverSideSessionId: 'a' }), {
      ok: true,
    });
    assert.deepEqual(judgeQuery(ok, { timeoutMs: 1 }), { ok: true });
  });

  it('names a timeout, a broken connection and a server status, in that order', () => {
    const timedOut = judgeQuery({ ...ok, status: -1, timedOut: true }, { timeoutMs: 250 });
    assert.deepEqual(timedOut, {
      ok: false,
      status: 'DEADLINE_EXCEEDED',
      message: 'no complete result within the query timeout (250 ms); the call was cancelled',
    });
    const broken = judgeQuery(
      { ...ok, status: -1, transportError: 'connection reset by the peer (ECONNRESET)' },
      { timeoutMs: 1 },
    );
    assert.deepEqual(broken, {
      ok: false,
      status: 'UNAVAILABLE',
      message: 'connection: connection reset by the peer (ECONNRESET)',
    });
    const failed = judgeQuery(
      { ...ok, status: 13, message: '[TABLE_OR_VIEW_NOT_FOUND] …' },
      { timeoutMs: 1, rows: 99 },
    );
    assert.deepEqual(failed, {
      ok: false,
      status: 'INTERNAL',
      message: '[TABLE_OR_VIEW_NOT_FOUND] …',
    });
  });

  it('fails a query answered in another server-side session, before counting its rows', () => {
    const moved = judgeQuery(
      { ...ok, serverSideSessionId: 'b' },
      {
        timeoutMs: 1,
        rows: 99,
        serverSideSessionId: 'a',
      },
    );
    assert.equal(moved.ok ? 'ok' : moved.status, 'SESSION_CHANGED');
    // Spark 3.5 sends no server-side session id: nothing to compare.
    const without: ExecuteOutcome = { ...ok };
    delete (without as { serverSideSessionId?: string }).serverSideSessionId;
    assert.deepEqual(judgeQuery(without, { timeoutMs: 1, serverSideSessionId: 'a' }), {
      ok: true,
    });
  });

  it('fails a result of the wrong size', () => {
    assert.deepEqual(judgeQuery(ok, { timeoutMs: 1, rows: 11 }), {
      ok: false,
      status: 'WRONG_RESULT',
      message: 'expected 11 rows, got 10',
    });
  });
});
