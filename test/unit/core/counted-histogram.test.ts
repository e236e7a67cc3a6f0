import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { createCountedHistogram } from '../../../src/core/counted-histogram.ts';

const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
/** Values on, below and above every bound, and one past the last. */
const VALUES = [0, 0.0005, 0.001, 0.0011, 0.005, 0.02, 0.1, 0.3, 1, 4.99, 5, 7, 600];

function exposition(
  observe: (registry: Registry) => (labels: Record<string, string>, value: number) => void,
): Promise<string> {
  const registry = new Registry();
  const record = observe(registry);
  for (const [index, value] of VALUES.entries()) {
    record({ method: 'Config' }, value);
    if (index % 3 === 0) record({ method: 'Execute"Plan\\' }, value * 2);
  }
  return registry.metrics();
}

test("a counted histogram's exposition is prom-client's for the same observations", async () => {
  const help = 'Duration of calls';
  const expected = await exposition((registry) => {
    const histogram = new Histogram({
      name: 'calls_seconds',
      help,
      labelNames: ['method'],
      buckets: BUCKETS,
      registers: [registry],
    });
    return (labels, value) => {
      histogram.observe(labels, value);
    };
  });
  const actual = await exposition((registry) => {
    const histogram = createCountedHistogram({
      name: 'calls_seconds',
      help,
      labelNames: ['method'],
      // Given out of order: bounds are sorted, as prom-client sorts them.
      buckets: [...BUCKETS].reverse(),
      registers: [registry],
    });
    return (labels, value) => {
      histogram.labels(labels).observe(value);
    };
  });
  assert.match(expected, /calls_seconds_bucket\{le="0.001",method="Config"\} 3\n/);
  assert.match(expected, /calls_seconds_count\{method="Config"\} 13\n/);
  assert.equal(actual, expected);
});

test('a counted histogram keeps one child per label set, and resets with its registry', async () => {
  const registry = new Registry();
  const histogram = createCountedHistogram({
    name: 'calls_seconds',
    help: 'Duration of calls',
    labelNames: ['method'],
    buckets: [1],
    registers: [registry],
  });
  const child = histogram.labels({ method: 'Config' });
  assert.equal(histogram.labels({ method: 'Config' }), child);
  child.observe(0.5);
  child.observe(2);
  assert.match(await registry.metrics(), /calls_seconds_sum\{method="Config"\} 2.5\n/);
  registry.resetMetrics();
  assert.match(await registry.metrics(), /calls_seconds_count\{method="Config"\} 0\n/);
  assert.throws(() => histogram.labels({ route: '/' }), /calls_seconds has no label route/);
});
