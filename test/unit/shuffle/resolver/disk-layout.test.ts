// Disk layout: the spec's §4.1 test vectors (computed with Java's String.hashCode), and the
// corner cases of Java's hash and File normalisation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  blockFilePath,
  javaStringHash,
  nonNegativeHash,
  normalizeLikeJavaFile,
  subDirName,
  type ExecutorShuffleInfo,
} from '../../../../src/shuffle/resolver/disk-layout.ts';

function executor(localDirs: string[], subDirsPerLocalDir = 64): ExecutorShuffleInfo {
  return { localDirs, subDirsPerLocalDir, shuffleManager: 'sort' };
}

describe('javaStringHash', () => {
  for (const [text, hash] of [
    ['shuffle_0_0_0.index', 861282032],
    ['shuffle_0_0_0.data', 581811660],
    ['rdd_2_5', 1054352923],
    ['shuffle_0_0_0.checksum.ADLER32', -103986100],
    ['', 0],
    ['a', 97],
    ['hello', 99162322],
    // Its hash is Integer.MIN_VALUE, whose absolute value does not exist.
    ['polygenelubricants', -2147483648],
    // U+1F600 is two UTF-16 code units (0xD83D 0xDE00): 31 * 0xD83D + 0xDE00.
    ['\u{1F600}', 1772899],
    ['é', 233],
  ] as const) {
    it(`${JSON.stringify(text)} → ${hash}`, () => {
      assert.equal(javaStringHash(text), hash);
    });
  }
});

describe('nonNegativeHash', () => {
  it('is |hash|', () => {
    assert.equal(nonNegativeHash('shuffle_0_0_0.checksum.ADLER32'), 103986100);
    assert.equal(nonNegativeHash('shuffle_0_0_0.index'), 861282032);
  });

  it('maps Integer.MIN_VALUE to 0', () => {
    assert.equal(nonNegativeHash('polygenelubricants'), 0);
  });
});

describe('blockFilePath: spec §4.1 vectors', () => {
  const dirs = ['/d0', '/d1', '/d2'];
  for (const [file, dirCount, expected] of [
    ['shuffle_0_0_0.index', 1, '/d0/30/shuffle_0_0_0.index'],
    ['shuffle_0_0_0.index', 2, '/d0/38/shuffle_0_0_0.index'],
    ['shuffle_0_0_0.index', 3, '/d2/3a/shuffle_0_0_0.index'],
    ['shuffle_0_0_0.data', 1, '/d0/0c/shuffle_0_0_0.data'],
    ['rdd_2_5', 2, '/d1/0d/rdd_2_5'],
    ['shuffle_0_0_0.checksum.ADLER32', 1, '/d0/34/shuffle_0_0_0.checksum.ADLER32'],
  ] as const) {
    it(`${file} with ${dirCount} dir(s) → ${expected}`, () => {
      assert.equal(blockFilePath(executor(dirs.slice(0, dirCount)), file), expected);
    });
  }

  it('uses the hash of MIN_VALUE as 0: first dir, subdir 00', () => {
    assert.equal(
      blockFilePath(executor(['/a', '/b', '/c']), 'polygenelubricants'),
      '/a/00/polygenelubricants',
    );
  });

  it('writes subdirs past 0xff with as many hex digits as needed', () => {
    // 861282032 % 4096 = 3824 = 0xef0; % 1000 = 32 = 0x20.
    assert.equal(
      blockFilePath(executor(['/d'], 4096), 'shuffle_0_0_0.index'),
      '/d/ef0/shuffle_0_0_0.index',
    );
    assert.equal(
      blockFilePath(executor(['/d'], 1000), 'shuffle_0_0_0.index'),
      '/d/20/shuffle_0_0_0.index',
    );
  });

  it('with one subdir everything lands in 00', () => {
    assert.equal(blockFilePath(executor(['/d'], 1), 'rdd_2_5'), '/d/00/rdd_2_5');
  });
});

describe('blockFilePath: normalisation like java.io.File', () => {
  it('collapses repeated slashes and drops the trailing one of the dir', () => {
    assert.equal(
      blockFilePath(executor(['/tmp//spark/blockmgr-1/']), 'shuffle_0_0_0.data'),
      '/tmp/spark/blockmgr-1/0c/shuffle_0_0_0.data',
    );
  });

  it('leaves `..` to the kernel, as Java does', () => {
    assert.equal(
      blockFilePath(executor(['/a/b/../c']), 'shuffle_0_0_0.data'),
      '/a/b/../c/0c/shuffle_0_0_0.data',
    );
  });

  for (const [input, output] of [
    ['/a//b///c/', '/a/b/c'],
    ['/', '/'],
    ['//', '/'],
    ['/a/./b', '/a/./b'],
  ] as const) {
    it(`${input} → ${output}`, () => {
      assert.equal(normalizeLikeJavaFile(input), output);
    });
  }

  it('pads subdir names to two hex digits', () => {
    assert.equal(subDirName(0), '00');
    assert.equal(subDirName(10), '0a');
    assert.equal(subDirName(255), 'ff');
    assert.equal(subDirName(256), '100');
  });
});

describe('blockFilePath: impossible registrations', () => {
  it('refuses an executor without local dirs', () => {
    assert.throws(() => blockFilePath(executor([]), 'rdd_1_1'), {
      code: 'ESS_BAD_MESSAGE',
      message: /no local dirs/,
    });
  });

  for (const subDirs of [0, -1, 1.5, Number.NaN]) {
    it(`refuses subDirsPerLocalDir=${subDirs}`, () => {
      assert.throws(() => blockFilePath(executor(['/d'], subDirs), 'rdd_1_1'), {
        code: 'ESS_BAD_MESSAGE',
        message: /subDirsPerLocalDir/,
      });
    });
  }
});
