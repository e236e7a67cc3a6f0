// The partition checksums Spark writes beside a map output (spec §4.4), computed incrementally so
// a partition of any size is checked with a fixed buffer: java.util.zip's Adler32, CRC32 and
// CRC32C, each a 32-bit value.
import { crc32 as zlibCrc32 } from 'node:zlib';

export type ChecksumAlgorithm = 'ADLER32' | 'CRC32' | 'CRC32C';

/** Spark's names, matched case-sensitively as Spark does. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['ADLER32', 'CRC32', 'CRC32C'];

export function isChecksumAlgorithm(name: string): name is ChecksumAlgorithm {
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(name);
}

const ADLER_MODULUS = 65521;
// Largest run of bytes before the sums must be reduced to stay exact (zlib's NMAX).
const ADLER_RUN = 5552;

/** Adler-32 of `bytes`, continuing from `previous` (1 for a fresh checksum). */
export function adler32(bytes: Uint8Array, previous = 1): number {
  let a = previous & 0xffff;
  let b = (previous >>> 16) & 0xffff;
  let i = 0;
  while (i < bytes.length) {
    const end = Math.min(i + ADLER_RUN, bytes.length);
    for (; i < end; i++) {
      a += bytes[i] ?? 0;
      b += a;
    }
    a %= ADLER_MODULUS;
    b %= ADLER_MODULUS;
  }
  return ((b << 16) | a) >>> 0;
}

/** CRC-32 (ISO-HDLC, as java.util.zip.CRC32), continuing from `previous` (0 when fresh). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  return zlibCrc32(bytes, previous) >>> 0;
}

// CRC-32C (Castagnoli), reflected polynomial. Eight 256-entry tables laid end to end (table k
// advances a byte by k more zero bytes) let the loop take 8 bytes per step.
const CASTAGNOLI = 0x82f63b78;
const CRC32C_TABLE: Int32Array = (() => {
  const table = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CASTAGNOLI : c >>> 1;
    table[n] = c;
  }
  for (let i = 256; i < table.length; i++) {
    const c = table[i - 256] ?? 0;
    table[i] = (c >>> 8) ^ (table[c & 0xff] ?? 0);
  }
  return table;
})();

/** CRC-32C (as java.util.zip.CRC32C), continuing from `previous` (0 when fresh). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  const t = CRC32C_TABLE;
  let crc = ~previous;
  let i = 0;
  const fast = bytes.length - (bytes.length % 8);
  for (; i < fast; i += 8) {
    const low =
      crc ^
      ((bytes[i] ?? 0) |
        ((bytes[i + 1] ?? 0) << 8) |
        ((bytes[i + 2] ?? 0) << 16) |
        ((bytes[i + 3] ?? 0) << 24));
    crc =
      (t[0x700 | (low & 0xff)] ?? 0) ^
      (t[0x600 | ((low >>> 8) & 0xff)] ?? 0) ^
      (t[0x500 | ((low >>> 16) & 0xff)] ?? 0) ^
      (t[0x400 | (low >>> 24)] ?? 0) ^
      (t[0x300 | (bytes[i + 4] ?? 0)] ?? 0) ^
      (t[0x200 | (bytes[i + 5] ?? 0)] ?? 0) ^
      (t[0x100 | (bytes[i + 6] ?? 0)] ?? 0) ^
      (t[bytes[i + 7] ?? 0] ?? 0);
  }
  for (; i < bytes.length; i++) {
    crc = (t[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

/** A checksum fed piece by piece; `value` is the unsigned 32-bit result so far. */
export interface RunningChecksum {
  update(bytes: Uint8Array): void;
  readonly value: number;
}

export function createChecksum(algorithm: ChecksumAlgorithm): RunningChecksum {
  const step = algorithm === 'ADLER32' ? adler32 : algorithm === 'CRC32' ? crc32 : crc32c;
  let value = algorithm === 'ADLER32' ? 1 : 0;
  return {
    update(bytes) {
      value = step(bytes, value);
    },
    get value() {
      return value;
    },
  };
}
