// What test/interop/python/shuffle_groupby.py reports, and the answer it must give.

export interface GroupSummary {
  readonly groups: number;
  readonly rows: number;
  readonly sum: number;
  readonly minGroup: number;
  readonly maxGroup: number;
}

export interface ShuffleJobResult {
  readonly sparkVersion: string;
  readonly appId: string;
  readonly partitions: number;
  readonly first: GroupSummary;
  readonly second: GroupSummary;
  readonly executorsDuring: number;
  readonly executorsAfterIdle: number;
  readonly seconds: number;
}

/** 10^6 rows in 1000 groups of 1000; the ids 0 … 10^6−1 sum to 499 999 500 000. */
export const EXPECTED_GROUPS: GroupSummary = {
  groups: 1000,
  rows: 1_000_000,
  sum: 499_999_500_000,
  minGroup: 1000,
  maxGroup: 1000,
};

/**
 * Executors on one host read each other's shuffle files straight from disk by default, asking the
 * service only where they are (GetLocalDirsForExecutors). Turning that off makes every remote
 * block travel through the shuffle service, which is what a multi-host cluster does.
 */
export const FETCH_THROUGH_SERVICE: Readonly<Record<string, string>> = {
  'spark.shuffle.readHostLocalDisk': 'false',
};
