// The queries a benchmark session runs: named mixes of SQL query kinds, each with the number of
// rows its result must have, so a wrong answer counts as an error, not as a fast query. A mix may
// have setup statements a session runs first (a temp view), which the later queries depend on: a
// session moved to another server would lose its view and fail, which is how the benchmark proves
// session affinity through a proxy.

export interface QueryContext {
  /** The session's number in this run, 0-based. */
  readonly sessionIndex: number;
}

export interface QueryKind {
  readonly name: string;
  readonly sql: (context: QueryContext) => string;
  /** Rows the result must have; undefined when any number is right (DDL). */
  readonly expectedRows?: (context: QueryContext) => number;
}

export interface QueryMix {
  readonly name: string;
  readonly description: string;
  /** Run once at the start of every session, in order. */
  readonly setup: readonly QueryKind[];
  /** The query kinds and their relative weights. */
  readonly queries: readonly { readonly kind: QueryKind; readonly weight: number }[];
}

const VIEW = 'sparkplane_bench_view';
/** Each session's view has a row count of its own, so reading another session's view is caught. */
const viewRows = (context: QueryContext): number => 100 + context.sessionIndex;

export const QUERY_KINDS = {
  select1: {
    name: 'select-1',
    sql: () => 'SELECT 1 AS one',
    expectedRows: () => 1,
  },
  aggregate: {
    name: 'aggregate',
    sql: () =>
      'SELECT id % 10 AS bucket, count(*) AS n, sum(id) AS total FROM range(0, 200000) GROUP BY id % 10',
    expectedRows: () => 10,
  },
  join: {
    name: 'join',
    sql: () =>
      'SELECT count(*) AS matches FROM range(0, 50000) AS a JOIN range(0, 50000, 2) AS b ON a.id = b.id',
    expectedRows: () => 1,
  },
  manyRows: {
    name: 'many-rows',
    sql: () => 'SELECT id, id * 2 AS doubled FROM range(0, 100000)',
    expectedRows: () => 100_000,
  },
  viewCreate: {
    name: 'view-create',
    sql: (context) =>
      `CREATE OR REPLACE TEMPORARY VIEW ${VIEW} AS SELECT id FROM range(0, ${String(viewRows(context))})`,
  },
  viewRead: {
    name: 'view-read',
    sql: () => `SELECT id FROM ${VIEW}`,
    expectedRows: viewRows,
  },
} as const satisfies Record<string, QueryKind>;

export const MIXES: readonly QueryMix[] = [
  {
    name: 'default',
    description:
      'SELECT 1, an aggregation over range(200000), a join, 100,000 rows, and a temp view read back',
    setup: [QUERY_KINDS.viewCreate],
    queries: [
      { kind: QUERY_KINDS.select1, weight: 2 },
      { kind: QUERY_KINDS.aggregate, weight: 1 },
      { kind: QUERY_KINDS.join, weight: 1 },
      { kind: QUERY_KINDS.manyRows, weight: 1 },
      { kind: QUERY_KINDS.viewRead, weight: 2 },
    ],
  },
  {
    name: 'light',
    description: 'SELECT 1 only: what the path to the server costs, not the server',
    setup: [],
    queries: [{ kind: QUERY_KINDS.select1, weight: 1 }],
  },
  {
    name: 'affinity',
    description: 'a temp view created, then read back: each session must stay on its server',
    setup: [QUERY_KINDS.viewCreate],
    queries: [{ kind: QUERY_KINDS.viewRead, weight: 1 }],
  },
  {
    name: 'heavy',
    description: 'the aggregation, the join and the 100,000 rows: the servers do the work',
    setup: [],
    queries: [
      { kind: QUERY_KINDS.aggregate, weight: 1 },
      { kind: QUERY_KINDS.join, weight: 1 },
      { kind: QUERY_KINDS.manyRows, weight: 1 },
    ],
  },
];

export const MIX_NAMES = MIXES.map((mix) => mix.name) as [string, ...string[]];

export function findMix(name: string): QueryMix | undefined {
  return MIXES.find((mix) => mix.name === name);
}

/**
 * One cycle of the mix: each kind as often as its weight, spread out (smooth weighted round
 * robin) so a kind does not come in runs.
 */
export function mixCycle(mix: QueryMix): QueryKind[] {
  const total = mix.queries.reduce((sum, entry) => sum + entry.weight, 0);
  const current = mix.queries.map(() => 0);
  const cycle: QueryKind[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    mix.queries.forEach((entry, index) => {
      current[index] = (current[index] ?? 0) + entry.weight;
      if ((current[index] ?? 0) > (current[best] ?? 0)) best = index;
    });
    current[best] = (current[best] ?? 0) - total;
    const chosen = mix.queries[best];
    if (chosen !== undefined) cycle.push(chosen.kind);
  }
  return cycle;
}

/**
 * The query a session runs as its `queryIndex`th (0-based, after its setup). Sessions start at
 * different points of the cycle, so at any moment the servers see every kind.
 */
export function queryAt(cycle: readonly QueryKind[], sessionIndex: number, queryIndex: number) {
  const kind = cycle[(sessionIndex + queryIndex) % cycle.length];
  if (kind === undefined) throw new RangeError('a query mix needs at least one query kind');
  return kind;
}
