import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES } from '../../../../src/gateway/wire/hpack-huffman.ts';
import {
  createHpackDecoder,
  encodeHeaderBlock,
  HpackError,
  leadingSizeUpdates,
  type HeaderField,
  type HpackDecoder,
} from '../../../../src/gateway/wire/hpack.ts';
import { prng } from '../../../support/prng.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Huffman-codes `text` (latin1) with the table under test, padding with the EOS prefix. */
function huffman(text: string, extraPaddingBits = 0, paddingBit = 1): Buffer {
  let bits = '';
  for (const char of Buffer.from(text, 'latin1')) {
    const length = HUFFMAN_CODE_LENGTHS[char] ?? 0;
    bits += (HUFFMAN_CODES[char] ?? 0).toString(2).padStart(length, '0');
  }
  const padding = (8 - (bits.length % 8)) % 8;
  bits += String(paddingBit).repeat(padding + extraPaddingBits);
  const out = Buffer.alloc(bits.length / 8);
  for (let index = 0; index < out.length; index++)
    out[index] = parseInt(bits.slice(index * 8, index * 8 + 8), 2);
  return out;
}

/** An HPACK integer with the given first-byte flags and prefix mask. */
function integer(flags: number, mask: number, value: number): number[] {
  if (value < mask) return [flags | value];
  const bytes = [flags | mask];
  let rest = value - mask;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

/** The dynamic table, newest first, read through indexed fields (which never change it). */
function tableOf(decoder: HpackDecoder, entries: number): HeaderField[] {
  return decoder.decode(
    Buffer.from(Array.from({ length: entries }, (_, index) => 0x80 | (62 + index))),
  );
}

function rejects(decoder: HpackDecoder, block: Buffer, pattern: RegExp): void {
  assert.throws(
    () => decoder.decode(block),
    (error: unknown) => {
      if (!(error instanceof HpackError)) return false;
      // Widened so the check is made at run time, where a changed code would show.
      const code: string = error.code;
      return code === 'GW_HPACK' && pattern.test(error.message);
    },
  );
}

describe('HPACK decoder: RFC 7541 Appendix C', () => {
  // C.2: the hex is RFC 7541's own.
  it('C.2.1 literal with indexing adds the field to the dynamic table', () => {
    const decoder = createHpackDecoder();
    assert.deepEqual(
      decoder.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')),
      [['custom-key', 'custom-header']],
    );
    assert.deepEqual(tableOf(decoder, 1), [['custom-key', 'custom-header']]);
  });

  it('C.2.2 literal without indexing leaves the table empty', () => {
    const decoder = createHpackDecoder();
    assert.deepEqual(decoder.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [
      [':path', '/sample/path'],
    ]);
    rejects(decoder, hex('be'), /index 62 at byte 0 is past the dynamic table \(0 entries\)/);
  });

  it('C.2.3 never-indexed literal leaves the table empty', () => {
    const decoder = createHpackDecoder();
    assert.deepEqual(decoder.decode(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [
      ['password', 'secret'],
    ]);
    rejects(decoder, hex('be'), /past the dynamic table/);
  });

  it('C.2.4 indexed static field', () => {
    assert.deepEqual(createHpackDecoder().decode(hex('82')), [[':method', 'GET']]);
  });

  // C.3–C.6: produced by the encoder of the Python `hpack` package 4.2.0 (its 4096- and 256-byte
  // tables), byte for byte the blocks printed in RFC 7541 Appendix C.
  const requests: HeaderField[][] = [
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ],
    [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ],
  ];
  const requestTables: HeaderField[][] = [
    [[':authority', 'www.example.com']],
    [
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
    [
      ['custom-key', 'custom-value'],
      ['cache-control', 'no-cache'],
      [':authority', 'www.example.com'],
    ],
  ];
  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  const responses: HeaderField[][] = [
    [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', 'https://www.example.com'],
    ],
    [
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', date1],
      ['location', 'https://www.example.com'],
    ],
    [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', date2],
      ['location', 'https://www.example.com'],
      ['content-encoding', 'gzip'],
      ['set-cookie', cookie],
    ],
  ];
  // Each step evicts the oldest entries to stay within 256 bytes.
  const responseTables: HeaderField[][] = [
    [
      ['location', 'https://www.example.com'],
      ['date', date1],
      ['cache-control', 'private'],
      [':status', '302'],
    ],
    [
      [':status', '307'],
      ['location', 'https://www.example.com'],
      ['date', date1],
      ['cache-control', 'private'],
    ],
    [
      ['set-cookie', cookie],
      ['content-encoding', 'gzip'],
      ['date', date2],
    ],
  ];
  const cases = [
    {
      name: 'C.3 requests without Huffman',
      maxTableSize: 4096,
      expected: requests,
      tables: requestTables,
      blocks: [
        '828684410f7777772e6578616d706c652e636f6d',
        '828684be58086e6f2d6361636865',
        '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
      ],
    },
    {
      name: 'C.4 requests with Huffman',
      maxTableSize: 4096,
      expected: requests,
      tables: requestTables,
      blocks: [
        '828684418cf1e3c2e5f23a6ba0ab90f4ff',
        '828684be5886a8eb10649cbf',
        '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf',
      ],
    },
    {
      name: 'C.5 responses without Huffman, 256-byte table',
      maxTableSize: 256,
      expected: responses,
      tables: responseTables,
      blocks: [
        '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        '4803333037c1c0bf',
        '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
      ],
    },
    {
      name: 'C.6 responses with Huffman, 256-byte table',
      maxTableSize: 256,
      expected: responses,
      tables: responseTables,
      blocks: [
        '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
        '4883640effc1c0bf',
        '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
      ],
    },
  ];
  for (const { name, maxTableSize, expected, tables, blocks } of cases)
    it(name, () => {
      const decoder = createHpackDecoder({ maxTableSize });
      blocks.forEach((block, step) => {
        assert.deepEqual(decoder.decode(hex(block)), expected[step], `block ${step + 1}`);
        const table = tables[step] ?? [];
        assert.deepEqual(tableOf(decoder, table.length), table, `table after block ${step + 1}`);
      });
      rejects(
        decoder,
        Buffer.from([0x80 | (62 + (tables[2]?.length ?? 0))]),
        /past the dynamic table/,
      );
    });
});

describe('HPACK decoder: table and limits', () => {
  it('accepts size updates at the start of a block, evicting down to the new size', () => {
    const decoder = createHpackDecoder();
    decoder.decode(hex('400161016240016301644001650166'));
    assert.deepEqual(tableOf(decoder, 3), [
      ['e', 'f'],
      ['c', 'd'],
      ['a', 'b'],
    ]);
    // 34 bytes per entry: room for two, then none, then the size is raised back.
    assert.deepEqual(decoder.decode(Buffer.from([...integer(0x20, 0x1f, 68), 0x82])), [
      [':method', 'GET'],
    ]);
    assert.deepEqual(tableOf(decoder, 2), [
      ['e', 'f'],
      ['c', 'd'],
    ]);
    decoder.decode(Buffer.from([0x20, ...integer(0x20, 0x1f, 4096)]));
    rejects(decoder, hex('be'), /past the dynamic table \(0 entries\)/);
  });

  it('counts the blocks that changed the table, and only those', () => {
    const decoder = createHpackDecoder();
    assert.equal(decoder.tableChanges, 0);
    decoder.decode(hex('4001610162 4001630164'));
    assert.equal(decoder.tableChanges, 1, 'two entries added by one block');
    decoder.decode(hex('be 82 0001780179 1001780179'));
    assert.equal(decoder.tableChanges, 1, 'indexed fields and literals without indexing');
    decoder.decode(Buffer.from(integer(0x20, 0x1f, 100)));
    assert.equal(decoder.tableChanges, 2, 'a size update');
  });

  it('finds the size updates a block starts with, as they were sent', () => {
    const updates = [...integer(0x20, 0x1f, 0), ...integer(0x20, 0x1f, 4096)];
    const block = Buffer.from([...updates, 0x82, 0x40, 1, 0x61, 1, 0x62]);
    assert.deepEqual([...leadingSizeUpdates(block)], updates);
    assert.equal(leadingSizeUpdates(hex('82 3f e1 1f')).length, 0, 'not at the start: none');
    assert.deepEqual([...leadingSizeUpdates(hex('3fe11f'))], [0x3f, 0xe1, 0x1f]);
  });

  it('an entry larger than the whole table empties it without an error', () => {
    const decoder = createHpackDecoder({ maxTableSize: 64 });
    decoder.decode(hex('4001610162'));
    const big = 'x'.repeat(40);
    assert.deepEqual(decoder.decode(Buffer.from([0x40, 1, 0x79, 40, ...Buffer.from(big)])), [
      ['y', big],
    ]);
    rejects(decoder, hex('be'), /\(0 entries\)/);
  });

  it('rejects a size update after a field, or above the announced maximum', () => {
    rejects(
      createHpackDecoder(),
      hex('8220'),
      /table size update at byte 1 follows a header field/,
    );
    rejects(
      createHpackDecoder({ maxTableSize: 100 }),
      Buffer.from(integer(0x20, 0x1f, 101)),
      /asks for 101 bytes, above the 100 this side allows/,
    );
  });

  it('rejects bad indexes, integers and string lengths, naming the byte offset', () => {
    rejects(createHpackDecoder(), hex('82 80'), /index 0 at byte 1/);
    rejects(createHpackDecoder(), hex('7e 01 61'), /index 62 at byte 0 is past the dynamic table/);
    rejects(createHpackDecoder(), hex('82 ff'), /integer at byte 1 is cut off/);
    rejects(
      createHpackDecoder(),
      hex('ff ff ff ff ff 7f'),
      /integer at byte 0 is larger than 2\^31/,
    );
    rejects(createHpackDecoder(), hex('ff 80 80 80 80 80 00'), /more than 5 continuation bytes/);
    rejects(
      createHpackDecoder(),
      hex('00 05 6162'),
      /string at byte 1 is 5 bytes long but only 2 remain/,
    );
    rejects(
      createHpackDecoder(),
      hex('00 7f ffffff0f'),
      /is 33554558 bytes long but only 0 remain/,
    );
    rejects(createHpackDecoder(), hex('00'), /string literal should start at byte 1/);
    rejects(createHpackDecoder(), hex('0f 10'), /string literal should start at byte 2/);
  });

  it('rejects Huffman strings with EOS, overlong padding or padding that is not all ones', () => {
    const literal = (coded: Buffer): Buffer =>
      Buffer.from([0x00, 0x01, 0x61, 0x80 | coded.length, ...coded]);
    assert.deepEqual(createHpackDecoder().decode(literal(huffman('ok'))), [['a', 'ok']]);
    assert.deepEqual(createHpackDecoder().decode(literal(Buffer.alloc(0))), [['a', '']]);
    rejects(
      createHpackDecoder(),
      literal(hex('ffffffff')),
      /Huffman string at byte 3 contains the EOS symbol/,
    );
    rejects(createHpackDecoder(), literal(huffman('a', 8)), /padding that is not up to 7 one bits/);
    rejects(createHpackDecoder(), literal(hex('ff')), /padding that is not up to 7 one bits/);
    rejects(
      createHpackDecoder(),
      literal(huffman('a', 0, 0)),
      /padding that is not up to 7 one bits/,
    );
  });

  it('decodes every octet through the Huffman table', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, octet) => octet)).toString('latin1');
    const coded = huffman(all);
    const block = Buffer.from([0x00, 0x01, 0x78, ...integer(0x80, 0x7f, coded.length), ...coded]);
    assert.deepEqual(createHpackDecoder().decode(block), [['x', all]]);
  });

  it('bounds the decoded header list, counting 32 bytes per field', () => {
    const block = hex('0001610162 0001630164');
    assert.equal(createHpackDecoder({ maxHeaderListBytes: 68 }).decode(block).length, 2);
    rejects(
      createHpackDecoder({ maxHeaderListBytes: 67 }),
      block,
      /header list exceeds 67 bytes at byte 5/,
    );
  });

  it('refuses every block after a failure, since the tables may disagree', () => {
    const decoder = createHpackDecoder();
    rejects(decoder, hex('80'), /index 0/);
    rejects(decoder, hex('82'), /unusable since an earlier block failed/);
  });

  it('takes a plain Uint8Array view into a larger buffer', () => {
    const backing = new Uint8Array([0xff, 0x82, 0x86, 0xff]);
    assert.deepEqual(createHpackDecoder().decode(backing.subarray(1, 3)), [
      [':method', 'GET'],
      [':scheme', 'http'],
    ]);
  });

  it('rejects impossible limits', () => {
    assert.throws(() => createHpackDecoder({ maxTableSize: -1 }), RangeError);
    assert.throws(() => createHpackDecoder({ maxHeaderListBytes: 1.5 }), RangeError);
  });
});

