import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../../../../src/gateway/errors.ts';
import {
  createFieldScanner,
  forEachField,
  scanMessage,
  type FieldScanner,
  type ScanSpec,
} from '../../../../src/gateway/wire/proto-scanner.ts';
import { prng } from '../../../support/prng.ts';

const LEN = WireType.LengthDelimited;
const bytesOf = (writer: BinaryWriter): Buffer => Buffer.from(writer.finish());

// Byte offsets, worked out by hand:
//  0  field 1 "sess"          0a 04 73 65 73 73                       ends at 6
//  6  field 2 { 1: "u" }      12 03 0a 01 75                          ends at 11
// 11  field 3, 200 bytes      1a c8 01 <200 bytes>                    ends at 214
// 214 field 4 varint 300      20 ac 02                                ends at 217
// 217 field 5 fixed32         2d 01 02 03 04                          ends at 222
// 222 field 6 fixed64         31 <8 bytes>                            ends at 231
// 231 field 1 "last"          0a 04 6c 61 73 74                       ends at 237
// 237 field 20 empty          a2 01 00                                ends at 240
// 240 field 999 varint max    b8 3e ff ff ff ff ff ff ff ff ff 01     ends at 252
const message = bytesOf(
  new BinaryWriter()
    .tag(1, LEN)
    .string('sess')
    .tag(2, LEN)
    .fork()
    .tag(1, LEN)
    .string('u')
    .join()
    .tag(3, LEN)
    .bytes(new Uint8Array(200).fill(9))
    .tag(4, WireType.Varint)
    .uint32(300)
    .tag(5, WireType.Bit32)
    .fixed32(0x04030201)
    .tag(6, WireType.Bit64)
    .fixed64(1n)
    .tag(1, LEN)
    .string('last')
    .tag(20, LEN)
    .bytes(new Uint8Array(0))
    .tag(999, WireType.Varint)
    .uint64(2n ** 64n - 1n),
);
const spec: ScanSpec = { capture: [1, 2, 4, 5, 6, 20, 999] };

function summary(scanner: FieldScanner): unknown {
  return {
    fields: scanner.fields.map((entry) => ({ ...entry, value: entry.value.toString('hex') })),
    offset: scanner.offset,
    passed: scanner.passed,
    oversized: scanner.oversized,
  };
}

function scanChunks(chunks: Buffer[], scanSpec: ScanSpec, length: number): FieldScanner {
  const scanner = createFieldScanner(scanSpec, length);
  for (const chunk of chunks) scanner.push(chunk);
  scanner.end();
  return scanner;
}

function malformed(message: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GatewayError, String(error));
    assert.equal(error.code, 'GW_MALFORMED_MESSAGE');
    assert.equal(error.message, message);
    return true;
  };
}

