// The native core's HPACK decoder and encoder held to the TypeScript ones (wire/hpack.ts): every
// block is decoded by both, in lockstep over the life of a decoder, and must give the same fields
// and table changes, or the same error (message, offset); every field list must encode to the
// same bytes, or be refused with the same message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  loadNativeCore,
  type NativeCore,
  type NativeHpackDecoder,
} from '../../../../src/gateway/native/native-core.ts';
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES } from '../../../../src/gateway/wire/hpack-huffman.ts';
import { STATIC_TABLE } from '../../../../src/gateway/wire/hpack-static-table.ts';
import {
  createHpackDecoder,
  encodeHeaderBlock,
  HpackError,
  type HeaderField,
  type HpackDecoder,
} from '../../../../src/gateway/wire/hpack.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

const load = loadNativeCore();

/** The addon; under CI=true the tests run without it, and must fail here. */
function native(): NativeCore {
  assert.ok(load.core, load.missing);
  return load.core;
}

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** An HPACK integer with the given first-byte flags and prefix mask. */
function integer(flags: number, mask: number, value: number): number[] {
  if (value < mask) return [flags | value];
  const bytes = [flags | mask];
  let rest = value - mask;
  while (rest >= 0x80) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** Huffman-codes `octets`, padding with `extraPaddingBits` more bits of `paddingBit`. */
function huffman(octets: Uint8Array, extraPaddingBits = 0, paddingBit = 1): Buffer {
  let bits = '';
  for (const octet of octets) {
    const length = HUFFMAN_CODE_LENGTHS[octet] ?? 0;
    bits += (HUFFMAN_CODES[octet] ?? 0).toString(2).padStart(length, '0');
  }
  bits += String(paddingBit).repeat(((8 - (bits.length % 8)) % 8) + extraPaddingBits);
  const out = Buffer.alloc(bits.length / 8);
  for (let index = 0; index < out.length; index++)
    out[index] = parseInt(bits.slice(index * 8, index * 8 + 8), 2);
  return out;
}

/** A string literal of `octets`, raw or Huffman-coded. */
function literal(octets: Uint8Array, coded: boolean): number[] {
  const body = coded ? huffman(octets) : octets;
  return [...integer(coded ? 0x80 : 0x00, 0x7f, body.length), ...body];
}

type Outcome =
  | { readonly fields: readonly string[]; readonly tableChanges: number }
  | { readonly error: string; readonly offset: number };

function typescriptOutcome(decoder: HpackDecoder, block: Buffer): Outcome {
  try {
    const fields = decoder.decode(block).flat();
    return { fields, tableChanges: decoder.tableChanges };
  } catch (error) {
    assert.ok(error instanceof HpackError, String(error));
    return { error: error.message, offset: error.offset };
  }
}

function nativeOutcome(decoder: NativeHpackDecoder, block: Buffer): Outcome {
  try {
    const fields = decoder.decode(block);
    return { fields, tableChanges: decoder.tableChanges };
  } catch (error) {
    assert.ok(error instanceof Error, String(error));
    const { code, offset } = error as Error & { code?: unknown; offset?: unknown };
    assert.equal(code, 'GW_HPACK', error.message);
    assert.equal(error.name, 'HpackError');
    assert.equal(typeof offset, 'number');
    return { error: error.message, offset: offset as number };
  }
}

/** A TypeScript decoder and a native one, fed the same blocks. */
class Lockstep {
  readonly typescript: HpackDecoder;
  readonly native: NativeHpackDecoder;

  constructor(maxTableSize = 4096, maxHeaderListBytes = 64 * 1024) {
    this.typescript = createHpackDecoder({ maxTableSize, maxHeaderListBytes });
    this.native = new (native().HpackDecoder)(maxTableSize, maxHeaderListBytes);
  }

  decode(block: Buffer | readonly number[], note = ''): Outcome {
    const bytes = Buffer.isBuffer(block) ? block : Buffer.from(block);
    const expected = typescriptOutcome(this.typescript, bytes);
    assert.deepEqual(
      nativeOutcome(this.native, bytes),
      expected,
      `${note} ${bytes.toString('hex')}`,
    );
    return expected;
  }

  /** Decodes to fields on both sides, failing otherwise. */
  fields(block: Buffer | readonly number[], note = ''): readonly string[] {
    const outcome = this.decode(block, note);
    assert.ok('fields' in outcome, `${note}: ${'error' in outcome ? outcome.error : ''}`);
    return outcome.fields;
  }

  /** Fails on both sides, with the same message; returns it. */
  rejects(block: Buffer | readonly number[], pattern: RegExp, note = ''): string {
    const outcome = this.decode(block, note);
    assert.ok('error' in outcome, `${note}: decoded`);
    assert.match(outcome.error, pattern);
    return outcome.error;
  }

  /** The dynamic table, newest first, read through indexed fields (which never change it). */
  table(entries: number): readonly string[] {
    return this.fields(
      Array.from({ length: entries }, (_, index) => 0x80 | (62 + index)),
      'table',
    );
  }

  allowTableSize(size: number): void {
    this.typescript.allowTableSize(size);
    this.native.allowTableSize(size);
  }
}

const flat = (fields: readonly HeaderField[]): string[] => fields.flat();

describe('HPACK native core parity', prerequisiteOptions(load.missing), () => {
  it('loads the native core', () => {
    assert.equal(typeof native().encodeHeaderBlock, 'function');
  });

  it('RFC 7541 C.2: literal and indexed representations', () => {
    const withIndexing = new Lockstep();
    assert.deepEqual(
      withIndexing.fields(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')),
      ['custom-key', 'custom-header'],
    );
    assert.deepEqual(withIndexing.table(1), ['custom-key', 'custom-header']);
    for (const block of [
      '040c 2f73 616d 706c 652f 7061 7468',
      '1008 7061 7373 776f 7264 0673 6563 7265 74',
    ]) {
      const plain = new Lockstep();
      plain.fields(hex(block));
      plain.rejects(hex('be'), /index 62 at byte 0 is past the dynamic table \(0 entries\)/);
    }
    assert.deepEqual(new Lockstep().fields(hex('82')), [':method', 'GET']);
  });

  // The blocks RFC 7541 prints: C.3 and C.4 share a 4096-byte table, C.5 and C.6 a 256-byte one.
  const sequences: readonly {
    name: string;
    maxTableSize: number;
    tables: number[];
    blocks: string[];
  }[] = [
    {
      name: 'C.3 requests without Huffman',
      maxTableSize: 4096,
      tables: [1, 2, 3],
      blocks: [
        '828684410f7777772e6578616d706c652e636f6d',
        '828684be58086e6f2d6361636865',
        '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      ],
    },
    {
      name: 'C.4 requests with Huffman',
      maxTableSize: 4096,
      tables: [1, 2, 3],
      blocks: [
        '828684418cf1e3c2e5f23a6ba0ab90f4ff',
        '828684be5886a8eb10649cbf',
        '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
      ],
    },
    {
      name: 'C.5 responses without Huffman, 256-byte table',
      maxTableSize: 256,
      tables: [4, 4, 3],
      blocks: [
        '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        '4803333037c1c0bf',
        '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
      ],
    },
    {
      name: 'C.6 responses with Huffman, 256-byte table',
      maxTableSize: 256,
      tables: [4, 4, 3],
      blocks: [
        '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
        '4883640effc1c0bf',
        '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
      ],
    },
  ];
  for (const { name, maxTableSize, tables, blocks } of sequences)
    it(`RFC 7541 ${name}`, () => {
      const decoders = new Lockstep(maxTableSize);
      blocks.forEach((block, step) => {
        decoders.fields(hex(block), `block ${step + 1}`);
        decoders.table(tables[step] ?? 0);
      });
      decoders.rejects([0x80 | (62 + (tables[2] ?? 0))], /past the dynamic table \(3 entries\)/);
    });

  it('size updates at the start of a block, evicting down to the new size', () => {
    const decoders = new Lockstep();
    decoders.fields(hex('400161016240016301644001650166'));
    assert.deepEqual(decoders.table(3), ['e', 'f', 'c', 'd', 'a', 'b']);
    decoders.fields([...integer(0x20, 0x1f, 68), 0x82]);
    assert.deepEqual(decoders.table(2), ['e', 'f', 'c', 'd']);
    decoders.fields([0x20, ...integer(0x20, 0x1f, 4096)]);
    decoders.rejects(hex('be'), /\(0 entries\)/);
  });

  it('counts the blocks that changed the table, and only those', () => {
    const decoders = new Lockstep();
    decoders.fields(hex('4001610162 4001630164'));
    decoders.fields(hex('be 82 0001780179 1001780179'));
    decoders.fields(integer(0x20, 0x1f, 100));
    decoders.fields([]);
    assert.equal(decoders.native.tableChanges, 2);
  });

  it('an entry larger than the table empties it, also one named after an entry it evicts', () => {
    const emptied = new Lockstep(64);
    emptied.fields(hex('4001610162'));
    emptied.fields([0x40, 1, 0x79, 40, ...Buffer.from('x'.repeat(40))]);
    emptied.rejects(hex('be'), /\(0 entries\)/);
    const decoders = new Lockstep(64);
    decoders.fields(hex('4001610162'));
    assert.deepEqual(decoders.fields([0x7e, 40, ...Buffer.from('w'.repeat(40))]), [
      'a',
      'w'.repeat(40),
    ]);
    decoders.fields(hex('4001610162'));
    assert.deepEqual(decoders.fields(hex('7e 0178')), ['a', 'x']);
    assert.deepEqual(decoders.table(1), ['a', 'x']);
  });

  it('limits size updates to the announced table size, and follows allowTableSize', () => {
    new Lockstep().rejects(hex('8220'), /table size update at byte 1 follows a header field/);
    new Lockstep(100).rejects(integer(0x20, 0x1f, 101), /asks for 101 bytes, above the 100/);
    const decoders = new Lockstep(100);
    decoders.allowTableSize(8192);
    decoders.fields(integer(0x20, 0x1f, 8192));
    decoders.allowTableSize(0);
    decoders.fields([0x20]);
    decoders.rejects(integer(0x20, 0x1f, 1), /asks for 1 bytes, above the 0 this side allows/);
    // The initial 4096 is the table's size, not a limit the peer may return to.
    const limited = new Lockstep(100);
    limited.fields(integer(0x20, 0x1f, 100));
    limited.rejects(integer(0x20, 0x1f, 4096), /above the 100 this side allows/);
  });

  it('bounds the decoded header list, counting 32 bytes per field', () => {
    const block = hex('0001610162 0001630164');
    assert.equal(new Lockstep(4096, 68).fields(block).length, 4);
    new Lockstep(4096, 67).rejects(block, /header list exceeds 67 bytes at byte 5/);
    new Lockstep(4096, 0).rejects(hex('82'), /header list exceeds 0 bytes at byte 0/);
  });

  it('fails alike on bad indexes, integers, string lengths and Huffman strings', () => {
    const huffmanLiteral = (coded: Buffer): number[] => [
      0x00,
      0x01,
      0x61,
      ...integer(0x80, 0x7f, coded.length),
      ...coded,
    ];
    const cases: readonly [block: Buffer | number[], pattern: RegExp][] = [
      [hex('82 80'), /index 0 at byte 1 is not a valid table index/],
      [hex('7e 01 61'), /index 62 at byte 0 is past the dynamic table/],
      [hex('82 ff'), /integer at byte 1 is cut off/],
      [hex('ff ff ff ff ff 7f'), /integer at byte 0 is larger than 2\^31/],
      [hex('ff 82 ff ff ff 07'), /integer at byte 0 is larger than 2\^31/],
      [hex('ff 81 ff ff ff 07'), /index 2147483648 at byte 0 is past the dynamic table/],
      [hex('ff 80 80 80 80 80 00'), /more than 5 continuation bytes/],
      [hex('ff 80 80 80 80 80'), /integer at byte 0 is cut off/],
      [hex('00 05 6162'), /string at byte 1 is 5 bytes long but only 2 remain/],
      [hex('00 7f ffffff0f'), /is 33554558 bytes long but only 0 remain/],
      [hex('00 7f 81ffffff07'), /is 2147483648 bytes long but only 0 remain/],
      [hex('00'), /string literal should start at byte 1/],
      [hex('0f 10'), /string literal should start at byte 2/],
      [hex('40 01 61'), /string literal should start at byte 3/],
      [integer(0x20, 0x1f, 2 ** 31), /asks for 2147483648 bytes/],
      [huffmanLiteral(hex('ffffffff')), /Huffman string at byte 3 contains the EOS symbol/],
      [huffmanLiteral(hex('ffffffff 00')), /Huffman string at byte 3 contains the EOS symbol/],
      [huffmanLiteral(huffman(Buffer.from('a'), 8)), /padding that is not up to 7 one bits/],
      [huffmanLiteral(hex('ff')), /padding that is not up to 7 one bits/],
      [huffmanLiteral(huffman(Buffer.from('a'), 0, 0)), /padding that is not up to 7 one bits/],
    ];
    for (const [block, pattern] of cases) new Lockstep().rejects(block, pattern);
    const decoders = new Lockstep();
    assert.deepEqual(decoders.fields(hex('0f 83 80 80 80 00 0178')), ['accept-ranges', 'x']);
    assert.deepEqual(decoders.fields([0x00, 0x01, 0x61, 0x80]), ['a', '']);
  });

  it('decodes every octet alike, raw and Huffman-coded, as latin1', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, octet) => octet));
    const decoders = new Lockstep();
    for (const coded of [false, true]) {
      const fields = decoders.fields([0x00, ...literal(all, coded), ...literal(all, coded)]);
      assert.deepEqual(fields, [all.toString('latin1'), all.toString('latin1')]);
    }
  });

  it('decodes long header lists alike', () => {
    const decoders = new Lockstep(4096, 1 << 20);
    for (const count of [0, 1, 2047, 2048, 2049, 3000]) {
      const block = Buffer.alloc(count, 0x82);
      assert.equal(decoders.fields(block).length, 2 * count);
    }
  });

  it('refuses every block after a failure, with the earlier message', () => {
    const decoders = new Lockstep();
    decoders.rejects(hex('80'), /index 0/);
    const message = decoders.rejects(
      hex('82'),
      /unusable since an earlier block failed \(HPACK header block: index 0/,
    );
    assert.match(message, /^HPACK decoder is unusable/);
  });

  it('refuses impossible limits with the same RangeError', () => {
    const refusals = (make: () => unknown): string => {
      try {
        make();
      } catch (error) {
        assert.ok(error instanceof RangeError, String(error));
        return error.message;
      }
      assert.fail('accepted');
    };
    for (const value of [-1, 1.5, 2 ** 31, NaN, Infinity, 1e21, -1e-7]) {
      assert.equal(
        refusals(() => new (native().HpackDecoder)(value, 4096)),
        refusals(() => createHpackDecoder({ maxTableSize: value })),
      );
      assert.equal(
        refusals(() => new (native().HpackDecoder)(4096, value)),
        refusals(() => createHpackDecoder({ maxHeaderListBytes: value })),
      );
      const decoders = new Lockstep();
      assert.equal(
        refusals(() => {
          decoders.native.allowTableSize(value);
        }),
        refusals(() => {
          decoders.typescript.allowTableSize(value);
        }),
      );
    }
  });

  it('decodes seeded random and mutated blocks in lockstep, over long-lived tables', () => {
    const next = prng(0x5eed);
    const text = (length: number): Buffer =>
      Buffer.from(Array.from({ length }, () => (next(4) === 0 ? next(256) : 0x61 + next(26))));
    const string = (): number[] =>
      literal(text(next(3) === 0 ? 100 + next(100) : next(20)), next(2) === 0);
    /** A block of representations of every kind, as a peer's encoder might send. */
    const block = (): number[] => {
      const bytes: number[] = [];
      if (next(6) === 0)
        bytes.push(...integer(0x20, 0x1f, [0, 64, 100, 256, 300, 4096][next(6)] ?? 0));
      for (let count = next(6); count > 0; count--) {
        const kind = next(7);
        if (kind === 0) bytes.push(...integer(0x80, 0x7f, 1 + next(61)));
        else if (kind === 1) bytes.push(...integer(0x80, 0x7f, 62 + next(8)));
        else if (kind <= 3) {
          const mask = [0x3f, 0x0f, 0x0f][next(3)] ?? 0x3f;
          const flags = mask === 0x3f ? 0x40 : ([0x00, 0x10][next(2)] ?? 0);
          if (next(2) === 0) bytes.push(flags, ...string());
          else bytes.push(...integer(flags, mask, 1 + next(68)));
          bytes.push(...string());
        } else bytes.push(0x40, ...string(), ...string());
      }
      return bytes;
    };
    const rfcBlocks = sequences.flatMap(({ blocks }) => blocks.map((text) => [...hex(text)]));
    let decoders = new Lockstep(256, 4096);
    let decoded = 0;
    let failed = 0;
    let tableChanges = 0;
    let changingBlocks = 0;
    const problems = new Set<string>();
    for (let round = 0; round < 12_000; round++) {
      let bytes = round % 3 === 2 ? (rfcBlocks[next(rfcBlocks.length)] ?? []) : block();
      if (round % 3 !== 0) {
        bytes = [...bytes];
        for (let flips = next(3); flips > 0 && bytes.length > 0; flips--)
          bytes[next(bytes.length)] = next(256);
        bytes = bytes.slice(0, bytes.length - next(2) * next(4));
      }
      if (next(50) === 0) decoders.allowTableSize([0, 256, 4096][next(3)] ?? 0);
      const outcome = decoders.decode(bytes, `round ${round}`);
      if ('fields' in outcome) {
        decoded++;
        changingBlocks += outcome.tableChanges - tableChanges;
        tableChanges = outcome.tableChanges;
      } else {
        failed++;
        problems.add(outcome.error.replace(/\d+/g, 'N'));
        // The failed decoders are unusable: both must say so, then a new pair takes over.
        decoders.rejects(hex('82'), /unusable since an earlier block failed/);
        decoders = new Lockstep(256, next(2) === 0 ? 4096 : 300);
        tableChanges = 0;
      }
    }
    // Both outcomes in numbers, tables that changed, and errors of many kinds, or the generator
    // tests little.
    assert.ok(decoded > 3000 && failed > 3000, `decoded ${decoded}, failed ${failed}`);
    assert.ok(changingBlocks > 2000, `${changingBlocks} blocks changed the table`);
    assert.ok(problems.size >= 10, [...problems].join('\n'));
  });

  it('encodes the same bytes as the TypeScript encoder', () => {
    const cases: HeaderField[][] = [
      [],
      [[':method', 'POST']],
      [['content-type', 'application/grpc']],
      [['te', 'trailers']],
      [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', '/spark.connect.SparkConnectService/ExecutePlan'],
        [':authority', ''],
        ['www-authenticate', 'x'.repeat(200)],
        ['x-long', 'v'.repeat(70_000)],
        ['x-latin1', 'caf\u00e9 \u00ff\u0000'],
        ['', ''],
      ],
      STATIC_TABLE.map((field): HeaderField => field),
      STATIC_TABLE.map(([name]): HeaderField => [name, 'other']),
    ];
    for (const fields of cases)
      assert.deepEqual(native().encodeHeaderBlock(flat(fields)), encodeHeaderBlock(fields));
  });

  it('refuses characters above U+00FF with the same message, naming the header as JSON does', () => {
    const encodeError = (
      encode: () => unknown,
    ): { message: string; code: unknown; offset: unknown } => {
      try {
        encode();
      } catch (error) {
        assert.ok(error instanceof Error, String(error));
        const { code, offset } = error as Error & { code?: unknown; offset?: unknown };
        return { message: error.message, code, offset };
      }
      assert.fail('encoded');
    };
    const cases: HeaderField[][] = [
      [['x-name', 'caf\u00e9 \u20ac']],
      [['x-\u20ac', 'value']],
      [['q"\\\b\f\n\r\t\u0001\u007f\u00e9', '\u{1f600}']],
      [['\ud800x', 'a']],
      [['a\udc00', '\ud800']],
      [
        ['ok', 'fine'],
        ['second', '\u0100'],
        ['third', '\u0100'],
      ],
    ];
    for (const fields of cases) {
      const expected = encodeError(() => encodeHeaderBlock(fields));
      assert.deepEqual(
        encodeError(() => native().encodeHeaderBlock(flat(fields))),
        expected,
      );
      assert.equal(expected.code, 'GW_HPACK');
      assert.equal(expected.offset, -1);
    }
  });

  it('encodes seeded random field lists alike, and round-trips them', () => {
    const next = prng(0xc0de);
    const staticNames = [...new Set(STATIC_TABLE.map(([name]) => name))];
    const staticValues = [...new Set(STATIC_TABLE.map(([, value]) => value))];
    // Latin1 text; one string in 40 has a character above U+00FF (a lone surrogate too).
    const text = (length: number): string => {
      let out = '';
      for (let index = 0; index < length; index++)
        out += String.fromCharCode(next(6) === 0 ? next(256) : 0x61 + next(26));
      if (next(40) !== 0) return out;
      const at = next(out.length + 1);
      return out.slice(0, at) + String.fromCharCode(0x100 + next(0xff00)) + out.slice(at);
    };
    const lengths = [0, 1, 5, 14, 15, 16, 126, 127, 128, 300, 16_510];
    let encoded = 0;
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const fields: HeaderField[] = Array.from({ length: next(8) }, () => {
        const name =
          next(2) === 0
            ? (staticNames[next(staticNames.length)] ?? '')
            : text(lengths[next(lengths.length)] ?? 0);
        const value =
          next(3) === 0
            ? (staticValues[next(staticValues.length)] ?? '')
            : text(next(4) === 0 ? (lengths[next(lengths.length)] ?? 0) : next(30));
        return [name, value];
      });
      let expected: Buffer | string;
      try {
        expected = encodeHeaderBlock(fields);
      } catch (error) {
        assert.ok(error instanceof HpackError);
        expected = error.message;
      }
      let actual: Buffer | string;
      try {
        actual = native().encodeHeaderBlock(flat(fields));
      } catch (error) {
        assert.ok(error instanceof Error);
        actual = error.message;
      }
      assert.deepEqual(actual, expected, `round ${round}`);
      if (typeof actual === 'string') {
        refused++;
        continue;
      }
      encoded++;
      const decoders = new Lockstep(4096, 1 << 20);
      assert.deepEqual(decoders.fields(actual), flat(fields), `round ${round}`);
    }
    assert.ok(encoded > 1000 && refused > 150, `encoded ${encoded}, refused ${refused}`);
  });
});
