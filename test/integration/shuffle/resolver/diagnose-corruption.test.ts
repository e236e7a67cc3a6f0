// DiagnoseCorruption over real map outputs and checksum files: each of the five causes, for each
// algorithm, with checksum values taken from published vectors rather than from the code under test.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, rm, symlink } from 'node:fs/promises';
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
import {
  checksumBytes,
  indexBytes,
  makeTemp,
  rejectsWith,
  removeTemp,
  writeFileAt,
} from './map-output.ts';

let root = '';
let info: ExecutorShuffleInfo;
let resolver: BlockResolver;

const VECTORS = [
  { algorithm: 'ADLER32', input: 'Wikipedia', value: 0x11e60398n, empty: 1n },
  { algorithm: 'CRC32', input: '123456789', value: 0xcbf43926n, empty: 0n },
  { algorithm: 'CRC32C', input: '123456789', value: 0xe3069283n, empty: 0n },
] as const;

/** Map 0 of shuffle 0: partitions "spark!", the vector's input, and an empty one. */
async function writeMapOutput(
  algorithm: string,
  input: string,
  stored: readonly bigint[],
): Promise<void> {
  const partitions = ['spark!', input, ''];
  await writeFileAt(blockFilePath(info, 'shuffle_0_0_0.data'), partitions.join(''));
  await writeFileAt(
    blockFilePath(info, 'shuffle_0_0_0.index'),
    indexBytes(partitions.map((p) => p.length)),
  );
  await writeFileAt(
    blockFilePath(info, `shuffle_0_0_0.checksum.${algorithm}`),
    checksumBytes(stored),
  );
}

/** Flips one bit of the data file at `position`, as a failing disk might. */
async function flipBit(position: number): Promise<void> {
  const handle = await open(blockFilePath(info, 'shuffle_0_0_0.data'), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, position);
    byte[0] = (byte[0] ?? 0) ^ 0x10;
    await handle.write(byte, 0, 1, position);
  } finally {
    await handle.close();
  }
}

beforeEach(async () => {
  root = await makeTemp('diagnose');
  info = {
    localDirs: [path.join(root, 'blockmgr-1'), path.join(root, 'blockmgr-2')],
    subDirsPerLocalDir: 64,
    shuffleManager: 'sort',
  };
  resolver = createBlockResolver({ allowedRoots: [root] });
});

afterEach(async () => {
  await removeTemp(root);
});

for (const { algorithm, input, value, empty } of VECTORS) {
  describe(`diagnoseCorruption with ${algorithm}`, () => {
    beforeEach(async () => {
      await writeMapOutput(algorithm, input, [0n, value, empty]);
    });

    it('CHECKSUM_VERIFY_PASS when writer, disk and reader agree', async () => {
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 1, value, algorithm),
        'CHECKSUM_VERIFY_PASS',
      );
    });

    it('NETWORK_ISSUE when only the reader’s checksum differs', async () => {
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 1, value ^ 1n, algorithm),
        'NETWORK_ISSUE',
      );
    });

    it('DISK_ISSUE when the bytes on disk changed after the writer summed them', async () => {
      await flipBit(6 + 3);
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 1, value, algorithm),
        'DISK_ISSUE',
      );
    });

    it('DISK_ISSUE is about this partition only: a change elsewhere does not count', async () => {
      await flipBit(2);
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 1, value, algorithm),
        'CHECKSUM_VERIFY_PASS',
      );
    });

    it('UNKNOWN_ISSUE when the checksum file is missing', async () => {
      await rm(blockFilePath(info, `shuffle_0_0_0.checksum.${algorithm}`));
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 1, value, algorithm),
        'UNKNOWN_ISSUE',
      );
    });

    it('CHECKSUM_VERIFY_PASS for an empty partition summed as nothing', async () => {
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 2, empty, algorithm),
        'CHECKSUM_VERIFY_PASS',
      );
    });
  });
}

describe('diagnoseCorruption, other outcomes', () => {
  for (const algorithm of ['MD5', 'adler32', 'crc32c', '', '../../../etc/passwd', 'CRC32C\0']) {
    it(`UNSUPPORTED_CHECKSUM_ALGORITHM for ${JSON.stringify(algorithm)}, before any file is looked at`, async () => {
      // No map output exists at all: the algorithm is judged first.
      assert.equal(
        await resolver.diagnoseCorruption(info, 0, 0n, 0, 0n, algorithm),
        'UNSUPPORTED_CHECKSUM_ALGORITHM',
      );
    });
  }

  it('UNKNOWN_ISSUE when the map output is missing', async () => {
    assert.equal(await resolver.diagnoseCorruption(info, 0, 0n, 0, 0n, 'ADLER32'), 'UNKNOWN_ISSUE');
  });

  it('UNKNOWN_ISSUE when the checksum file is too short for the partition', async () => {
    await writeMapOutput('ADLER32', 'Wikipedia', [0n]);
    assert.equal(
      await resolver.diagnoseCorruption(info, 0, 0n, 1, 0x11e60398n, 'ADLER32'),
      'UNKNOWN_ISSUE',
    );
  });

  it('UNKNOWN_ISSUE when the reduce id is beyond the map output', async () => {
    await writeMapOutput('ADLER32', 'Wikipedia', [0n, 0x11e60398n, 1n]);
    assert.equal(await resolver.diagnoseCorruption(info, 0, 0n, 3, 0n, 'ADLER32'), 'UNKNOWN_ISSUE');
  });

  it('checksums a partition larger than its read buffer in full', async () => {
    const big = randomBytes(300_001);
    let a = 1;
    let b = 0;
    for (const byte of big) {
      a = (a + byte) % 65521;
      b = (b + a) % 65521;
    }
    const adler = BigInt(b * 65536 + a);
    const data = Buffer.concat([Buffer.from('head'), big, Buffer.from('tail')]);
    await writeFileAt(blockFilePath(info, 'shuffle_1_5_0.data'), data);
    await writeFileAt(blockFilePath(info, 'shuffle_1_5_0.index'), indexBytes([4, big.length, 4]));
    await writeFileAt(
      blockFilePath(info, 'shuffle_1_5_0.checksum.ADLER32'),
      checksumBytes([0n, adler, 0n]),
    );
    assert.equal(
      await resolver.diagnoseCorruption(info, 1, 5n, 1, adler, 'ADLER32'),
      'CHECKSUM_VERIFY_PASS',
    );
    assert.equal(
      await resolver.diagnoseCorruption(info, 1, 5n, 1, adler + 1n, 'ADLER32'),
      'NETWORK_ISSUE',
    );
  });

  it('throws ESS_PATH_NOT_ALLOWED when the checksum file leads out of the roots', async () => {
    const outside = await makeTemp('diagnose-outside');
    try {
      await writeMapOutput('CRC32', '123456789', [0n, 0xcbf43926n, 0n]);
      const checksumFile = blockFilePath(info, 'shuffle_0_0_0.checksum.CRC32');
      await rm(checksumFile);
      const planted = path.join(outside, 'planted');
      await writeFileAt(planted, checksumBytes([0n, 0xcbf43926n, 0n]));
      await symlink(planted, checksumFile);
      await rejectsWith(
        resolver.diagnoseCorruption(info, 0, 0n, 1, 0xcbf43926n, 'CRC32'),
        'ESS_PATH_NOT_ALLOWED',
      );
    } finally {
      await removeTemp(outside);
    }
  });
});
