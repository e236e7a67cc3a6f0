// A Prometheus histogram for values observed on a hot path: each label set gets a child that
// counts its observations in a plain array, and the registry reads them in prom-client's format
// when it is scraped. prom-client's own histogram checks and hashes the labels and stores the
// bucket under a string key on every observation, a cost paid per call by a proxy relaying tens
// of thousands of calls a second.
import type { Histogram, Registry } from 'prom-client';

export interface CountedHistogramChild {
  observe(value: number): void;
}

interface Child extends CountedHistogramChild {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket, not cumulated; the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

interface Value {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

export interface CountedHistogram {
  /** The child for these label values, made on first use; keep it. */
  labels(values: Readonly<Record<string, string>>): CountedHistogramChild;
}

export function createCountedHistogram(options: {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly registers: readonly Registry[];
}): CountedHistogram {
  const bounds = [...options.buckets].sort((a, b) => a - b);
  const children = new Map<string, Child>();
  const head = {
    name: options.name,
    help: options.help,
    type: 'histogram',
    aggregator: 'sum',
  } as const;
  const metric = {
    ...head,
    get() {
      const values: Value[] = [];
      for (const child of children.values()) {
        let cumulated = 0;
        for (const [index, bound] of [...bounds, '+Inf' as const].entries()) {
          cumulated += child.counts[index] ?? 0;
          values.push({
            labels: { le: bound, ...child.labels },
            value: cumulated,
            metricName: `${options.name}_bucket`,
          });
        }
        values.push(
          { labels: { ...child.labels }, value: child.sum, metricName: `${options.name}_sum` },
          { labels: { ...child.labels }, value: child.count, metricName: `${options.name}_count` },
        );
      }
      return Promise.resolve({ ...head, values });
    },
    reset() {
      for (const child of children.values()) {
        child.counts.fill(0);
        child.sum = 0;
        child.count = 0;
      }
    },
  };
  // The registry reads a metric through get() and nothing else of prom-client's classes.
  for (const registry of options.registers) registry.registerMetric(metric as unknown as Histogram);
  return {
    labels(values) {
      for (const name of Object.keys(values))
        if (!options.labelNames.includes(name))
          throw new Error(`${options.name} has no label ${name}`);
      const key = options.labelNames.map((name) => values[name] ?? '').join('\u0000');
      let child = children.get(key);
      if (child === undefined) {
        const made: Child = {
          labels: { ...values },
          counts: new Array<number>(bounds.length + 1).fill(0),
          sum: 0,
          count: 0,
          observe(value) {
            let index = 0;
            while (index < bounds.length && value > (bounds[index] ?? Number.POSITIVE_INFINITY))
              index++;
            made.counts[index] = (made.counts[index] ?? 0) + 1;
            made.sum += value;
            made.count++;
          },
        };
        child = made;
        children.set(key, child);
      }
      return child;
    },
  };
}
