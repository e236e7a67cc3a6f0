// Index files on disk: exact ranges, empty partitions, and every way an index can be wrong.
import assert from 'node:assert/strict';
import { open, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readIndexRange } from '../../../../src/shuffle/resolver/index-file.ts';
import { indexBytes, makeTemp, rejectsWith, removeTemp, writeFileAt } from './map-output.ts';

let dir = '';
before(async () => {
  dir = await makeTemp('index');
});
after(async () => {
  await removeTemp(dir);
});

async function indexFile(name: string, content: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFileAt(file, content);
  return file;
}

describe('readIndexRange', () => {
  // Partitions of 3, 0, 5 and 2 bytes: offsets 0 3 3 8 10.
  const lengths = [3, 0, 5, 2];

  for (const [start, end, offset, length] of [
    [0, 1, 0, 3],
    [1, 2, 3, 0],
    [2, 3, 3, 5],
    [3, 4, 8, 2],
    [0, 4, 0, 10],
    [1, 3, 3, 5],
    [1, 4, 3, 7],
  ] as const) {
    it(`[${start}, ${end}) is ${length} bytes at ${offset}`, async () => {
      const file = await indexFile('plain.index', indexBytes(lengths));
      assert.deepEqual(await readIndexRange(file, start, end), { offset, length });
    });
  }

  it('reads large offsets exactly', async () => {
    const file = await indexFile('large.index', indexBytes([2 ** 40, 7, 2 ** 33]));
    assert.deepEqual(await readIndexRange(file, 1, 2), { offset: 2 ** 40, length: 7 });
    assert.deepEqual(await readIndexRange(file, 1, 3), { offset: 2 ** 40, length: 7 + 2 ** 33 });
  });

  it('reads two offsets in place, never the whole file (an 8 GiB sparse index)', async () => {
    const file = path.join(dir, 'huge.index');
    const partitions = 2 ** 30; // (2^30 + 1) offsets of 8 bytes: just over 8 GiB.
    await writeFileAt(file, Buffer.alloc(0));
    await truncate(file, (partitions + 1) * 8);
    const handle = await open(file, 'r+');
    try {
      const value = Buffer.alloc(8);
      value.writeBigInt64BE(123_456_789n);
      await handle.write(value, 0, 8, (partitions - 1) * 8);
      value.writeBigInt64BE(123_456_799n);
      await handle.write(value, 0, 8, partitions * 8);
    } finally {
      await handle.close();
    }
    assert.equal((await stat(file)).size, (partitions + 1) * 8);
    const rssBefore = process.memoryUsage().rss;
    assert.deepEqual(await readIndexRange(file, partitions - 1, partitions), {
      offset: 123_456_789,
      length: 10,
    });
    assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024);
  });

  it('says Spark’s "Failed to open file" for a missing index', async () => {
    const file = path.join(dir, 'missing', 'shuffle_0_0_0.index');
    await rejectsWith(
      readIndexRange(file, 0, 1),
      'ESS_FILE_MISSING',
      `Failed to open file: ${file}`,
    );
  });

  it('refuses a partition beyond the end, telling how many the index holds', async () => {
    const file = await indexFile('three.index', indexBytes([1, 2, 3]));
    await rejectsWith(readIndexRange(file, 3, 4), 'ESS_BAD_BLOCK_ID', /holds 3 partitions/);
    await rejectsWith(readIndexRange(file, 2, 5), 'ESS_BAD_BLOCK_ID', /\[2, 5\) is beyond/);
    assert.deepEqual(await readIndexRange(file, 2, 3), { offset: 3, length: 3 });
  });

  for (const [name, bytes] of [
    ['empty', Buffer.alloc(0)],
    ['4 bytes', Buffer.alloc(4)],
    ['not a multiple of 8', indexBytes([1, 2]).subarray(0, 20)],
  ] as const) {
    it(`calls an index of ${name} truncated`, async () => {
      const file = await indexFile(`cut-${bytes.length}.index`, bytes);
      await rejectsWith(readIndexRange(file, 0, 1), 'ESS_FILE_TRUNCATED', /Corrupt shuffle index/);
    });
  }

  it('an index of one offset holds no partitions', async () => {
    const file = await indexFile('zero.index', indexBytes([]));
    await rejectsWith(readIndexRange(file, 0, 1), 'ESS_BAD_BLOCK_ID', /holds 0 partitions/);
  });

  it('refuses decreasing offsets as corrupt', async () => {
    const bytes = indexBytes([5, 5]);
    bytes.writeBigInt64BE(2n, 16); // offsets 0 5 2
    const file = await indexFile('decreasing.index', bytes);
    await rejectsWith(readIndexRange(file, 1, 2), 'ESS_FILE_TRUNCATED', /not a valid/);
    assert.deepEqual(await readIndexRange(file, 0, 1), { offset: 0, length: 5 });
  });

  it('refuses negative offsets as corrupt', async () => {
    const bytes = indexBytes([5, 5]);
    bytes.writeBigInt64BE(-8n, 8);
    const file = await indexFile('negative.index', bytes);
    await rejectsWith(readIndexRange(file, 1, 2), 'ESS_FILE_TRUNCATED', /-8/);
  });

  it('refuses offsets past 2^53 as corrupt', async () => {
    const bytes = indexBytes([5]);
    bytes.writeBigInt64BE(2n ** 53n + 1n, 8);
    const file = await indexFile('beyond-safe.index', bytes);
    await rejectsWith(readIndexRange(file, 0, 1), 'ESS_FILE_TRUNCATED');
  });

  for (const [start, end] of [
    [-1, 0],
    [2, 2],
    [3, 2],
    [0.5, 1],
    [0, 2 ** 31 + 1],
    [Number.NaN, 1],
  ] as const) {
    it(`refuses the range [${start}, ${end}) before opening anything`, async () => {
      await rejectsWith(
        readIndexRange(path.join(dir, 'no-such.index'), start, end),
        'ESS_BAD_BLOCK_ID',
        /Invalid reduce id range/,
      );
    });
  }
});
