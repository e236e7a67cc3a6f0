// Test fixtures: temp directories standing in for spark.local.dir, and map outputs written the way
// Spark's sort shuffle writes them (data file, index of cumulative offsets, checksum file).
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';

/** A fresh real temp dir; remove it with {@link removeTemp}. */
export async function makeTemp(prefix: string): Promise<string> {
  return realpath(await mkdtemp(path.join(tmpdir(), `sparkplane-resolver-${prefix}-`)));
}

export async function removeTemp(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export async function writeFileAt(file: string, content: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

/** Index bytes for partitions of these lengths: (n + 1) big-endian i64 cumulative offsets. */
export function indexBytes(lengths: readonly number[]): Buffer {
  const index = Buffer.alloc((lengths.length + 1) * 8);
  let offset = 0n;
  index.writeBigInt64BE(offset, 0);
  lengths.forEach((length, i) => {
    offset += BigInt(length);
    index.writeBigInt64BE(offset, (i + 1) * 8);
  });
  return index;
}

/** Checksum file bytes: one big-endian i64 per partition. */
export function checksumBytes(values: readonly bigint[]): Buffer {
  const bytes = Buffer.alloc(values.length * 8);
  values.forEach((value, i) => bytes.writeBigInt64BE(value, i * 8));
  return bytes;
}

/** Asserts `promise` rejects with a ShuffleError of `code` whose message passes `message`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp | string,
): Promise<ShuffleError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(
    caught instanceof ShuffleError,
    `expected a ShuffleError ${code}, got ${String(caught)}`,
  );
  assert.equal(caught.code, code, caught.message);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

/** The ShuffleError code of `error`, or undefined for any other error. */
export function codeOf(error: unknown): string | undefined {
  return error instanceof ShuffleError ? error.code : undefined;
}
