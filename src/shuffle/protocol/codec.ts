// Spark's primitive encodings (network-common `Encoders`): big-endian integers, strings and
// byte arrays with an i32 length, arrays with an i32 count. The reader checks every length
// against what is left before it allocates, so a hostile count cannot make it allocate.
import { ShuffleError } from '../errors.ts';

export class Reader {
  private offset = 0;
  private readonly buffer: Buffer;
  private readonly what: string;

  constructor(buffer: Buffer, what: string) {
    this.buffer = buffer;
    this.what = what;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private need(bytes: number, field: string): void {
    if (bytes < 0 || bytes > this.remaining) {
      throw new ShuffleError(
        'ESS_BAD_MESSAGE',
        `malformed ${this.what}: ${field} needs ${bytes} bytes but ${this.remaining} remain`,
      );
    }
  }

  u8(field = 'byte'): number {
    this.need(1, field);
    return this.buffer.readUInt8(this.offset++);
  }

  bool(field = 'bool'): boolean {
    return this.u8(field) !== 0;
  }

  i32(field = 'int'): number {
    this.need(4, field);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  i64(field = 'long'): bigint {
    this.need(8, field);
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  bytes(field = 'bytes'): Buffer {
    const length = this.i32(`${field} length`);
    this.need(length, field);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(field = 'string'): string {
    return this.bytes(field).toString('utf8');
  }

  /** A count of items each at least `minItemBytes` long, checked against what remains. */
  count(field: string, minItemBytes: number): number {
    const count = this.i32(`${field} count`);
    if (count < 0 || count * minItemBytes > this.remaining) {
      throw new ShuffleError(
        'ESS_BAD_MESSAGE',
        `malformed ${this.what}: ${field} claims ${count} items but only ${this.remaining} bytes remain`,
      );
    }
    return count;
  }

  strings(field = 'strings'): string[] {
    const count = this.count(field, 4);
    return Array.from({ length: count }, (_, index) => this.string(`${field}[${index}]`));
  }

  ints(field = 'ints'): number[] {
    const count = this.count(field, 4);
    return Array.from({ length: count }, () => this.i32(field));
  }

  longs(field = 'longs'): bigint[] {
    const count = this.count(field, 8);
    return Array.from({ length: count }, () => this.i64(field));
  }

  rest(): Buffer {
    const value = this.buffer.subarray(this.offset);
    this.offset = this.buffer.length;
    return value;
  }

  /** Fails when bytes are left over: a message that is longer than its fields is malformed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new ShuffleError(
        'ESS_BAD_MESSAGE',
        `malformed ${this.what}: ${this.remaining} unexpected trailing bytes`,
      );
    }
  }
}

/** Collects fields and produces one Buffer; lengths are computed from the values. */
export class Writer {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(part: Buffer): this {
    this.parts.push(part);
    this.size += part.length;
    return this;
  }

  u8(value: number): this {
    const part = Buffer.allocUnsafe(1);
    part.writeUInt8(value & 0xff);
    return this.push(part);
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  i32(value: number): this {
    const part = Buffer.allocUnsafe(4);
    part.writeInt32BE(value);
    return this.push(part);
  }

  i64(value: bigint): this {
    const part = Buffer.allocUnsafe(8);
    part.writeBigInt64BE(value);
    return this.push(part);
  }

  bytes(value: Uint8Array): this {
    this.i32(value.length);
    return this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  }

  string(value: string): this {
    return this.bytes(Buffer.from(value, 'utf8'));
  }

  strings(values: readonly string[]): this {
    this.i32(values.length);
    for (const value of values) this.string(value);
    return this;
  }

  ints(values: readonly number[]): this {
    this.i32(values.length);
    for (const value of values) this.i32(value);
    return this;
  }

  longs(values: readonly bigint[]): this {
    this.i32(values.length);
    for (const value of values) this.i64(value);
    return this;
  }

  raw(value: Buffer): this {
    return this.push(value);
  }

  get length(): number {
    return this.size;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
