// DiagnoseCorruption's decision and the reply's wire ordinals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CORRUPTION_CAUSE_ORDINAL,
  decideCause,
} from '../../../../src/shuffle/resolver/corruption-diagnosis.ts';

describe('CORRUPTION_CAUSE_ORDINAL', () => {
  it('numbers the causes as Spark’s enum does', () => {
    assert.deepEqual(CORRUPTION_CAUSE_ORDINAL, {
      DISK_ISSUE: 0,
      NETWORK_ISSUE: 1,
      UNKNOWN_ISSUE: 2,
      CHECKSUM_VERIFY_PASS: 3,
      UNSUPPORTED_CHECKSUM_ALGORITHM: 4,
    });
  });
});

describe('decideCause', () => {
  it('passes when writer, disk and reader agree', () => {
    assert.equal(decideCause(0x11e60398n, 0x11e60398, 0x11e60398n), 'CHECKSUM_VERIFY_PASS');
  });

  it('blames the network when only the reader differs', () => {
    assert.equal(decideCause(0x11e60398n, 0x11e60398, 0x11e60399n), 'NETWORK_ISSUE');
  });

  it('blames the disk when the bytes on disk no longer match the writer', () => {
    assert.equal(decideCause(0x11e60398n, 0x11e60399, 0x11e60398n), 'DISK_ISSUE');
    // Disk wins even when the reader also differs.
    assert.equal(decideCause(1n, 2, 3n), 'DISK_ISSUE');
  });

  it('compares as Java longs: a 32-bit value is zero-extended, never sign-extended', () => {
    // 0xCBF43926 has its top bit set; stored as the long 3421780262.
    assert.equal(decideCause(0xcbf43926n, 0xcbf43926, 0xcbf43926n), 'CHECKSUM_VERIFY_PASS');
    assert.equal(decideCause(-0x340bc6dan, 0xcbf43926, 0xcbf43926n), 'DISK_ISSUE');
  });

  it('reads the reader’s i64 the same whether decoded signed or unsigned', () => {
    // A reader value of -1 as a long, handed over as the unsigned 2^64 - 1.
    assert.equal(decideCause(5n, 5, 2n ** 64n - 1n), 'NETWORK_ISSUE');
    assert.equal(decideCause(-1n, 0xffffffff, 2n ** 64n - 1n), 'DISK_ISSUE');
  });
});
