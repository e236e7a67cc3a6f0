// Spark block ids and the file names derived from them (spec §4.2). Parsing is strict: only the
// shapes the external shuffle service serves, plain decimal digits in Java's int/long range, so a
// hostile id never reaches the disk layout as anything but a canonical name.
import { ShuffleError } from '../errors.ts';

export type BlockId =
  | {
      readonly kind: 'shuffle';
      readonly shuffleId: number;
      readonly mapId: bigint;
      readonly reduceId: number;
    }
  | {
      readonly kind: 'shuffle-batch';
      readonly shuffleId: number;
      readonly mapId: bigint;
      readonly startReduceId: number;
      /** Exclusive. */
      readonly endReduceId: number;
    }
  | { readonly kind: 'rdd'; readonly rddId: number; readonly splitIndex: number }
  | {
      readonly kind: 'shuffle-chunk';
      readonly shuffleId: number;
      readonly shuffleMergeId: number;
      readonly reduceId: number;
      readonly chunkId: number;
    };

export const INT32_MAX = 2 ** 31 - 1;
export const INT64_MAX = 2n ** 63n - 1n;

/** Longest id we look at; real ones are under 80 characters. */
const MAX_BLOCK_ID_LENGTH = 256;

/** Non-negative decimal, no sign, at most `max`; leading zeros allowed as Java's parseInt does. */
function parseDecimal(text: string, max: bigint): bigint | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const digits = text.replace(/^0+(?=[0-9])/, '');
  if (digits.length > 19) return undefined;
  const value = BigInt(digits);
  return value <= max ? value : undefined;
}

function badBlockId(text: string, reason?: string): ShuffleError {
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  const suffix = reason === undefined ? '' : ` (${reason})`;
  return new ShuffleError('ESS_BAD_BLOCK_ID', `Unexpected block id format: ${shown}${suffix}`);
}

export function parseBlockId(text: string): BlockId {
  if (text.length === 0 || text.length > MAX_BLOCK_ID_LENGTH) throw badBlockId(text);
  const parts = text.split('_');
  const kind = parts[0];
  const fields = parts.slice(1);
  const expected = kind === 'rdd' ? [2] : kind === 'shuffle' ? [3, 4] : [4];
  if (
    (kind !== 'rdd' && kind !== 'shuffle' && kind !== 'shuffleChunk') ||
    !expected.includes(fields.length)
  ) {
    throw badBlockId(text);
  }
  const numbers: bigint[] = [];
  for (const [index, field] of fields.entries()) {
    const max = kind === 'shuffle' && index === 1 ? INT64_MAX : BigInt(INT32_MAX);
    const value = parseDecimal(field, max);
    if (value === undefined) {
      throw badBlockId(text, 'ids must be non-negative decimal numbers within Java int/long range');
    }
    numbers.push(value);
  }
  const [a = 0n, b = 0n, c = 0n, d] = numbers;
  if (kind === 'rdd') return { kind: 'rdd', rddId: Number(a), splitIndex: Number(b) };
  if (kind === 'shuffleChunk') {
    return {
      kind: 'shuffle-chunk',
      shuffleId: Number(a),
      shuffleMergeId: Number(b),
      reduceId: Number(c),
      chunkId: Number(d ?? 0n),
    };
  }
  if (d === undefined) {
    return { kind: 'shuffle', shuffleId: Number(a), mapId: b, reduceId: Number(c) };
  }
  if (d <= c) throw badBlockId(text, 'a batch needs its end reduce id greater than its start');
  return {
    kind: 'shuffle-batch',
    shuffleId: Number(a),
    mapId: b,
    startReduceId: Number(c),
    endReduceId: Number(d),
  };
}

/** Spark's canonical name of a block (`BlockId.name`). */
export function blockIdName(id: BlockId): string {
  switch (id.kind) {
    case 'shuffle':
      return `shuffle_${id.shuffleId}_${id.mapId}_${id.reduceId}`;
    case 'shuffle-batch':
      return `shuffle_${id.shuffleId}_${id.mapId}_${id.startReduceId}_${id.endReduceId}`;
    case 'rdd':
      return `rdd_${id.rddId}_${id.splitIndex}`;
    case 'shuffle-chunk':
      return `shuffleChunk_${id.shuffleId}_${id.shuffleMergeId}_${id.reduceId}_${id.chunkId}`;
  }
}

// A map output's files all carry reduce id 0 (Spark's NOOP_REDUCE_ID).
export function shuffleDataFile(shuffleId: number, mapId: bigint): string {
  return `shuffle_${shuffleId}_${mapId}_0.data`;
}

export function shuffleIndexFile(shuffleId: number, mapId: bigint): string {
  return `shuffle_${shuffleId}_${mapId}_0.index`;
}

/** `algorithm` goes into the name verbatim: callers pass only a supported, upper-case name. */
export function shuffleChecksumFile(shuffleId: number, mapId: bigint, algorithm: string): string {
  return `shuffle_${shuffleId}_${mapId}_0.checksum.${algorithm}`;
}

export function rddFile(rddId: number, splitIndex: number): string {
  return `rdd_${rddId}_${splitIndex}`;
}

/**
 * True for the names RemoveBlocks may delete: `rdd_R_P`, `shuffle_S_M_0.index`,
 * `shuffle_S_M_0.data`, in canonical spelling only (the disk hash is over the exact text, so a
 * non-canonical spelling would name a file Spark never wrote).
 */
export function isRemovableBlockFile(name: string): boolean {
  if (name.length > MAX_BLOCK_ID_LENGTH) return false;
  const file = /^shuffle_([0-9]+)_([0-9]+)_0\.(?:index|data)$/.exec(name);
  if (file !== null) {
    const shuffleId = parseDecimal(file[1] ?? '', BigInt(INT32_MAX));
    const mapId = parseDecimal(file[2] ?? '', INT64_MAX);
    if (shuffleId === undefined || mapId === undefined) return false;
    const canonical = name.endsWith('.index')
      ? shuffleIndexFile(Number(shuffleId), mapId)
      : shuffleDataFile(Number(shuffleId), mapId);
    return canonical === name;
  }
  if (!name.startsWith('rdd_')) return false;
  try {
    const id = parseBlockId(name);
    return id.kind === 'rdd' && blockIdName(id) === name;
  } catch {
    return false;
  }
}

export function isInt32Id(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= INT32_MAX;
}

export function isMapId(value: bigint): boolean {
  return value >= 0n && value <= INT64_MAX;
}
