// The block resolver over real files laid out as Spark executors lay them out: segments for single
// and batch fetches, RDD blocks, and RemoveBlocks.
import assert from 'node:assert/strict';
import { access, realpath, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createBlockResolver,
  type BlockResolver,
} from '../../../../src/shuffle/resolver/block-resolver.ts';
import {
  blockFilePath,
  type ExecutorShuffleInfo,
} from '../../../../src/shuffle/resolver/disk-layout.ts';
import type { FileSegment } from '../../../../src/shuffle/resolver/index-file.ts';
import { indexBytes, makeTemp, rejectsWith, removeTemp, writeFileAt } from './map-output.ts';

let root = '';
let localDir = '';
let info: ExecutorShuffleInfo;
let resolver: BlockResolver;

// Partitions of shuffle 0, map 0: 3, 0, 5 and 2 bytes.
const PARTITIONS = ['abc', '', 'defgh', 'ij'];

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function segmentBytes(segment: FileSegment): Promise<string> {
  const file = await resolver.openSegment(segment);
  try {
    const bytes = Buffer.alloc(segment.length);
    if (segment.length > 0) await file.handle.read(bytes, 0, segment.length, segment.offset);
    return bytes.toString('latin1');
  } finally {
    file.release();
  }
}

/** Writes shuffle `shuffleId` map `mapId` wherever the layout puts it. */
async function writeMapOutput(
  executor: ExecutorShuffleInfo,
  shuffleId: number,
  mapId: bigint,
  partitions: readonly string[],
): Promise<void> {
  const name = `shuffle_${shuffleId}_${mapId}_0`;
  await writeFileAt(blockFilePath(executor, `${name}.data`), partitions.join(''));
  await writeFileAt(
    blockFilePath(executor, `${name}.index`),
    indexBytes(partitions.map((p) => p.length)),
  );
}

beforeEach(async () => {
  root = await makeTemp('root');
  localDir = path.join(root, 'blockmgr-0f3c');
  info = { localDirs: [localDir], subDirsPerLocalDir: 64, shuffleManager: 'sort' };
  resolver = createBlockResolver({ allowedRoots: [root] });
  // Placed by hand where §4.1 says one dir with 64 subdirs puts them.
  await writeFileAt(path.join(localDir, '30', 'shuffle_0_0_0.index'), indexBytes([3, 0, 5, 2]));
  await writeFileAt(path.join(localDir, '0c', 'shuffle_0_0_0.data'), PARTITIONS.join(''));
});

afterEach(async () => {
  await removeTemp(root);
});

describe('shuffleSegment', () => {
  for (const [start, end, offset, length, bytes] of [
    [0, 1, 0, 3, 'abc'],
    [1, 2, 3, 0, ''],
    [2, 3, 3, 5, 'defgh'],
    [3, 4, 8, 2, 'ij'],
    [1, 4, 3, 7, 'defghij'],
    [0, 4, 0, 10, 'abcdefghij'],
  ] as const) {
    it(`serves partitions [${start}, ${end}) as bytes [${offset}, ${offset + length})`, async () => {
      const segment = await resolver.shuffleSegment(info, 0, 0n, start, end);
      const dataFile = await realpath(path.join(localDir, '0c', 'shuffle_0_0_0.data'));
      assert.deepEqual(segment, { path: dataFile, offset, length });
      assert.equal(await segmentBytes(segment), bytes);
    });
  }

  it('finds map outputs across several dirs, with a long map id', async () => {
    const dirs = [
      path.join(root, 'blockmgr-a'),
      path.join(root, 'blockmgr-b'),
      path.join(root, 'c'),
    ];
    const executor = { localDirs: dirs, subDirsPerLocalDir: 16, shuffleManager: 'sort' };
    const mapIds = [1n, 2n, 77n, 9223372036854775807n];
    for (const mapId of mapIds) {
      await writeMapOutput(executor, 4, mapId, ['map', `${mapId}`, 'end']);
    }
    for (const mapId of mapIds) {
      const segment = await resolver.shuffleSegment(executor, 4, mapId, 1, 2);
      assert.equal(segment.offset, 3);
      assert.equal(await segmentBytes(segment), `${mapId}`);
    }
  });

  it('reports a missing index with Spark’s words and the computed path', async () => {
    const indexPath = path.join(localDir, '30', 'shuffle_0_0_0.index');
    await rm(indexPath);
    await rejectsWith(
      resolver.shuffleSegment(info, 0, 0n, 0, 1),
      'ESS_FILE_MISSING',
      `Failed to open file: ${indexPath}`,
    );
  });

  it('reports a missing map output of an unknown map id the same way', async () => {
    await rejectsWith(
      resolver.shuffleSegment(info, 0, 1n, 0, 1),
      'ESS_FILE_MISSING',
      /^Failed to open file: .*shuffle_0_1_0\.index$/,
    );
  });

  it('reports a missing data file beside an index, naming it', async () => {
    const dataPath = path.join(localDir, '0c', 'shuffle_0_0_0.data');
    await rm(dataPath);
    await rejectsWith(
      resolver.shuffleSegment(info, 0, 0n, 0, 1),
      'ESS_FILE_MISSING',
      new RegExp(`^Failed to open file: ${dataPath}.*missing`),
    );
  });

  it('reports a data file shorter than its index says, naming it', async () => {
    const dataPath = path.join(localDir, '0c', 'shuffle_0_0_0.data');
    await truncate(dataPath, 6);
    const error = await rejectsWith(
      resolver.shuffleSegment(info, 0, 0n, 2, 3),
      'ESS_FILE_TRUNCATED',
      /is 6 bytes.*\[3, 8\)/,
    );
    assert.ok(error.message.includes(dataPath));
    // What is still there is still served.
    assert.deepEqual(await resolver.shuffleSegment(info, 0, 0n, 0, 1), {
      path: await realpath(dataPath),
      offset: 0,
      length: 3,
    });
  });

  it('refuses a reduce id beyond the index, saying how many partitions it holds', async () => {
    await rejectsWith(
      resolver.shuffleSegment(info, 0, 0n, 4, 5),
      'ESS_BAD_BLOCK_ID',
      /holds 4 partitions/,
    );
    await rejectsWith(resolver.shuffleSegment(info, 0, 0n, 2, 6), 'ESS_BAD_BLOCK_ID');
  });

  for (const [shuffleId, mapId, start, end] of [
    [-1, 0n, 0, 1],
    [2 ** 31, 0n, 0, 1],
    [0, -1n, 0, 1],
    [0, 2n ** 63n, 0, 1],
    [0, 0n, 1, 1],
    [0, 0n, -1, 1],
  ] as const) {
    it(`refuses shuffle ${shuffleId} map ${mapId} [${start}, ${end})`, async () => {
      await rejectsWith(
        resolver.shuffleSegment(info, shuffleId, mapId, start, end),
        'ESS_BAD_BLOCK_ID',
      );
    });
  }
});