describe('HPACK stateless encoder', () => {
  it('uses static indexes and literals without indexing, never Huffman', () => {
    assert.equal(encodeHeaderBlock([[':method', 'POST']]).toString('hex'), '83');
    assert.equal(
      encodeHeaderBlock([['content-type', 'application/grpc']]).toString('hex'),
      '0f10' + '10' + Buffer.from('application/grpc').toString('hex'),
    );
    assert.equal(
      encodeHeaderBlock([['te', 'trailers']]).toString('hex'),
      '0002746508747261696c657273',
    );
    assert.equal(encodeHeaderBlock([]).length, 0);
  });

  it('round-trips through the decoder without touching its dynamic table', () => {
    const decoder = createHpackDecoder();
    decoder.decode(hex('400161016240016301644001650166'));
    const fields: HeaderField[] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/spark.connect.SparkConnectService/ExecutePlan'],
      [':authority', ''],
      ['content-type', 'application/grpc'],
      ['www-authenticate', 'x'.repeat(200)],
      ['x-long', 'v'.repeat(70_000)],
      ['x-latin1', 'caf\u00e9 \u00ff\u0000'],
      ['', ''],
      ['a', 'b'],
    ];
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(
        createHpackDecoder({ maxHeaderListBytes: 1 << 20 }).decode(encodeHeaderBlock(fields)),
        fields,
      );
      assert.deepEqual(decoder.decode(encodeHeaderBlock(fields.slice(0, 6))), fields.slice(0, 6));
    }
    assert.deepEqual(tableOf(decoder, 3), [
      ['e', 'f'],
      ['c', 'd'],
      ['a', 'b'],
    ]);
  });

  it('refuses characters that are not octets', () => {
    assert.throws(
      () => encodeHeaderBlock([['x-name', 'caf\u00e9 \u20ac']]),
      (error: unknown) => error instanceof HpackError && /x-name.*U\+00FF/.test(error.message),
    );
  });
});