describe('protobuf field scanner', () => {
  it('captures the fields asked for, with exact offsets', () => {
    const scanner = scanMessage(message, spec);
    assert.equal(message.length, 252);
    assert.deepEqual(summary(scanner), {
      fields: [
        { field: 1, wireType: 2, value: Buffer.from('sess').toString('hex'), start: 0, end: 6 },
        { field: 2, wireType: 2, value: '0a0175', start: 6, end: 11 },
        { field: 4, wireType: 0, value: '', varint: 300n, start: 214, end: 217 },
        { field: 5, wireType: 5, value: '01020304', start: 217, end: 222 },
        { field: 6, wireType: 1, value: '0100000000000000', start: 222, end: 231 },
        { field: 1, wireType: 2, value: Buffer.from('last').toString('hex'), start: 231, end: 237 },
        { field: 20, wireType: 2, value: '', start: 237, end: 240 },
        { field: 999, wireType: 0, value: '', varint: 2n ** 64n - 1n, start: 240, end: 252 },
      ],
      offset: 252,
      passed: 999,
      oversized: [],
    });
    assert.equal(scanner.first(1)?.value.toString(), 'sess');
    assert.equal(scanner.last(1)?.value.toString(), 'last');
    assert.equal(scanner.last(3), undefined);
  });

  it('scans the same at every split point and byte by byte', () => {
    const whole = summary(scanMessage(message, spec));
    for (let split = 0; split <= message.length; split++) {
      const scanner = scanChunks(
        [message.subarray(0, split), message.subarray(split)],
        spec,
        message.length,
      );
      assert.deepEqual(summary(scanner), whole, `split ${split}`);
    }
    const bytewise = scanChunks(
      [...message].map((byte) => Buffer.from([byte])),
      spec,
      message.length,
    );
    assert.deepEqual(summary(bytewise), whole);
  });

  it('copies captured values, so they outlive the pushed chunks', () => {
    const copy = Buffer.from(message);
    const scanner = scanMessage(copy, spec);
    copy.fill(0);
    assert.equal(scanner.first(1)?.value.toString(), 'sess');
  });

  it('knows which fields it has passed, captured or not', () => {
    const scanner = createFieldScanner({ capture: [1, 5000] }, message.length);
    scanner.push(message.subarray(0, 12));
    assert.equal(scanner.passed, 3);
    assert.equal(scanner.hasSeen(1), true, 'a captured field');
    assert.equal(scanner.hasSeen(2), true);
    assert.equal(scanner.hasSeen(3), true, 'field 3 has begun though its value has not arrived');
    assert.equal(scanner.hasSeen(4), false);
    assert.equal(scanner.hasSeen(5000), false);
    assert.equal(scanner.offset, 12);
    assert.throws(() => scanner.hasSeen(4000), RangeError);
  });

  it('skips a 100 MiB field pushed in chunks without keeping any of it', () => {
    const size = 100 * 1024 * 1024;
    const head = bytesOf(new BinaryWriter().tag(1, LEN).string('s').tag(3, LEN).uint32(size));
    const tail = bytesOf(new BinaryWriter().tag(9, LEN).string('after'));
    const length = head.length + size + tail.length;
    // One 64 KiB buffer pushed 1600 times: the plan never exists in memory, here or in the scanner.
    const chunk = Buffer.alloc(64 * 1024, 0xee);
    for (const capture of [
      [1, 9],
      [1, 3, 9],
    ]) {
      const scanner = createFieldScanner({ capture }, length);
      scanner.push(head);
      for (let sent = 0; sent < size; sent += chunk.length) scanner.push(chunk);
      assert.equal(scanner.offset, head.length + size);
      assert.deepEqual(
        scanner.fields.map((entry) => entry.field),
        [1],
      );
      scanner.push(tail);
      scanner.end();
      assert.equal(scanner.offset, length);
      assert.deepEqual(
        scanner.fields.map((entry) => [entry.field, entry.value.toString(), entry.start]),
        [
          [1, 's', 0],
          [9, 'after', head.length + size],
        ],
      );
      assert.deepEqual(scanner.oversized, capture.includes(3) ? [3] : []);
      assert.equal(scanner.hasSeen(3), true);
      assert.equal(scanner.passed, 9);
    }
  });

  it('skips a captured field over maxCaptureBytes and lists it once', () => {
    const bytes = bytesOf(
      new BinaryWriter()
        .tag(1, LEN)
        .string('12345')
        .tag(1, LEN)
        .string('1234')
        .tag(1, LEN)
        .string('123456'),
    );
    const scanner = scanMessage(bytes, { capture: [1], maxCaptureBytes: 4 });
    assert.deepEqual(
      scanner.fields.map((entry) => entry.value.toString()),
      ['1234'],
    );
    assert.deepEqual(scanner.oversized, [1]);
  });

  it('names the message, the byte and the problem in a malformed message', () => {
    // Field 1 of 15 bytes puts field 3 at byte 17; it claims 900 bytes with 12 left after its length.
    const overrun = Buffer.concat([
      bytesOf(new BinaryWriter().tag(1, LEN).string('x'.repeat(15))),
      Buffer.from([0x1a, 0x84, 0x07]),
      Buffer.alloc(12),
    ]);
    const cases: [Buffer, string, string][] = [
      [
        overrun,
        'the ExecutePlan request',
        'malformed protobuf in the ExecutePlan request at byte 17: field 3 claims 900 bytes but only 12 remain',
      ],
      [
        Buffer.from([0x0a, 0x02, 0x61]),
        'the message',
        'malformed protobuf in the message at byte 0: field 1 claims 2 bytes but only 1 remain',
      ],
      [
        Buffer.from([0x1b, 0x1c]),
        'the message',
        'malformed protobuf in the message at byte 0: field 3 uses groups (wire type 3), which Spark Connect never sends',
      ],
      [
        Buffer.from([0x08, 0x01, 0x0c]),
        'the message',
        'malformed protobuf in the message at byte 2: field 1 uses groups (wire type 4), which Spark Connect never sends',
      ],
      [
        Buffer.from([0x0e, 0x00]),
        'the message',
        'malformed protobuf in the message at byte 0: field 1 has the invalid wire type 6',
      ],
      [
        Buffer.from([0x02, 0x00]),
        'the message',
        'malformed protobuf in the message at byte 0: field number 0 is not a valid field',
      ],
      [
        Buffer.from([0x20, ...Array<number>(10).fill(0xff), 0x01]),
        'the message',
        'malformed protobuf in the message at byte 1: a varint is longer than 10 bytes',
      ],
      [
        Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10, 0x00]),
        'the message',
        'malformed protobuf in the message at byte 0: a field tag does not fit in 32 bits',
      ],
      [
        Buffer.from([0x08, 0x01, 0x2d, 0x01, 0x02]),
        'the message',
        'malformed protobuf in the message at byte 2: field 5 claims 4 bytes but only 2 remain',
      ],
      [
        // A fixed-size field claims its own size, however many bytes its tag was written in.
        Buffer.from([0xad, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01]),
        'the message',
        'malformed protobuf in the message at byte 0: field 5 claims 4 bytes but only 1 remain',
      ],
      [
        Buffer.from([0x08, 0x01, 0x0a]),
        'the message',
        'malformed protobuf in the message at byte 3: the message ends inside field 1 (which began at byte 2)',
      ],
      [
        Buffer.from([0x08, 0x96]),
        'the message',
        'malformed protobuf in the message at byte 2: the message ends inside field 1 (which began at byte 0)',
      ],
      [
        Buffer.from([0x08, 0x01, 0x80]),
        'the message',
        'malformed protobuf in the message at byte 3: the message ends inside a field tag',
      ],
    ];
    for (const [bytes, subject, message] of cases) {
      // Whole and byte by byte: the same error, whatever the chunking.
      for (const chunks of [[bytes], [...bytes].map((byte) => Buffer.from([byte]))]) {
        assert.throws(
          () => scanChunks(chunks, { capture: [1], subject }, bytes.length),
          malformed(message),
        );
      }
    }
  });

  it('refuses a message that ends before its length, saying where', () => {
    const between = createFieldScanner({ capture: [] }, 10);
    between.push(Buffer.from([0x08, 0x01]));
    assert.throws(() => {
      between.end();
    }, malformed('malformed protobuf in the message at byte 2: the message ended after 2 of its 10 bytes, between fields'));
    const inside = createFieldScanner({ capture: [] }, 10);
    inside.push(Buffer.from([0x08, 0x01, 0x0a, 0x05, 0x61]));
    assert.throws(() => {
      inside.end();
    }, malformed('malformed protobuf in the message at byte 5: the message ended after 5 of its 10 bytes, inside field 1 (which began at byte 2)'));
  });

  it('refuses a flood of one captured field', () => {
    const writer = new BinaryWriter();
    for (let count = 0; count < 17; count++) writer.tag(1, LEN).string('');
    const bytes = bytesOf(writer);
    assert.throws(
      () => scanMessage(bytes, { capture: [1] }),
      malformed('malformed protobuf in the message at byte 32: field 1 occurs more than 16 times'),
    );
    assert.equal(scanMessage(bytes, { capture: [2] }).fields.length, 0);
  });

  it('stays failed, and refuses more bytes than the message length', () => {
    const scanner = createFieldScanner({ capture: [] }, 2);
    let first: unknown;
    assert.throws(
      () => {
        scanner.push(Buffer.from([0x0e, 0x00]));
      },
      (error) => (first = error) instanceof GatewayError,
    );
    assert.throws(
      () => {
        scanner.push(Buffer.alloc(0));
      },
      (error) => error === first,
    );
    assert.throws(
      () => {
        scanner.end();
      },
      (error) => error === first,
    );
    const tooMuch = createFieldScanner({ capture: [] }, 1);
    assert.throws(
      () => {
        tooMuch.push(Buffer.from([0x08, 0x01]));
      },
      (error: unknown) => error instanceof GatewayError && error.code === 'GW_INTERNAL',
    );
  });

  it('random bytes end in fields or a GatewayError, never anything else', () => {
    const random = prng(1234);
    let failures = 0;
    for (let round = 0; round < 3000; round++) {
      const bytes = Buffer.from(Array.from({ length: 1 + random(120) }, () => random(256)));
      try {
        const chunks: Buffer[] = [];
        for (let at = 0; at < bytes.length;) {
          const size = 1 + random(16);
          chunks.push(bytes.subarray(at, at + size));
          at += size;
        }
        const scanner = scanChunks(
          chunks,
          { capture: [1, 2, 3], maxCaptureBytes: 8 },
          bytes.length,
        );
        assert.equal(scanner.offset, bytes.length);
      } catch (error) {
        assert.ok(error instanceof GatewayError, String(error));
        failures++;
      }
    }
    assert.ok(failures > 0 && failures < 3000, `${failures} failures`);
  });
});

describe('whole-message field walk', () => {
  it('visits every field and turns reader errors into GW_MALFORMED_MESSAGE', () => {
    const seen: number[] = [];
    forEachField(message, 'the message', (field, wireType, reader) => {
      seen.push(field);
      reader.skip(wireType, field);
    });
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 1, 20, 999]);
    assert.throws(() => {
      forEachField(Buffer.from([0x08, 0x01, 0x0a, 0x05]), 'the Config response', (f, w, r) => {
        r.skip(w, f);
      });
    }, malformed('malformed protobuf in the Config response at byte 2: premature EOF'));
  });
});