describe('openSegment', () => {
  it('refuses a segment whose file was cut after it was located', async () => {
    const segment = await resolver.shuffleSegment(info, 0, 0n, 2, 3);
    await truncate(segment.path, 4);
    await rejectsWith(resolver.openSegment(segment), 'ESS_FILE_TRUNCATED', /ends at byte 8/);
  });

  it('refuses a segment whose file is gone', async () => {
    const segment = await resolver.shuffleSegment(info, 0, 0n, 0, 1);
    await rm(segment.path);
    await rejectsWith(resolver.openSegment(segment), 'ESS_FILE_MISSING');
  });
});

describe('rddSegment', () => {
  it('serves the whole rdd_R_P file', async () => {
    const dirs = [path.join(root, 'blockmgr-a'), path.join(root, 'blockmgr-b')];
    const executor = { localDirs: dirs, subDirsPerLocalDir: 64, shuffleManager: 'sort' };
    // §4.1: rdd_2_5 with two dirs lives in the second, subdir 0d.
    const file = path.join(dirs[1] ?? '', '0d', 'rdd_2_5');
    await writeFileAt(file, 'cached partition');
    const segment = await resolver.rddSegment(executor, 2, 5);
    assert.deepEqual(segment, { path: await realpath(file), offset: 0, length: 16 });
    assert.equal(await segmentBytes(segment as FileSegment), 'cached partition');
  });

  it('answers undefined for a block that is not there', async () => {
    assert.equal(await resolver.rddSegment(info, 2, 6), undefined);
  });

  it('serves an empty rdd file as an empty segment', async () => {
    await writeFileAt(blockFilePath(info, 'rdd_3_0'), '');
    const segment = await resolver.rddSegment(info, 3, 0);
    assert.equal(segment?.length, 0);
  });
});

describe('removeBlocks', () => {
  it('deletes the named rdd and shuffle files and counts them', async () => {
    const rdd = blockFilePath(info, 'rdd_1_1');
    const checksum = blockFilePath(info, 'shuffle_0_0_0.checksum.ADLER32');
    await writeFileAt(rdd, 'x');
    await writeFileAt(checksum, Buffer.alloc(32));
    const index = path.join(localDir, '30', 'shuffle_0_0_0.index');
    const data = path.join(localDir, '0c', 'shuffle_0_0_0.data');
    const removed = await resolver.removeBlocks(info, [
      'rdd_1_1',
      'rdd_1_2',
      'shuffle_0_0_0.index',
      'shuffle_0_0_0.data',
      'rdd_1_1',
    ]);
    assert.equal(removed, 3);
    for (const file of [rdd, index, data]) assert.equal(await exists(file), false, file);
    assert.equal(await exists(checksum), true);
    assert.equal(await resolver.removeBlocks(info, ['rdd_1_1', 'shuffle_0_0_0.index']), 0);
  });

  it('counts 1 of 2 when one block is already gone (Spark’s integration scenario)', async () => {
    await writeFileAt(blockFilePath(info, 'rdd_1_1'), 'x');
    assert.equal(await resolver.removeBlocks(info, ['rdd_1_1', 'rdd_1_2']), 1);
  });

  it('never turns other names into paths', async () => {
    const checksum = blockFilePath(info, 'shuffle_0_0_0.checksum.ADLER32');
    await writeFileAt(checksum, Buffer.alloc(32));
    const decoy = path.join(localDir, '0c', 'rdd_01_1');
    await writeFileAt(decoy, 'x');
    const names = [
      'shuffle_0_0_0.checksum.ADLER32',
      'shuffle_0_0_0',
      'broadcast_1',
      '../../blockmgr-0f3c/0c/shuffle_0_0_0.data',
      '/etc/passwd',
      'rdd_01_1',
      '',
    ];
    assert.equal(await resolver.removeBlocks(info, names), 0);
    assert.equal(await exists(checksum), true);
    assert.equal(await exists(path.join(localDir, '0c', 'shuffle_0_0_0.data')), true);
  });

  it('does not delete a directory that sits where a block would', async () => {
    const dir = blockFilePath(info, 'rdd_9_9');
    await writeFileAt(path.join(dir, 'inside'), 'x');
    assert.equal(await resolver.removeBlocks(info, ['rdd_9_9']), 0);
    assert.equal(await exists(path.join(dir, 'inside')), true);
  });
});
