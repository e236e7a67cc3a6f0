// HPACK (RFC 7541), the header compression of HTTP/2, for the frame relay. The decoder mirrors one
// peer encoder's dynamic table for the life of a connection. The encoder is stateless (it never
// adds to or relies on a dynamic table), so its blocks can be interleaved on one connection with
// blocks from the peer's own encoder without the two tables drifting apart.
//
// Header names and values are octet strings; like node:http2 they are exposed as latin1 strings,
// one character per octet.
//
// A peer's encoder keeps using a 4096-byte table until it has read this side's SETTINGS, and only
// then sends a size update. A decoder created with a smaller maxTableSize would evict early on
// the blocks in between, so a relay announcing less than 4096 passes 4096 here.
import { Buffer } from 'node:buffer';
import { decodeHuffman, HUFFMAN_EOS, huffmanDecodedMaxBytes } from './hpack-huffman.ts';
import { STATIC_NAMES, STATIC_TABLE } from './hpack-static-table.ts';

/** A header block's fields in order; names are lower-case as HTTP/2 requires. */
export type HeaderField = readonly [name: string, value: string];

/**
 * A header block this side cannot decode or encode. For a decoder it is fatal to the connection
 * (RFC 7540 COMPRESSION_ERROR): the two dynamic tables may no longer agree.
 */
export class HpackError extends Error {
  readonly code = 'GW_HPACK';
  /** Byte offset in the header block where decoding failed; -1 when encoding. */
  readonly offset: number;

  constructor(message: string, offset = -1) {
    super(message);
    this.name = 'HpackError';
    this.offset = offset;
  }
}

export interface HpackDecoder {
  /** Decodes one complete header block (HEADERS + CONTINUATION payloads joined). Updates the dynamic table. Throws HpackError. */
  decode(block: Uint8Array): HeaderField[];
  /**
   * The decoding side announced a new SETTINGS_HEADER_TABLE_SIZE: the peer's encoder may now
   * resize its table up to it (with a table size update).
   */
  allowTableSize(size: number): void;
  /**
   * Counts the blocks that changed the dynamic table (an entry added, a size update): a relay
   * that drops a block it decoded knows from it whether the peer's table and its own now differ.
   */
  readonly tableChanges: number;
}

const ENTRY_OVERHEAD = 32;
const INTEGER_LIMIT = 2 ** 31;
const MAX_CONTINUATION_BYTES = 5;
const RESET = 'close the connection with COMPRESSION_ERROR';

/** The dynamic table as a ring of entries, newest at `newest`; index 0 is the newest entry. */
class DynamicTable {
  private ring: (HeaderField | undefined)[] = new Array<HeaderField | undefined>(16);
  private newest = 0;
  length = 0;
  size = 0;
  maxSize: number;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
  }

  get(index: number): HeaderField | undefined {
    return this.ring[(this.newest - index) & (this.ring.length - 1)];
  }

  add(field: HeaderField): void {
    const size = field[0].length + field[1].length + ENTRY_OVERHEAD;
    // RFC 7541 §4.4: an entry larger than the table empties it and is not added; not an error.
    this.evictUntil(this.maxSize - size);
    if (size > this.maxSize) return;
    if (this.length === this.ring.length) this.grow();
    this.newest = (this.newest + 1) & (this.ring.length - 1);
    this.ring[this.newest] = field;
    this.length++;
    this.size += size;
  }

  resize(maxSize: number): void {
    this.maxSize = maxSize;
    this.evictUntil(maxSize);
  }

  private evictUntil(limit: number): void {
    const mask = this.ring.length - 1;
    while (this.length > 0 && this.size > limit) {
      const oldest = (this.newest - this.length + 1) & mask;
      const field = this.ring[oldest];
      this.ring[oldest] = undefined;
      this.length--;
      if (field !== undefined) this.size -= field[0].length + field[1].length + ENTRY_OVERHEAD;
    }
  }

  private grow(): void {
    const grown = new Array<HeaderField | undefined>(this.ring.length * 2);
    for (let index = 0; index < this.length; index++)
      grown[this.length - 1 - index] = this.get(index);
    this.ring = grown;
    this.newest = this.length - 1;
  }
}

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;

function checkedLimit(value: number | undefined, fallback: number, what: string): number {
  const limit = value ?? fallback;
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > INTEGER_LIMIT - 1)
    throw new RangeError(`${what} must be an integer from 0 to 2^31 - 1, got ${String(value)}`);
  return limit;
}

