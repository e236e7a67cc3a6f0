// An incremental scanner over the top-level fields of ONE protobuf message whose bytes arrive in
// chunks (the `data` events of a gRPC message). It copies out the few fields it was asked for and
// skips everything else by counting, so a request carrying a 100 MiB plan costs no more memory
// than one carrying a tiny plan. It checks structure only: it never looks inside a field.
// Beside it, the few helpers that read and write whole small messages with @bufbuild/protobuf.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../errors.ts';

export interface ScanSpec {
  /** Top-level field numbers to capture. */
  readonly capture: readonly number[];
  /** A captured LEN field longer than this is skipped and listed in `oversized`. Default 64 KiB. */
  readonly maxCaptureBytes?: number;
  /**
   * Occurrences of one captured field accepted before the message counts as malformed. Protobuf
   * allows repeats, but a flood of them would make the captured list grow without bound. Default 16.
   */
  readonly maxOccurrences?: number;
  /** Names the message in errors, e.g. "the ExecutePlan request". Default "the message". */
  readonly subject?: string;
}

/** Wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface CapturedField {
  readonly field: number;
  readonly wireType: number;
  /** LEN: the value's bytes; I32/I64: the raw little-endian bytes; VARINT: empty. */
  readonly value: Buffer;
  /** VARINT only: the value as an unsigned 64-bit number. */
  readonly varint?: bigint;
  /** Offset of the field's tag in the message. */
  readonly start: number;
  /** Offset just after the field's value. */
  readonly end: number;
}

export interface FieldScanner {
  /** Scans the next bytes of the message. Throws GatewayError on a malformed message. */
  push(chunk: Buffer): void;
  /** The message is complete: checks that it ended on a field boundary. */
  end(): void;
  /** Captured occurrences, in the order they appeared. */
  readonly fields: readonly CapturedField[];
  /** Field numbers in `capture` with a LEN occurrence over maxCaptureBytes (each listed once). */
  readonly oversized: readonly number[];
  first(field: number): CapturedField | undefined;
  /** The last occurrence: the one protobuf keeps for a scalar field. */
  last(field: number): CapturedField | undefined;
  /** Message bytes consumed so far. */
  readonly offset: number;
  /**
   * Whether an occurrence of `field` has begun, captured or not. Answered for field numbers up to
   * 1023 and for captured fields; a record of every number would let a message of millions of
   * distinct field numbers grow the scanner without bound. Throws RangeError for other numbers.
   */
  hasSeen(field: number): boolean;
  /**
   * The highest field number begun so far (0 before the first field). Protobuf's encoders (Java,
   * Python, Go) write fields in number order, so once this is past the fields a caller waits for,
   * they are almost surely absent; the parser still accepts any order, so a caller that must be
   * sure keeps scanning to the end.
   */
  readonly passed: number;
}

const DEFAULT_MAX_CAPTURE_BYTES = 64 * 1024;
const DEFAULT_MAX_OCCURRENCES = 16;
const MAX_VARINT_BYTES = 10;
const EXACT_VARINT_BYTES = 7;
const LOW_FIELDS = 1024;
const EMPTY = Buffer.alloc(0);

type State = 'tag' | 'varint' | 'length' | 'value';

/** The capture set of each spec, made once: a scanner is made for every call. */
const wantedOf = new WeakMap<ScanSpec, ReadonlySet<number>>();

