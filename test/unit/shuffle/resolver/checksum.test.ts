// Checksums: published vectors, agreement with slow reference implementations written here, and
// the same result however the input is split.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  adler32,
  CHECKSUM_ALGORITHMS,
  crc32,
  crc32c,
  createChecksum,
  isChecksumAlgorithm,
} from '../../../../src/shuffle/resolver/checksum.ts';

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Adler-32 straight from its definition, reducing after every byte. */
function referenceAdler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return b * 65536 + a;
}

/** CRC-32C bit by bit, no tables. */
function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('Adler-32', () => {
  it('of "Wikipedia" is 0x11E60398', () => {
    assert.equal(adler32(ascii('Wikipedia')), 0x11e60398);
  });

  it('of nothing is 1', () => {
    assert.equal(adler32(new Uint8Array(0)), 1);
  });

  it('of 1 MiB of 0xff matches the definition (sums reduced in time)', () => {
    const bytes = Buffer.alloc(1024 * 1024, 0xff);
    assert.equal(adler32(bytes), referenceAdler32(bytes));
  });

  it('of random bytes matches the definition', () => {
    const bytes = randomBytes(100_003);
    assert.equal(adler32(bytes), referenceAdler32(bytes));
  });
});

describe('CRC-32', () => {
  it('of "123456789" is 0xCBF43926', () => {
    assert.equal(crc32(ascii('123456789')), 0xcbf43926);
  });

  it('of nothing is 0', () => {
    assert.equal(crc32(new Uint8Array(0)), 0);
  });
});

describe('CRC-32C', () => {
  it('of "123456789" is 0xE3069283', () => {
    assert.equal(crc32c(ascii('123456789')), 0xe3069283);
  });

  // RFC 3720 appendix B.4.
  it('of 32 zero bytes is 0x8A9136AA', () => {
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  });

  it('of 32 bytes of 0xff is 0x62A8AB43', () => {
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  });

  it('of bytes 0..31 is 0x46DD794E', () => {
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  });

  it('of nothing is 0', () => {
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  it('of random bytes of every length up to 40 matches the bitwise definition', () => {
    const bytes = randomBytes(40);
    for (let length = 0; length <= 40; length++) {
      const part = bytes.subarray(0, length);
      assert.equal(crc32c(part), referenceCrc32c(part), `length ${length}`);
    }
  });

  it('of 100 KB of random bytes matches the bitwise definition', () => {
    const bytes = randomBytes(100_001);
    assert.equal(crc32c(bytes), referenceCrc32c(bytes));
  });
});

describe('createChecksum', () => {
  const input = randomBytes(20_000);
  const whole = {
    ADLER32: referenceAdler32(input),
    CRC32: crc32(input),
    CRC32C: referenceCrc32c(input),
  };

  for (const algorithm of CHECKSUM_ALGORITHMS) {
    it(`${algorithm} gives the same value however the input is split`, () => {
      for (const cut of [0, 1, 7, 8, 9, 5552, 5553, 11104, 19_999, 20_000]) {
        const checksum = createChecksum(algorithm);
        checksum.update(input.subarray(0, cut));
        checksum.update(input.subarray(cut));
        assert.equal(checksum.value, whole[algorithm], `cut at ${cut}`);
      }
      const bytewise = createChecksum(algorithm);
      for (let i = 0; i < 3000; i++) bytewise.update(input.subarray(i, i + 1));
      const direct = createChecksum(algorithm);
      direct.update(input.subarray(0, 3000));
      assert.equal(bytewise.value, direct.value);
    });
  }

  it('starts from each algorithm’s empty value', () => {
    assert.equal(createChecksum('ADLER32').value, 1);
    assert.equal(createChecksum('CRC32').value, 0);
    assert.equal(createChecksum('CRC32C').value, 0);
  });
});

describe('isChecksumAlgorithm', () => {
  it('knows exactly Spark’s three names, case-sensitively', () => {
    for (const name of ['ADLER32', 'CRC32', 'CRC32C'])
      assert.equal(isChecksumAlgorithm(name), true);
    for (const name of ['adler32', 'Crc32', 'MD5', '', 'CRC32C ', '../x', 'ADLER32\0']) {
      assert.equal(isChecksumAlgorithm(name), false, name);
    }
  });
});
