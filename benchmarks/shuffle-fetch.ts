// Benchmark: the same client fetches the same shuffle files from Spark's own external shuffle
// service and from sparkplane shuffle, in one run, at 1, 16 and 128 concurrent clients, for small
// (4 KiB) and large (1 MiB) blocks. Prints one table (and JSON with --json): MB/s, fetch latency
// p50/p99 and each server's peak RSS.
// Each cell runs --rounds times, the two services alternating, and the median round is shown:
// on a small shared machine single runs vary by ±20%.
//   scripts/node benchmarks/shuffle-fetch.ts [--spark 4.3.0] [--seconds 3] [--rounds 3] [--json]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createShuffleClient, type ShuffleClient } from '../src/shuffle/client/shuffle-client.ts';
import type { ExecutorShuffleInfo } from '../src/shuffle/protocol/block-transfer.ts';
import { partitionBytes, writeMapOutput } from '../test/integration/shuffle/fixtures.ts';
import { createRun } from '../test/interop/harness/run.ts';
import { SPARK_PINS, checkPrerequisites } from '../test/interop/harness/spark-install.ts';
import { startSparkShuffleService } from '../test/interop/harness/spark-processes.ts';
import { startSparkplaneShuffle } from '../test/interop/harness/sparkplane-processes.ts';
import { medianBy, memory, percentile } from './support/measure.ts';

