// The benchmark's ExecutePlan request: Spark's fields in number order, the SQL inside
// Plan.root.sql, and the observed server-side session id (field 8) last, only once one is known.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeSqlExecutePlanRequest } from '../../../src/bench/connect-plans.ts';
import { WireType } from '@bufbuild/protobuf/wire';
import { forEachField, readUtf8 } from '../../../src/gateway/wire/proto-scanner.ts';

function fields(bytes: Uint8Array): [number, string][] {
  const out: [number, string][] = [];
  forEachField(bytes, 'the request', (field, wireType, reader) => {
    if (wireType === WireType.LengthDelimited && field !== 2 && field !== 3)
      out.push([field, readUtf8(reader)]);
    else {
      out.push([field, '…']);
      reader.skip(wireType, field);
    }
  });
  return out;
}

function sqlOf(bytes: Uint8Array): string {
  let sql = '';
  const nested = (data: Uint8Array, path: readonly number[]): void => {
    forEachField(data, 'a plan', (field, _wireType, reader) => {
      if (field !== path[0]) return void reader.skip(WireType.LengthDelimited, field);
      if (path.length === 1) sql = readUtf8(reader);
      else nested(reader.bytes(), path.slice(1));
    });
  };
  // ExecutePlanRequest.plan (3) → Plan.root (1) → Relation.sql (10) → SQL.query (1)
  nested(bytes, [3, 1, 10, 1]);
  return sql;
}

describe('encodeSqlExecutePlanRequest', () => {
  const base = {
    sessionId: '0b6f8d3c-2f5e-4a8c-9d7e-1c2b3a4d5e6f',
    userId: 'alice',
    clientType: 'sparkplane-bench',
    operationId: 'op-1',
    sql: 'SELECT 1 AS one',
  };

  it('writes session, user, plan, client type and operation id in field order', () => {
    const bytes = encodeSqlExecutePlanRequest(base);
    assert.deepEqual(fields(bytes), [
      [1, base.sessionId],
      [2, '…'],
      [3, '…'],
      [4, 'sparkplane-bench'],
      [6, 'op-1'],
    ]);
    assert.equal(sqlOf(bytes), 'SELECT 1 AS one');
  });

  it('adds the observed server-side session id as field 8, after the others', () => {
    const bytes = encodeSqlExecutePlanRequest({
      ...base,
      observedServerSideSessionId: 'server-side-7',
    });
    assert.deepEqual(fields(bytes).at(-1), [8, 'server-side-7']);
    assert.deepEqual(
      fields(bytes).map(([field]) => field),
      [1, 2, 3, 4, 6, 8],
    );
    assert.equal(sqlOf(bytes), 'SELECT 1 AS one');
  });
});
