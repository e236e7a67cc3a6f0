// DiagnoseCorruption (spec §4.5): three checksums of one partition decide where a corrupt fetch
// went wrong. The writer's (checksum file) against a fresh one over the bytes on disk tells a disk
// problem; the fresh one against the reader's tells a network problem; equal all round passes.
import type { FileHandle } from 'node:fs/promises';
import { createChecksum, type ChecksumAlgorithm } from './checksum.ts';

export type CorruptionCause =
  | 'DISK_ISSUE'
  | 'NETWORK_ISSUE'
  | 'UNKNOWN_ISSUE'
  | 'CHECKSUM_VERIFY_PASS'
  | 'UNSUPPORTED_CHECKSUM_ALGORITHM';

/** The `cause` byte of the CorruptionCause reply (Spark's enum ordinals). */
export const CORRUPTION_CAUSE_ORDINAL: Readonly<Record<CorruptionCause, number>> = {
  DISK_ISSUE: 0,
  NETWORK_ISSUE: 1,
  UNKNOWN_ISSUE: 2,
  CHECKSUM_VERIFY_PASS: 3,
  UNSUPPORTED_CHECKSUM_ALGORITHM: 4,
};

/** Bytes read per step while checksumming a partition; memory use does not grow with it. */
export const CHECKSUM_READ_BUFFER = 64 * 1024;

/**
 * The writer's checksum of partition `reduceId` from an open checksum file of `size` bytes, or
 * undefined when the file is too short to hold it.
 */
export async function readStoredChecksum(
  checksumFile: FileHandle,
  size: number,
  reduceId: number,
): Promise<bigint | undefined> {
  const position = reduceId * 8;
  if (position + 8 > size) return undefined;
  const buffer = Buffer.alloc(8);
  const { bytesRead } = await checksumFile.read(buffer, 0, 8, position);
  return bytesRead === 8 ? buffer.readBigInt64BE(0) : undefined;
}

/**
 * Checksum of `[offset, offset + length)` of `file`, streamed through one fixed buffer; undefined
 * when the file ends before the range does.
 */
export async function checksumOfRange(
  file: FileHandle,
  offset: number,
  length: number,
  algorithm: ChecksumAlgorithm,
): Promise<number | undefined> {
  const checksum = createChecksum(algorithm);
  const buffer = Buffer.alloc(Math.min(CHECKSUM_READ_BUFFER, Math.max(length, 1)));
  let done = 0;
  while (done < length) {
    const want = Math.min(buffer.length, length - done);
    const { bytesRead } = await file.read(buffer, 0, want, offset + done);
    if (bytesRead === 0) return undefined;
    checksum.update(buffer.subarray(0, bytesRead));
    done += bytesRead;
  }
  return checksum.value;
}

/**
 * Spark's decision. All three are compared as Java longs: the 32-bit values zero-extended, whatever
 * signedness the caller decoded the wire i64 with.
 */
export function decideCause(
  storedByWriter: bigint,
  recomputed: number,
  checksumByReader: bigint,
): CorruptionCause {
  const writer = BigInt.asIntN(64, storedByWriter);
  const fresh = BigInt(recomputed);
  const reader = BigInt.asIntN(64, checksumByReader);
  if (writer !== fresh) return 'DISK_ISSUE';
  if (writer !== reader) return 'NETWORK_ISSUE';
  return 'CHECKSUM_VERIFY_PASS';
}