export function createFieldScanner(spec: ScanSpec, messageLength: number): FieldScanner {
  let wanted = wantedOf.get(spec);
  if (wanted === undefined) {
    wanted = new Set(spec.capture);
    wantedOf.set(spec, wanted);
  }
  const maxCaptureBytes = spec.maxCaptureBytes ?? DEFAULT_MAX_CAPTURE_BYTES;
  const maxOccurrences = spec.maxOccurrences ?? DEFAULT_MAX_OCCURRENCES;
  const subject = spec.subject ?? 'the message';
  const fields: CapturedField[] = [];
  const oversized: number[] = [];
  // Allocated on first use: most messages name only a few low fields.
  let occurrences: Map<number, number> | undefined;
  /** Fields 1–31 seen, as bits; fields 32–1023 in `seenHigh`. */
  let seenBits = 0;
  let seenHigh: Uint8Array | undefined;
  let seenCaptured: Set<number> | undefined;
  let passed = 0;
  let offset = 0;
  let failed: GatewayError | undefined;

  // The field being read.
  let state: State = 'tag';
  let fieldStart = 0;
  let field = 0;
  let wireType = 0;
  // A varint is summed in a number while it is exact (7 bytes, 49 bits); longer ones, rare outside
  // captured uint64 fields, continue in a bigint.
  let varint = 0;
  let varintBig: bigint | undefined;
  let varintBytes = 0;
  /** The last complete varint: `value` as a number (exact up to 2^53), `big` when it was longer. */
  let lastVarint = 0;
  let lastVarintBig: bigint | undefined;
  /** Value bytes still to come (LEN, I32, I64). */
  let remaining = 0;
  let capture: Buffer | undefined;
  let captured = 0;

  const fail = (at: number, problem: string): never => {
    failed = new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `malformed protobuf in ${subject} at byte ${at}: ${problem}`,
    );
    throw failed;
  };

  const record = (value: Buffer, varintValue?: bigint): void => {
    const base = { field, wireType, value, start: fieldStart, end: offset };
    fields.push(varintValue === undefined ? base : { ...base, varint: varintValue });
  };

  /** Starts reading the value of the field whose tag just ended. */
  const beginValue = (tag: number): void => {
    if (tag > 0xffffffff) fail(fieldStart, 'a field tag does not fit in 32 bits');
    field = tag >>> 3;
    wireType = tag & 7;
    if (field === 0) fail(fieldStart, 'field number 0 is not a valid field');
    if (wireType === 3 || wireType === 4)
      fail(
        fieldStart,
        `field ${field} uses groups (wire type ${wireType}), which Spark Connect never sends`,
      );
    if (wireType > WIRE_I32)
      fail(fieldStart, `field ${field} has the invalid wire type ${wireType}`);
    if (field < 32) seenBits |= 1 << field;
    else if (field < LOW_FIELDS) {
      seenHigh ??= new Uint8Array(LOW_FIELDS / 8);
      seenHigh[field >> 3] = (seenHigh[field >> 3] ?? 0) | (1 << (field & 7));
    }
    if (field > passed) passed = field;
    capture = undefined;
    if (wanted.has(field)) {
      (seenCaptured ??= new Set()).add(field);
      occurrences ??= new Map();
      const count = (occurrences.get(field) ?? 0) + 1;
      if (count > maxOccurrences)
        fail(fieldStart, `field ${field} occurs more than ${maxOccurrences} times`);
      occurrences.set(field, count);
    }
    if (wireType === WIRE_VARINT || wireType === WIRE_LEN) {
      state = wireType === WIRE_VARINT ? 'varint' : 'length';
      return;
    }
    beginBytes(wireType === WIRE_I64 ? 8 : 4, wanted.has(field));
  };

  /** Starts a run of `length` value bytes, copied out only when captured and small enough. */
  const beginBytes = (length: number, keep: boolean): void => {
    const left = messageLength - offset;
    if (length > left)
      fail(
        fieldStart,
        `field ${field} claims ${lastVarintBig ?? length} bytes but only ${left} remain`,
      );
    if (keep && wireType === WIRE_LEN && length > maxCaptureBytes) {
      if (!oversized.includes(field)) oversized.push(field);
      keep = false;
    }
    remaining = length;
    captured = 0;
    capture = keep ? Buffer.allocUnsafe(remaining) : undefined;
    state = 'value';
    if (remaining === 0) finishBytes();
  };

  const finishBytes = (): void => {
    if (capture !== undefined) record(capture);
    capture = undefined;
    state = 'tag';
  };

  /** Feeds one varint byte; true once its last byte arrived (then in lastVarint/lastVarintBig). */
  const varintByte = (byte: number): boolean => {
    if (varintBig === undefined && varintBytes < EXACT_VARINT_BYTES)
      varint += (byte & 0x7f) * 2 ** (7 * varintBytes);
    else {
      varintBig ??= BigInt(varint);
      varintBig |= BigInt(byte & 0x7f) << BigInt(7 * varintBytes);
    }
    varintBytes++;
    if ((byte & 0x80) === 0) {
      if (varintBig === undefined) {
        lastVarint = varint;
        lastVarintBig = undefined;
      } else {
        lastVarintBig = BigInt.asUintN(64, varintBig);
        lastVarint = Number(lastVarintBig);
      }
      varint = 0;
      varintBig = undefined;
      varintBytes = 0;
      return true;
    }
    if (varintBytes === MAX_VARINT_BYTES)
      fail(offset - varintBytes, `a varint is longer than ${MAX_VARINT_BYTES} bytes`);
    return false;
  };

  const midField = (): string =>
    state === 'tag'
      ? 'inside a field tag'
      : `inside field ${field} (which began at byte ${fieldStart})`;

  return {
    fields,
    oversized,
    get offset() {
      return offset;
    },
    get passed() {
      return passed;
    },
    first: (wantedField) => fields.find((entry) => entry.field === wantedField),
    last: (wantedField) => fields.findLast((entry) => entry.field === wantedField),
    hasSeen(wantedField) {
      if (wanted.has(wantedField)) return seenCaptured?.has(wantedField) ?? false;
      if (wantedField < 1 || wantedField >= LOW_FIELDS || !Number.isInteger(wantedField))
        throw new RangeError(`hasSeen answers for fields 1–${LOW_FIELDS - 1} and captured fields`);
      if (wantedField < 32) return (seenBits & (1 << wantedField)) !== 0;
      return ((seenHigh?.[wantedField >> 3] ?? 0) & (1 << (wantedField & 7))) !== 0;
    },
    push(chunk) {
      if (failed !== undefined) throw failed;
      if (chunk.length > messageLength - offset) {
        failed = new GatewayError(
          'GW_INTERNAL',
          `${subject} got ${offset + chunk.length} bytes but its gRPC length is ${messageLength}`,
        );
        throw failed;
      }
      let at = 0;
      while (at < chunk.length) {
        if (state === 'value') {
          const used = Math.min(remaining, chunk.length - at);
          if (capture !== undefined) chunk.copy(capture, captured, at, at + used);
          captured += used;
          remaining -= used;
          at += used;
          offset += used;
          if (remaining === 0) finishBytes();
          continue;
        }
        const byte = chunk[at] ?? 0;
        if (state === 'tag' && varintBytes === 0) fieldStart = offset;
        at++;
        offset++;
        if (!varintByte(byte)) continue;
        if (state === 'tag') beginValue(lastVarint);
        else if (state === 'varint') {
          if (wanted.has(field)) record(EMPTY, lastVarintBig ?? BigInt(lastVarint));
          state = 'tag';
        } else beginBytes(lastVarint, wanted.has(field));
      }
      if (offset === messageLength && (state !== 'tag' || varintBytes > 0))
        fail(offset, `the message ends ${midField()}`);
    },
    end() {
      if (failed !== undefined) throw failed;
      if (offset < messageLength)
        fail(
          offset,
          `the message ended after ${offset} of its ${messageLength} bytes, ` +
            (state === 'tag' && varintBytes === 0 ? 'between fields' : midField()),
        );
    },
  };
}

