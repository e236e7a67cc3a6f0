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

/**
 * The captured fields of each spec, each with its place in a scanner's occurrence counts; made once
 * per spec, as a scanner is made for every call.
 */
const wantedOf = new WeakMap<ScanSpec, ReadonlyMap<number, number>>();

export function createFieldScanner(spec: ScanSpec, messageLength: number): FieldScanner {
  let wanted = wantedOf.get(spec);
  if (wanted === undefined) {
    wanted = new Map([...new Set(spec.capture)].map((field, index) => [field, index]));
    wantedOf.set(spec, wanted);
  }
  return new IncrementalScanner(spec, wanted, messageLength);
}

// A class, not closures: one is made for every call, so its methods are shared, not allocated.
class IncrementalScanner implements FieldScanner {
  readonly fields: CapturedField[] = [];
  readonly oversized: number[] = [];
  offset = 0;
  passed = 0;
  private readonly maxCaptureBytes: number;
  private readonly maxOccurrences: number;
  /** Occurrences of each captured field, by its place in `wanted`; allocated on first use. */
  private occurrences: Uint32Array | undefined;
  /** Fields 1–31 seen, as bits; fields 32–1023 in `seenHigh`. */
  private seenBits = 0;
  private seenHigh: Uint8Array | undefined;
  private failed: GatewayError | undefined;

  // The field being read.
  private state: State = 'tag';
  private fieldStart = 0;
  private field = 0;
  private wireType = 0;
  // A varint is summed in a number while it is exact (7 bytes, 49 bits); longer ones, rare outside
  // captured uint64 fields, continue in a bigint.
  private varint = 0;
  private varintBig: bigint | undefined;
  private varintBytes = 0;
  /** The last complete varint: as a number (exact up to 2^53), `lastVarintBig` when it was longer. */
  private lastVarint = 0;
  private lastVarintBig: bigint | undefined;
  /** Value bytes still to come (LEN, I32, I64). */
  private remaining = 0;
  private capture: Buffer | undefined;
  private captured = 0;

  private readonly spec: ScanSpec;
  private readonly wanted: ReadonlyMap<number, number>;
  private readonly messageLength: number;

  constructor(spec: ScanSpec, wanted: ReadonlyMap<number, number>, messageLength: number) {
    this.spec = spec;
    this.wanted = wanted;
    this.messageLength = messageLength;
    this.maxCaptureBytes = spec.maxCaptureBytes ?? DEFAULT_MAX_CAPTURE_BYTES;
    this.maxOccurrences = spec.maxOccurrences ?? DEFAULT_MAX_OCCURRENCES;
  }

  first(wantedField: number): CapturedField | undefined {
    return this.fields.find((entry) => entry.field === wantedField);
  }

  last(wantedField: number): CapturedField | undefined {
    return this.fields.findLast((entry) => entry.field === wantedField);
  }

  hasSeen(wantedField: number): boolean {
    const place = this.wanted.get(wantedField);
    if (place !== undefined) return (this.occurrences?.[place] ?? 0) > 0;
    if (wantedField < 1 || wantedField >= LOW_FIELDS || !Number.isInteger(wantedField))
      throw new RangeError(`hasSeen answers for fields 1–${LOW_FIELDS - 1} and captured fields`);
    if (wantedField < 32) return (this.seenBits & (1 << wantedField)) !== 0;
    return ((this.seenHigh?.[wantedField >> 3] ?? 0) & (1 << (wantedField & 7))) !== 0;
  }

  push(chunk: Buffer): void {
    if (this.failed !== undefined) throw this.failed;
    if (chunk.length > this.messageLength - this.offset) {
      this.failed = new GatewayError(
        'GW_INTERNAL',
        `${this.subject()} got ${this.offset + chunk.length} bytes but its gRPC length is ${this.messageLength}`,
      );
      throw this.failed;
    }
    let at = 0;
    while (at < chunk.length) {
      if (this.state === 'value') {
        const used = Math.min(this.remaining, chunk.length - at);
        if (this.capture !== undefined) chunk.copy(this.capture, this.captured, at, at + used);
        this.captured += used;
        this.remaining -= used;
        at += used;
        this.offset += used;
        if (this.remaining === 0) this.finishBytes();
        continue;
      }
      const byte = chunk[at] ?? 0;
      if (this.state === 'tag' && this.varintBytes === 0) this.fieldStart = this.offset;
      at++;
      this.offset++;
      if (!this.varintByte(byte)) continue;
      if (this.state === 'tag') this.beginValue(this.lastVarint);
      else if (this.state === 'varint') {
        if (this.wanted.has(this.field))
          this.record(EMPTY, this.lastVarintBig ?? BigInt(this.lastVarint));
        this.state = 'tag';
      } else this.beginBytes(this.lastVarint, this.wanted.has(this.field));
    }
    if (this.offset === this.messageLength && (this.state !== 'tag' || this.varintBytes > 0))
      this.fail(this.offset, `the message ends ${this.midField()}`);
  }