describe('HPACK decoder: random input', () => {
  it('10,000 random and mutated blocks throw nothing but HpackError', () => {
    const next = prng(0x5eed);
    const valid = [
      hex('828684418cf1e3c2e5f23a6ba0ab90f4ff'),
      hex('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'),
      hex(
        '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
      ),
      encodeHeaderBlock([
        [':path', '/a'],
        ['x-y', 'z'.repeat(130)],
      ]),
    ];
    let decoder = createHpackDecoder({ maxTableSize: 256, maxHeaderListBytes: 4096 });
    let decoded = 0;
    let failed = 0;
    for (let round = 0; round < 10_000; round++) {
      let block: Buffer;
      if (round % 2 === 0) {
        block = Buffer.from(Array.from({ length: next(48) }, () => next(256)));
      } else {
        block = Buffer.from(valid[next(valid.length)] ?? []);
        for (let flips = 1 + next(3); flips > 0 && block.length > 0; flips--)
          block[next(block.length)] = next(256);
        block = block.subarray(0, block.length - next(3));
      }
      try {
        decoder.decode(block);
        decoded++;
      } catch (error) {
        assert.ok(error instanceof HpackError, `round ${round}: ${String(error)}`);
        assert.ok(
          error.offset >= 0 && error.offset <= block.length,
          `round ${round}: offset ${error.offset}`,
        );
        failed++;
        decoder = createHpackDecoder({ maxTableSize: 256, maxHeaderListBytes: 4096 });
      }
    }
    // Both outcomes must actually occur, or the generator tests nothing.
    assert.ok(decoded > 500 && failed > 500, `decoded ${decoded}, failed ${failed}`);
  });
});
