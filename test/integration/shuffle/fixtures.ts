// Map outputs laid out on disk exactly as Spark's sort shuffle writes them, and a shuffle server
// on port 0 around them.
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ExecutorShuffleInfo } from '../../../src/shuffle/protocol/block-transfer.ts';
import { blockFilePath } from '../../../src/shuffle/resolver/disk-layout.ts';
import {
  SHUFFLE_DEFAULTS,
  createShuffleServer,
  type ShuffleServer,
  type ShuffleServerConfig,
} from '../../../src/shuffle/server/shuffle-server.ts';

export async function tempRoot(prefix: string): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), `sparkplane-shuffle-${prefix}-`)));
}

export async function removeRoot(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true });
}

async function put(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

/** Writes `shuffle_S_M_0.data` and `.index` for these partitions under the executor's dirs. */
export async function writeMapOutput(
  info: ExecutorShuffleInfo,
  shuffleId: number,
  mapId: bigint,
  partitions: readonly Buffer[],
): Promise<void> {
  const index = Buffer.alloc((partitions.length + 1) * 8);
  let offset = 0n;
  partitions.forEach((partition, i) => {
    offset += BigInt(partition.length);
    index.writeBigInt64BE(offset, (i + 1) * 8);
  });
  await put(blockFilePath(info, `shuffle_${shuffleId}_${mapId}_0.data`), Buffer.concat(partitions));
  await put(blockFilePath(info, `shuffle_${shuffleId}_${mapId}_0.index`), index);
}

/** Deterministic partition bytes, distinct per (map, partition). */
export function partitionBytes(mapId: number, reduceId: number, length: number): Buffer {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (mapId * 31 + reduceId * 7 + i) & 0xff;
  return data;
}

export function startServer(
  overrides: Partial<ShuffleServerConfig> & Pick<ShuffleServerConfig, 'allowedRoots'>,
): Promise<{ server: ShuffleServer; port: number }> {
  const server = createShuffleServer({
    host: '127.0.0.1',
    port: 0,
    stateDir: undefined,
    authSecret: undefined,
    maxFrameBytes: SHUFFLE_DEFAULTS.maxFrameBytes,
    idleTimeoutMs: SHUFFLE_DEFAULTS.idleTimeoutMs,
    maxQueuedRequests: SHUFFLE_DEFAULTS.maxQueuedRequests,
    maxConnections: SHUFFLE_DEFAULTS.maxConnections,
    ...overrides,
  });
  return server.listen().then((address) => ({ server, port: address.port }));
}