  end(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.offset < this.messageLength)
      this.fail(
        this.offset,
        `the message ended after ${this.offset} of its ${this.messageLength} bytes, ` +
          (this.state === 'tag' && this.varintBytes === 0 ? 'between fields' : this.midField()),
      );
  }

  private subject(): string {
    return this.spec.subject ?? 'the message';
  }

  private fail(at: number, problem: string): never {
    this.failed = new GatewayError(
      'GW_MALFORMED_MESSAGE',
      `malformed protobuf in ${this.subject()} at byte ${at}: ${problem}`,
    );
    throw this.failed;
  }

  private record(value: Buffer, varintValue?: bigint): void {
    const base = {
      field: this.field,
      wireType: this.wireType,
      value,
      start: this.fieldStart,
      end: this.offset,
    };
    this.fields.push(varintValue === undefined ? base : { ...base, varint: varintValue });
  }

  /** Starts reading the value of the field whose tag just ended. */
  private beginValue(tag: number): void {
    const { fieldStart } = this;
    if (tag > 0xffffffff) this.fail(fieldStart, 'a field tag does not fit in 32 bits');
    const field = tag >>> 3;
    const wireType = tag & 7;
    this.field = field;
    this.wireType = wireType;
    if (field === 0) this.fail(fieldStart, 'field number 0 is not a valid field');
    if (wireType === 3 || wireType === 4)
      this.fail(
        fieldStart,
        `field ${field} uses groups (wire type ${wireType}), which Spark Connect never sends`,
      );
    if (wireType > WIRE_I32)
      this.fail(fieldStart, `field ${field} has the invalid wire type ${wireType}`);
    if (field < 32) this.seenBits |= 1 << field;
    else if (field < LOW_FIELDS) {
      this.seenHigh ??= new Uint8Array(LOW_FIELDS / 8);
      this.seenHigh[field >> 3] = (this.seenHigh[field >> 3] ?? 0) | (1 << (field & 7));
    }
    if (field > this.passed) this.passed = field;
    this.capture = undefined;
    const place = this.wanted.get(field);
    if (place !== undefined) {
      this.occurrences ??= new Uint32Array(this.wanted.size);
      const count = (this.occurrences[place] ?? 0) + 1;
      if (count > this.maxOccurrences)
        this.fail(fieldStart, `field ${field} occurs more than ${this.maxOccurrences} times`);
      this.occurrences[place] = count;
    }
    if (wireType === WIRE_VARINT || wireType === WIRE_LEN) {
      this.state = wireType === WIRE_VARINT ? 'varint' : 'length';
      return;
    }
    this.beginBytes(wireType === WIRE_I64 ? 8 : 4, this.wanted.has(field));
  }

  /** Starts a run of `length` value bytes, copied out only when captured and small enough. */
  private beginBytes(length: number, keep: boolean): void {
    const left = this.messageLength - this.offset;
    if (length > left)
      this.fail(
        this.fieldStart,
        // A length over 2^53 is named exactly; a fixed-size field claims its own size.
        `field ${this.field} claims ${(this.wireType === WIRE_LEN ? this.lastVarintBig : undefined) ?? length} bytes but only ${left} remain`,
      );
    if (keep && this.wireType === WIRE_LEN && length > this.maxCaptureBytes) {
      if (!this.oversized.includes(this.field)) this.oversized.push(this.field);
      keep = false;
    }
    this.remaining = length;
    this.captured = 0;
    this.capture = keep ? Buffer.allocUnsafe(length) : undefined;
    this.state = 'value';
    if (length === 0) this.finishBytes();
  }

  private finishBytes(): void {
    if (this.capture !== undefined) this.record(this.capture);
    this.capture = undefined;
    this.state = 'tag';
  }

  /** Feeds one varint byte; true once its last byte arrived (then in lastVarint/lastVarintBig). */
  private varintByte(byte: number): boolean {
    if (this.varintBig === undefined && this.varintBytes < EXACT_VARINT_BYTES)
      this.varint += (byte & 0x7f) * 2 ** (7 * this.varintBytes);
    else {
      this.varintBig ??= BigInt(this.varint);
      this.varintBig |= BigInt(byte & 0x7f) << BigInt(7 * this.varintBytes);
    }
    this.varintBytes++;
    if ((byte & 0x80) === 0) {
      if (this.varintBig === undefined) {
        this.lastVarint = this.varint;
        this.lastVarintBig = undefined;
      } else {
        this.lastVarintBig = BigInt.asUintN(64, this.varintBig);
        this.lastVarint = Number(this.lastVarintBig);
      }
      this.varint = 0;
      this.varintBig = undefined;
      this.varintBytes = 0;
      return true;
    }
    if (this.varintBytes === MAX_VARINT_BYTES)
      this.fail(
        this.offset - this.varintBytes,
        `a varint is longer than ${MAX_VARINT_BYTES} bytes`,
      );
    return false;
  }

  private midField(): string {
    return this.state === 'tag'
      ? 'inside a field tag'
      : `inside field ${this.field} (which began at byte ${this.fieldStart})`;
  }
}

/** Scans a whole message that is already in memory. */
export function scanMessage(bytes: Buffer, spec: ScanSpec): FieldScanner {
  const scanner = createFieldScanner(spec, bytes.length);
  scanner.push(bytes);
  scanner.end();
  return scanner;
}

// ---- Whole small messages ----

// ignoreBOM keeps a leading U+FEFF, as protobuf-java does: the session id the gateway keys on is
// the one the server keys on.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

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
