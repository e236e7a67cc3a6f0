// Block ids: the shapes the shuffle service accepts, everything it refuses, and the file names.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';
import {
  blockIdName,
  isRemovableBlockFile,
  parseBlockId,
  rddFile,
  shuffleChecksumFile,
  shuffleDataFile,
  shuffleIndexFile,
  type BlockId,
} from '../../../../src/shuffle/resolver/block-id.ts';

describe('parseBlockId accepts', () => {
  const cases: [string, BlockId][] = [
    ['shuffle_0_1_2', { kind: 'shuffle', shuffleId: 0, mapId: 1n, reduceId: 2 }],
    [
      'shuffle_0_1_2_3',
      { kind: 'shuffle-batch', shuffleId: 0, mapId: 1n, startReduceId: 2, endReduceId: 3 },
    ],
    ['rdd_2_5', { kind: 'rdd', rddId: 2, splitIndex: 5 }],
    [
      'shuffleChunk_1_2_3_4',
      { kind: 'shuffle-chunk', shuffleId: 1, shuffleMergeId: 2, reduceId: 3, chunkId: 4 },
    ],
    [
      'shuffle_2147483647_9223372036854775807_2147483647',
      { kind: 'shuffle', shuffleId: 2147483647, mapId: 9223372036854775807n, reduceId: 2147483647 },
    ],
    [
      'shuffle_3_5000000000_0_200',
      {
        kind: 'shuffle-batch',
        shuffleId: 3,
        mapId: 5000000000n,
        startReduceId: 0,
        endReduceId: 200,
      },
    ],
  ];
  for (const [text, expected] of cases) {
    it(text, () => {
      assert.deepEqual(parseBlockId(text), expected);
    });
  }

  it('reads leading zeros as Java parseInt does, and names the block canonically', () => {
    const id = parseBlockId('shuffle_00_007_01');
    assert.deepEqual(id, { kind: 'shuffle', shuffleId: 0, mapId: 7n, reduceId: 1 });
    assert.equal(blockIdName(id), 'shuffle_0_7_1');
  });
});

describe('parseBlockId rejects', () => {
  for (const text of [
    'shuffle_0_1',
    'shuffle_-1_1_2',
    'shuffle_0_1_2_2',
    'shuffle_0_1_3_2',
    'shuffle_0_99999999999999999999_1',
    'shuffle_0_9223372036854775808_1',
    'shuffle_2147483648_1_2',
    'shuffle_0_1_2147483648',
    'rdd_2147483648_0',
    'broadcast_1',
    'shuffle_0_1_2x',
    '../x',
    'shuffle_+1_1_2',
    'shuffle_0_1_2_',
    '_shuffle_0_1_2',
    'shuffle__1_2',
    'shuffle_0_1_2_3_4',
    'rdd_1',
    'rdd_1_2_3',
    'shuffleChunk_1_2_3',
    'shuffle_0_1_ 2',
    'shuffle_0_1_2\n',
    'shuffle_0x1_1_2',
    'shuffle_1e3_1_2',
    'shuffle_٣_1_2',
    'SHUFFLE_0_1_2',
    'shuffleMerged_app_0_0_0',
    'shufflePush_0_0_0_0',
    '',
    `rdd_1_${'1'.repeat(300)}`,
  ]) {
    it(JSON.stringify(text), () => {
      assert.throws(
        () => parseBlockId(text),
        (error: unknown) =>
          error instanceof ShuffleError &&
          error.code === 'ESS_BAD_BLOCK_ID' &&
          error.message.startsWith('Unexpected block id format: '),
      );
    });
  }

  it("words the error as Spark does: 'Unexpected block id format: broadcast_1'", () => {
    assert.throws(() => parseBlockId('broadcast_1'), {
      code: 'ESS_BAD_BLOCK_ID',
      message: 'Unexpected block id format: broadcast_1',
    });
  });

  it('says why an empty batch is refused', () => {
    assert.throws(() => parseBlockId('shuffle_0_1_2_2'), /end reduce id greater than its start/);
  });

  it('shortens an absurdly long id in the message', () => {
    const text = `broadcast_${'9'.repeat(1000)}`;
    assert.throws(
      () => parseBlockId(text),
      (error: unknown) => error instanceof ShuffleError && error.message.length < 200,
    );
  });
});

describe('blockIdName', () => {
  for (const text of [
    'shuffle_0_1_2',
    'shuffle_7_9223372036854775807_0_12',
    'rdd_2_5',
    'shuffleChunk_1_2_3_4',
  ]) {
    it(`round-trips ${text}`, () => {
      assert.equal(blockIdName(parseBlockId(text)), text);
    });
  }
});

describe('file names', () => {
  it('names the map output files with reduce id 0', () => {
    assert.equal(shuffleDataFile(3, 12345678901n), 'shuffle_3_12345678901_0.data');
    assert.equal(shuffleIndexFile(3, 12345678901n), 'shuffle_3_12345678901_0.index');
    assert.equal(shuffleChecksumFile(0, 0n, 'ADLER32'), 'shuffle_0_0_0.checksum.ADLER32');
    assert.equal(rddFile(2, 5), 'rdd_2_5');
  });
});

describe('isRemovableBlockFile', () => {
  for (const name of [
    'rdd_2_5',
    'shuffle_0_0_0.index',
    'shuffle_0_0_0.data',
    'shuffle_12_9223372036854775807_0.data',
  ]) {
    it(`allows ${name}`, () => {
      assert.equal(isRemovableBlockFile(name), true);
    });
  }
  for (const name of [
    'shuffle_0_0_1.index',
    'shuffle_0_0_0.checksum.ADLER32',
    'shuffle_0_0_0',
    'shuffle_0_00_0.data',
    'rdd_02_5',
    'rdd_2_5.data',
    'shuffle_0_9223372036854775808_0.data',
    'shuffle_2147483648_0_0.index',
    '../shuffle_0_0_0.data',
    'x/rdd_1_1',
    'blockmgr-1',
    'broadcast_1',
    '',
  ]) {
    it(`refuses ${JSON.stringify(name)}`, () => {
      assert.equal(isRemovableBlockFile(name), false);
    });
  }
});