const { values: args } = parseArgs({
  options: {
    spark: { type: 'string', default: SPARK_PINS.at(-1)?.spark ?? '' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});

const APP = 'app-bench-0001';
const CONCURRENCY = [1, 16, 128];
const BLOCKS_PER_FETCH = 8;
const SHAPES = [
  { name: '4 KiB', shuffleId: 0, maps: 64, partitions: 64, size: 4096 },
  { name: '1 MiB', shuffleId: 1, maps: 8, partitions: 32, size: 1024 * 1024 },
] as const;

interface Cell {
  service: string;
  blocks: string;
  clients: number;
  mbPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  fetches: number;
  errors: number;
}

async function runCell(
  port: number,
  shape: (typeof SHAPES)[number],
  clients: number,
  seconds: number,
): Promise<Omit<Cell, 'service'>> {
  const connections: ShuffleClient[] = Array.from({ length: clients }, () =>
    createShuffleClient({ host: '127.0.0.1', port, maxRetries: 0 }),
  );
  const latencies: number[] = [];
  let bytes = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    connections.map(async (client, index) => {
      let round = index;
      while (performance.now() < deadline) {
        const mapId = round % shape.maps;
        const first = (round * BLOCKS_PER_FETCH) % shape.partitions;
        const ids = Array.from(
          { length: BLOCKS_PER_FETCH },
          (_, offset) =>
            `shuffle_${shape.shuffleId}_${mapId}_${(first + offset) % shape.partitions}`,
        );
        const begin = performance.now();
        try {
          const blocks = await client.fetchBlocks(APP, '0', ids);
          for (const block of blocks.values()) bytes += block.length;
          latencies.push(performance.now() - begin);
        } catch {
          errors++;
        }
        round += clients;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const client of connections) client.close();
  latencies.sort((a, b) => a - b);
  return {
    blocks: shape.name,
    clients,
    mbPerSecond: bytes / 1024 / 1024 / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    fetches: latencies.length,
    errors,
  };
}

const pin = SPARK_PINS.find((candidate) => candidate.spark === args.spark);
if (pin === undefined)
  throw new Error(
    `unknown Spark version ${args.spark}; pinned: ${SPARK_PINS.map((p) => p.spark).join(', ')}`,
  );
const prerequisites = checkPrerequisites(pin);
if (!prerequisites.ok) {
  console.error(`shuffle-fetch benchmark needs: ${prerequisites.problems.join('; ')}`);
  process.exit(2);
}
const run = createRun(prerequisites.install, 'bench-shuffle-fetch');
const info: ExecutorShuffleInfo = {
  localDirs: [join(run.dir, 'local', 'blockmgr-0'), join(run.dir, 'local', 'blockmgr-1')],
  subDirsPerLocalDir: 64,
  shuffleManager: 'org.apache.spark.shuffle.sort.SortShuffleManager',
};
for (const shape of SHAPES) {
  for (let mapId = 0; mapId < shape.maps; mapId++) {
    await writeMapOutput(
      info,
      shape.shuffleId,
      BigInt(mapId),
      Array.from({ length: shape.partitions }, (_, reduceId) =>
        partitionBytes(mapId, reduceId, shape.size),
      ),
    );
  }
}

const spark = await startSparkShuffleService(run);
const sparkplane = await startSparkplaneShuffle(run, { extraArgs: ['--log-level', 'warn'] }).catch(
  async (error: unknown) => {
    await spark.stop();
    throw error;
  },
);
const services = [
  { name: `Spark ${pin.spark} ESS`, port: spark.port, pid: spark.process.pid, peak: 0 },
  { name: 'sparkplane shuffle', port: sparkplane.port, pid: sparkplane.process.pid, peak: 0 },
];
const cells: Cell[] = [];
try {
  for (const service of services) {
    const client = createShuffleClient({ host: '127.0.0.1', port: service.port, maxRetries: 0 });
    await client.registerExecutor(APP, '0', info);
    // Warm-up: JIT on both sides, page cache for the files.
    for (const shape of SHAPES) await runCell(service.port, shape, 4, 1);
    client.close();
  }
  const seconds = Number(args.seconds);
  const rounds = Number(args.rounds);
  for (const shape of SHAPES) {
    for (const clients of CONCURRENCY) {
      const results = new Map<string, Omit<Cell, 'service'>[]>(
        services.map((service) => [service.name, []]),
      );
      for (let round = 0; round < rounds; round++) {
        // Alternate who goes first so neither always gets the warmer cache.
        const order = round % 2 === 0 ? services : [...services].reverse();
        for (const service of order) {
          const sampler = setInterval(() => {
            service.peak = Math.max(service.peak, memory(service.pid).rss);
          }, 50);
          results.get(service.name)?.push(await runCell(service.port, shape, clients, seconds));
          clearInterval(sampler);
        }
      }
      for (const service of services) {
        const median = medianBy(results.get(service.name) ?? [], (cell) => cell.mbPerSecond);
        if (median !== undefined) cells.push({ service: service.name, ...median });
      }
    }
  }
  for (const service of services) service.peak = Math.max(service.peak, memory(service.pid).peak);
} finally {
  await sparkplane.stop();
  await spark.stop();
}

const ours = services[1]?.name ?? '';
const theirs = services[0]?.name ?? '';
const rows = SHAPES.flatMap((shape) =>
  CONCURRENCY.map((clients) => {
    const a = cells.find(
      (cell) => cell.service === theirs && cell.blocks === shape.name && cell.clients === clients,
    );
    const b = cells.find(
      (cell) => cell.service === ours && cell.blocks === shape.name && cell.clients === clients,
    );
    return { blocks: shape.name, clients, spark: a, sparkplane: b };
  }),
);
if (args.json) {
  console.log(
    JSON.stringify(
      {
        spark: pin.spark,
        blocksPerFetch: BLOCKS_PER_FETCH,
        cells,
        peakRss: Object.fromEntries(services.map((s) => [s.name, s.peak])),
      },
      null,
      2,
    ),
  );
} else {
  const fmt = (value: number | undefined, digits = 1): string =>
    value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits);
  console.log(
    `shuffle fetch: ${BLOCKS_PER_FETCH} blocks per FetchShuffleBlocks, median of ${args.rounds} rounds of ${args.seconds} s per cell, same client for both (Spark ${pin.spark})`,
  );
  console.log(
    '| blocks | clients | Spark MB/s | sparkplane MB/s | ratio | Spark p50/p99 ms | sparkplane p50/p99 ms | errors S/sp |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const ratio =
      row.spark !== undefined && row.sparkplane !== undefined
        ? row.sparkplane.mbPerSecond / row.spark.mbPerSecond
        : Number.NaN;
    console.log(
      `| ${row.blocks} | ${row.clients} | ${fmt(row.spark?.mbPerSecond)} | ${fmt(row.sparkplane?.mbPerSecond)} | ${fmt(ratio, 2)}× | ${fmt(row.spark?.p50Ms, 2)} / ${fmt(row.spark?.p99Ms, 2)} | ${fmt(row.sparkplane?.p50Ms, 2)} / ${fmt(row.sparkplane?.p99Ms, 2)} | ${row.spark?.errors ?? '-'}/${row.sparkplane?.errors ?? '-'} |`,
    );
  }
  console.log(
    `peak RSS: ${services.map((s) => `${s.name} ${(s.peak / 1024 / 1024).toFixed(0)} MiB`).join(', ')}`,
  );
}