class HeaderBlockDecoder implements HpackDecoder {
  private readonly table: DynamicTable;
  private maxTableSize: number;
  private readonly maxHeaderListBytes: number;
  private scratch = Buffer.allocUnsafe(256);
  private at = 0;
  private failed: HpackError | undefined;
  tableChanges = 0;

  constructor(maxTableSize: number, maxHeaderListBytes: number) {
    this.maxTableSize = maxTableSize;
    this.maxHeaderListBytes = maxHeaderListBytes;
    // Both sides start at HTTP/2's default until the encoder signals another size.
    this.table = new DynamicTable(Math.min(DEFAULT_TABLE_SIZE, maxTableSize));
  }

  allowTableSize(size: number): void {
    this.maxTableSize = checkedLimit(size, DEFAULT_TABLE_SIZE, 'table size');
  }

  decode(block: Uint8Array): HeaderField[] {
    if (this.failed !== undefined)
      throw new HpackError(
        `HPACK decoder is unusable since an earlier block failed (${this.failed.message})`,
        0,
      );
    const src = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    const fields: HeaderField[] = [];
    let listBytes = 0;
    let changed = false;
    this.at = 0;
    while (this.at < src.length) {
      const start = this.at;
      const first = src[start] ?? 0;
      let field: HeaderField;
      if (first >= 0x80) {
        field = this.lookup(this.readInteger(src, 0x7f), start);
      } else if (first >= 0x40) {
        field = this.readLiteral(src, 0x3f, start);
        this.table.add(field);
        changed = true;
      } else if (first >= 0x20) {
        if (fields.length > 0)
          throw this.fail(`table size update at byte ${start} follows a header field`, start);
        const size = this.readInteger(src, 0x1f);
        if (size > this.maxTableSize)
          throw this.fail(
            `table size update at byte ${start} asks for ${size} bytes, above the ${this.maxTableSize} this side allows`,
            start,
          );
        this.table.resize(size);
        changed = true;
        continue;
      } else {
        // 0001xxxx (never indexed) and 0000xxxx (without indexing) decode alike here; the
        // relay re-encodes with its own encoder, which never indexes either.
        field = this.readLiteral(src, 0x0f, start);
      }
      listBytes += field[0].length + field[1].length + ENTRY_OVERHEAD;
      if (listBytes > this.maxHeaderListBytes)
        throw this.fail(
          `header list exceeds ${this.maxHeaderListBytes} bytes at byte ${start}`,
          start,
        );
      fields.push(field);
    }
    if (changed) this.tableChanges++;
    return fields;
  }

  private fail(problem: string, offset: number): HpackError {
    this.failed = new HpackError(`HPACK header block: ${problem}; ${RESET}`, offset);
    return this.failed;
  }

  private lookup(index: number, offset: number): HeaderField {
    if (index === 0)
      throw this.fail(`index 0 at byte ${offset} is not a valid table index`, offset);
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] ?? ['', ''];
    const field =
      index - STATIC_TABLE.length <= this.table.length
        ? this.table.get(index - STATIC_TABLE.length - 1)
        : undefined;
    if (field === undefined)
      throw this.fail(
        `index ${index} at byte ${offset} is past the dynamic table (${this.table.length} entries)`,
        offset,
      );
    return field;
  }

  private readLiteral(src: Buffer, mask: number, start: number): HeaderField {
    const nameIndex = this.readInteger(src, mask);
    const name = nameIndex === 0 ? this.readString(src) : this.lookup(nameIndex, start)[0];
    return [name, this.readString(src)];
  }

  private readInteger(src: Buffer, mask: number): number {
    const start = this.at;
    let value = (src[this.at++] ?? 0) & mask;
    if (value < mask) return value;
    let factor = 1;
    for (let count = 0; ; count++) {
      if (this.at >= src.length)
        throw this.fail(`integer at byte ${start} is cut off by the end of the block`, start);
      if (count === MAX_CONTINUATION_BYTES)
        throw this.fail(`integer at byte ${start} has more than 5 continuation bytes`, start);
      const byte = src[this.at++] ?? 0;
      value += (byte & 0x7f) * factor;
      factor *= 128;
      if (value > INTEGER_LIMIT)
        throw this.fail(`integer at byte ${start} is larger than 2^31`, start);
      if (byte < 0x80) return value;
    }
  }

  private readString(src: Buffer): string {
    const start = this.at;
    if (start >= src.length)
      throw this.fail(`a string literal should start at byte ${start}, past the block`, start);
    const huffman = (src[start] ?? 0) >= 0x80;
    const length = this.readInteger(src, 0x7f);
    const from = this.at;
    if (length > src.length - from)
      throw this.fail(
        `string at byte ${start} is ${length} bytes long but only ${src.length - from} remain`,
        start,
      );
    this.at = from + length;
    if (!huffman) return src.toString('latin1', from, from + length);
    const room = huffmanDecodedMaxBytes(length);
    if (this.scratch.length < room)
      this.scratch = Buffer.allocUnsafe(Math.max(room, 2 * this.scratch.length));
    const written = decodeHuffman(src, from, from + length, this.scratch);
    if (written < 0)
      throw this.fail(
        written === HUFFMAN_EOS
          ? `Huffman string at byte ${start} contains the EOS symbol`
          : `Huffman string at byte ${start} ends with padding that is not up to 7 one bits`,
        start,
      );
    return this.scratch.toString('latin1', 0, written);
  }
}

/** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE this side announced (4096 by default); maxHeaderListBytes bounds the decoded list (RFC 7540 header list size: name+value+32 per field), default 64 KiB, exceeding it throws. */
export function createHpackDecoder(
  options: { maxTableSize?: number; maxHeaderListBytes?: number } = {},
): HpackDecoder {
  return new HeaderBlockDecoder(
    checkedLimit(options.maxTableSize, 4096, 'maxTableSize'),
    checkedLimit(options.maxHeaderListBytes, 64 * 1024, 'maxHeaderListBytes'),
  );
}

function writeInteger(out: Buffer, at: number, flags: number, mask: number, value: number): number {
  if (value < mask) {
    out[at] = flags | value;
    return at + 1;
  }
  out[at++] = flags | mask;
  let rest = value - mask;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[at] = rest;
  return at + 1;
}

function writeString(out: Buffer, at: number, text: string): number {
  const next = writeInteger(out, at, 0x00, 0x7f, text.length);
  return next + out.write(text, next, 'latin1');
}

// Characters above U+00FF have no single octet; writing them as latin1 would silently mangle them.
const NOT_AN_OCTET = /[\u0100-\uffff]/;

/** Stateless: never touches any dynamic table (static-table index when name and value match, "literal without indexing" with a static name index when the name matches, new-name literal otherwise; no Huffman). Safe to interleave with another encoder's blocks on the same connection. */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  // Per field at most: 1 representation byte + 5 for an index or name length, 6 for the value's.
  let capacity = 0;
  // Indexed, not destructured: a destructured tuple costs an iterator on every field.
  for (const field of fields) capacity += field[0].length + field[1].length + 12;
  const out = Buffer.allocUnsafe(capacity);
  let at = 0;
  for (const field of fields) {
    const name = field[0];
    const value = field[1];
    if (NOT_AN_OCTET.test(name) || NOT_AN_OCTET.test(value))
      throw new HpackError(
        `header ${JSON.stringify(name)} has a character above U+00FF; send such values percent- or base64-encoded`,
      );
    const known = STATIC_NAMES.get(name);
    if (known === undefined) {
      out[at++] = 0x00;
      at = writeString(out, at, name);
    } else {
      const full = known.valueIndex.get(value);
      if (full !== undefined) {
        at = writeInteger(out, at, 0x80, 0x7f, full);
        continue;
      }
      at = writeInteger(out, at, 0x00, 0x0f, known.nameIndex);
    }
    at = writeString(out, at, value);
  }
  return out.subarray(0, at);
}

/**
 * The dynamic table size updates a block starts with (RFC 7541 §4.2), as they were sent: a relay
 * that re-encodes a block passes them on, since the peer's decoder may require them.
 */
export function leadingSizeUpdates(block: Uint8Array): Uint8Array {
  let at = 0;
  while (at < block.length && ((block[at] ?? 0) & 0xe0) === 0x20) {
    // A size update's integer: its 5-bit prefix, then continuation bytes while the top bit is set.
    if (((block[at++] ?? 0) & 0x1f) === 0x1f) while (((block[at++] ?? 0) & 0x80) !== 0);
  }
  return block.subarray(0, Math.min(at, block.length));
}