/** Scans a whole message that is already in memory. */
export function scanMessage(bytes: Buffer, spec: ScanSpec): FieldScanner {
  const scanner = createFieldScanner(spec, bytes.length);
  scanner.push(bytes);
  scanner.end();
  return scanner;
}

// ---- Whole small messages ----

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Protobuf strings must be UTF-8 and Spark's server refuses others, so this throws TypeError too. */
export function decodeUtf8(bytes: Uint8Array): string {
  return strictUtf8.decode(bytes);
}

export function readUtf8(reader: BinaryReader): string {
  return decodeUtf8(reader.bytes());
}

/** Walks a message's fields; `visit` must consume each value. Errors become GW_MALFORMED_MESSAGE. */
export function forEachField(
  bytes: Uint8Array,
  subject: string,
  visit: (field: number, wireType: WireType, reader: BinaryReader, start: number) => void,
): void {
  const reader = new BinaryReader(bytes);
  let start = 0;
  try {
    while (reader.pos < reader.len) {
      start = reader.pos;
      const [field, wireType] = reader.tag();
      visit(field, wireType, reader, start);
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `malformed protobuf in ${subject} at byte ${start}: ${reason}`,
      { cause: error },
    );
  }
}

export function encodeLenField(field: number, value: Uint8Array): Buffer {
  return toBuffer(new BinaryWriter().tag(field, WireType.LengthDelimited).bytes(value).finish());
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
