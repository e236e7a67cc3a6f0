// The agent protocol's framing: the same lines and raw bytes for every chunk boundary, the line
// limit enforced before a long line is joined, and random bytes never throwing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createLineDecoder, type LineDecoder } from '../../../../src/doctor/agent/line-decoder.ts';

type Event = ['line', string] | ['raw', number] | ['rawDone'] | ['tooLong', number];

/** A decoder whose handler records events and, for `sink N` lines, expects N raw bytes. */
function recorder(maxLine = 64): { decoder: LineDecoder; events: Event[] } {
  const events: Event[] = [];
  const decoder: LineDecoder = createLineDecoder(maxLine, {
    line(text) {
      events.push(['line', text]);
      const match = /^sink (\d+)$/.exec(text);
      if (match !== null) decoder.expectRaw(Number(match[1]));
    },
    raw(chunk) {
      const last = events.at(-1);
      if (last?.[0] === 'raw') last[1] += chunk.length;
      else events.push(['raw', chunk.length]);
    },
    rawDone() {
      events.push(['rawDone']);
    },
    tooLong(bytes) {
      events.push(['tooLong', bytes]);
    },
  });
  return { decoder, events };
}

const STREAM = Buffer.concat([
  Buffer.from('hello\r\n{"id":1,"op":"ping"}\nsink 5\n'),
  Buffer.from('ab\ncd'),
  Buffer.from('after\n\nsink 0\nlast\n'),
]);
const EXPECTED: Event[] = [
  ['line', 'hello'],
  ['line', '{"id":1,"op":"ping"}'],
  ['line', 'sink 5'],
  ['raw', 5],
  ['rawDone'],
  ['line', 'after'],
  ['line', ''],
  ['line', 'sink 0'],
  ['rawDone'],
  ['line', 'last'],
];

describe('createLineDecoder', () => {
  it('gives the same lines and raw bytes for every split of the stream into two and three chunks', () => {
    for (let first = 0; first <= STREAM.length; first += 1) {
      for (let second = first; second <= STREAM.length; second += 7) {
        const { decoder, events } = recorder();
        decoder.push(STREAM.subarray(0, first));
        decoder.push(STREAM.subarray(first, second));
        decoder.push(STREAM.subarray(second));
        assert.deepEqual(events, EXPECTED, `split at ${String(first)} and ${String(second)}`);
      }
    }
  });

  it('gives the same result one byte at a time', () => {
    const { decoder, events } = recorder();
    for (const byte of STREAM) decoder.push(Buffer.from([byte]));
    assert.deepEqual(events, EXPECTED);
  });

  it('refuses a line over the limit before joining it, across chunks, and then accepts nothing', () => {
    const { decoder, events } = recorder(10);
    decoder.push(Buffer.from('short\n0123'));
    assert.equal(decoder.pendingBytes, 4);
    decoder.push(Buffer.from('456789'));
    assert.deepEqual(events, [['line', 'short']], 'ten bytes pending is still within the limit');
    decoder.push(Buffer.from('X'));
    assert.deepEqual(events, [
      ['line', 'short'],
      ['tooLong', 11],
    ]);
    decoder.push(Buffer.from('\nmore\n'));
    assert.equal(events.length, 2, 'nothing after the limit was passed');
  });

  it('takes a line of exactly the limit', () => {
    const { decoder, events } = recorder(5);
    decoder.push(Buffer.from('12345\n'));
    assert.deepEqual(events, [['line', '12345']]);
  });

  it('never throws on random bytes and never holds more than the limit', () => {
    for (let round = 0; round < 200; round += 1) {
      const { decoder } = recorder(32);
      const bytes = randomBytes(1 + (round % 97) * 3);
      for (let offset = 0; offset < bytes.length; offset += 1 + (round % 5)) {
        decoder.push(bytes.subarray(offset, offset + 1 + (round % 5)));
        assert.ok(decoder.pendingBytes <= 32);
      }
    }
  });

  it('refuses a negative or fractional raw count', () => {
    const { decoder } = recorder();
    assert.throws(() => {
      decoder.expectRaw(-1);
    }, RangeError);
    assert.throws(() => {
      decoder.expectRaw(1.5);
    }, RangeError);
  });
});
