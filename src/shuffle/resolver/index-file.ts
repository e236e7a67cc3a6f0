// A map output's index file (spec §4.3): (partitions + 1) big-endian i64 cumulative offsets into
// the data file. A range needs just two of them, read in place; the file is never loaded whole.
import { open, type FileHandle } from 'node:fs/promises';
import { systemErrorCode } from '../../core/system-errors.ts';
import { ShuffleError } from '../errors.ts';
import { INT32_MAX } from './block-id.ts';
import { cannotOpen } from './confined-fs.ts';

/** A byte range of one file: what a chunk of a shuffle stream sends. */
export interface FileSegment {
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

export interface IndexRange {
  readonly offset: number;
  readonly length: number;
}

const OFFSET_BYTES = 8;

/** Throws ESS_BAD_BLOCK_ID unless `[start, end)` is a non-empty range of int reduce ids. */
export function checkReduceRange(startReduceId: number, endReduceId: number): void {
  const valid =
    Number.isInteger(startReduceId) &&
    Number.isInteger(endReduceId) &&
    startReduceId >= 0 &&
    endReduceId > startReduceId &&
    endReduceId <= INT32_MAX + 1;
  if (!valid) {
    throw new ShuffleError(
      'ESS_BAD_BLOCK_ID',
      `Invalid reduce id range [${startReduceId}, ${endReduceId}): reduce ids are non-negative ints and the end (exclusive) must be greater than the start`,
    );
  }
}

async function readFully(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buffer : buffer.subarray(0, filled);
}

function corrupt(indexPath: string, detail: string): ShuffleError {
  return new ShuffleError(
    'ESS_FILE_TRUNCATED',
    `Corrupt shuffle index file ${indexPath}: ${detail}; the map output cannot be served (Spark recomputes it after the fetch failure)`,
  );
}

/** `[start, end)` of an already opened index file of `size` bytes. */
export function readIndexRangeFrom(
  handle: FileHandle,
  size: number,
  indexPath: string,
  startReduceId: number,
  endReduceId: number,
): Promise<IndexRange> {
  return indexRange(
    (position, length) => readFully(handle, length, position),
    size,
    indexPath,
    startReduceId,
    endReduceId,
  );
}

/** `[start, end)` of an index held in memory. */
export function indexRangeOf(
  index: Buffer,
  indexPath: string,
  startReduceId: number,
  endReduceId: number,
): Promise<IndexRange> {
  return indexRange(
    (position, length) => Promise.resolve(index.subarray(position, position + length)),
    index.length,
    indexPath,
    startReduceId,
    endReduceId,
  );
}

async function indexRange(
  read: (position: number, length: number) => Promise<Buffer>,
  size: number,
  indexPath: string,
  startReduceId: number,
  endReduceId: number,
): Promise<IndexRange> {
  checkReduceRange(startReduceId, endReduceId);
  if (size < OFFSET_BYTES || size % OFFSET_BYTES !== 0) {
    throw corrupt(
      indexPath,
      `it is ${size} bytes, but an index is a non-empty whole number of 8-byte offsets (truncated?)`,
    );
  }
  const partitions = size / OFFSET_BYTES - 1;
  if (endReduceId > partitions) {
    const asked =
      endReduceId - startReduceId === 1
        ? `partition ${startReduceId}`
        : `partitions [${startReduceId}, ${endReduceId})`;
    throw new ShuffleError(
      'ESS_BAD_BLOCK_ID',
      `Shuffle index file ${indexPath} holds ${partitions} partitions, so ${asked} is beyond its end; the block id names a partition this map output does not have`,
    );
  }
  const startPosition = startReduceId * OFFSET_BYTES;
  const endPosition = endReduceId * OFFSET_BYTES;
  let first: bigint;
  let last: bigint;
  if (endReduceId - startReduceId === 1) {
    const both = await read(startPosition, 2 * OFFSET_BYTES);
    if (both.length < 2 * OFFSET_BYTES) throw corrupt(indexPath, 'it shrank while being read');
    first = both.readBigInt64BE(0);
    last = both.readBigInt64BE(OFFSET_BYTES);
  } else {
    const a = await read(startPosition, OFFSET_BYTES);
    const b = await read(endPosition, OFFSET_BYTES);
    if (a.length < OFFSET_BYTES || b.length < OFFSET_BYTES) {
      throw corrupt(indexPath, 'it shrank while being read');
    }
    first = a.readBigInt64BE(0);
    last = b.readBigInt64BE(0);
  }
  if (first < 0n || last < first || last > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt(
      indexPath,
      `offsets ${first} (partition ${startReduceId}) and ${last} (partition ${endReduceId}) are not a valid non-decreasing range`,
    );
  }
  return { offset: Number(first), length: Number(last - first) };
}

/** Byte range of partitions `[startReduceId, endReduceId)` in the data file that `indexPath` indexes. */
export async function readIndexRange(
  indexPath: string,
  startReduceId: number,
  endReduceId: number,
): Promise<IndexRange> {
  checkReduceRange(startReduceId, endReduceId);
  let handle: FileHandle;
  try {
    handle = await open(indexPath, 'r');
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') {
      throw new ShuffleError('ESS_FILE_MISSING', `Failed to open file: ${indexPath}`, {
        cause: error,
      });
    }
    throw cannotOpen(indexPath, error);
  }
  try {
    const { size } = await handle.stat();
    return await readIndexRangeFrom(handle, size, indexPath, startReduceId, endReduceId);
  } finally {
    await handle.close();
  }
}
