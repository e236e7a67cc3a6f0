// The query mixes: weights become a spread-out cycle, sessions start at different points of it,
// and each session's temp view has a row count of its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findMix,
  MIXES,
  mixCycle,
  queryAt,
  QUERY_KINDS,
  type QueryMix,
} from '../../../src/bench/query-mix.ts';

const names = (mix: QueryMix): string[] => mixCycle(mix).map((kind) => kind.name);

describe('mixCycle', () => {
  it('holds each kind as often as its weight', () => {
    for (const mix of MIXES) {
      const cycle = names(mix);
      for (const entry of mix.queries)
        assert.equal(
          cycle.filter((name) => name === entry.kind.name).length,
          entry.weight,
          `${mix.name}: ${entry.kind.name}`,
        );
    }
  });

  it('spreads a heavy kind out instead of running it in a row', () => {
    const mix: QueryMix = {
      name: 't',
      description: '',
      setup: [],
      queries: [
        { kind: QUERY_KINDS.select1, weight: 3 },
        { kind: QUERY_KINDS.join, weight: 1 },
      ],
    };
    assert.deepEqual(names(mix), ['select-1', 'select-1', 'join', 'select-1']);
    const five: QueryMix = {
      ...mix,
      queries: [
        { kind: QUERY_KINDS.select1, weight: 2 },
        { kind: QUERY_KINDS.join, weight: 2 },
      ],
    };
    assert.deepEqual(names(five), ['select-1', 'join', 'select-1', 'join']);
  });
});

describe('queryAt', () => {
  const mix = findMix('default');
  assert.ok(mix !== undefined);
  const cycle = mixCycle(mix);

  it('starts each session at its own point of the cycle and wraps around', () => {
    assert.equal(queryAt(cycle, 0, 0), cycle[0]);
    assert.equal(queryAt(cycle, 1, 0), cycle[1]);
    assert.equal(queryAt(cycle, 0, cycle.length), cycle[0]);
    assert.equal(queryAt(cycle, 3, cycle.length - 1), cycle[2]);
  });

  it('reads the temp view back within any five queries of the default mix', () => {
    for (let session = 0; session < cycle.length; session++) {
      const five = Array.from({ length: 5 }, (_, index) => queryAt(cycle, session, index).name);
      assert.ok(five.includes('view-read'), `session ${String(session)}: ${five.join(', ')}`);
    }
  });

  it('refuses an empty mix', () => {
    assert.throws(() => queryAt([], 0, 0), RangeError);
  });
});

describe('the query kinds', () => {
  it('give each session a view with a row count of its own, read back whole', () => {
    const { viewCreate, viewRead } = QUERY_KINDS;
    assert.match(
      viewCreate.sql({ sessionIndex: 7 }),
      /TEMPORARY VIEW sparkplane_bench_view AS SELECT id FROM range\(0, 107\)/,
    );
    assert.equal(viewRead.expectedRows({ sessionIndex: 7 }), 107);
    assert.notEqual(
      viewRead.expectedRows({ sessionIndex: 1 }),
      viewRead.expectedRows({ sessionIndex: 2 }),
    );
  });

  it('put the view first in every mix that reads it', () => {
    for (const mix of MIXES) {
      const reads = mix.queries.some((entry) => entry.kind === QUERY_KINDS.viewRead);
      assert.equal(mix.setup.includes(QUERY_KINDS.viewCreate), reads, mix.name);
    }
  });

  it('have unique names and a default mix', () => {
    const all = Object.values(QUERY_KINDS).map((kind) => kind.name);
    assert.equal(new Set(all).size, all.length);
    assert.equal(findMix('default')?.name, 'default');
    assert.equal(findMix('nope'), undefined);
  });
});
