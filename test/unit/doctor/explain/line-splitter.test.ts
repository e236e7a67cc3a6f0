// The line splitter as a push decoder: the same lines for every way of cutting the input into
// chunks, CRLF and UTF-8 across chunk edges, and over-long lines kept to their first bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { createLineSplitter } from '../../../../src/doctor/explain/line-splitter.ts';

function splitAll(input: Uint8Array, cuts: readonly number[], max?: number): string[] {
  const splitter = createLineSplitter(max);
  const lines: string[] = [];
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    lines.push(...splitter.push(input.subarray(start, cut)));
    start = cut;
  }
  return [...lines, ...splitter.end()];
}

/** What a whole-buffer split gives: the reference every chunking must match. */
function reference(text: string): string[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  // Nothing after the last newline is no line; a lone `\r` there is an empty one.
  if (text.endsWith('\n') || text === '') lines.pop();
  return lines;
}

const SAMPLE =
  '24/06/03 14:05:40 ERROR RetryingBlockTransferor: Exception\r\n' +
  'java.io.IOException: Failed to connect to /10.0.1.23:7337\n' +
  '\n' +
  'ünïcödé ✓ 日本語 line\r\n' +
  'last line without newline';

describe('createLineSplitter', () => {
  it('gives the same lines for a cut at every position, and every pair of positions', () => {
    const input = Buffer.from(SAMPLE);
    const expected = reference(SAMPLE);
    for (let first = 0; first <= input.length; first += 1) {
      assert.deepEqual(splitAll(input, [first]), expected, `cut at ${first}`);
      for (let second = first; second <= input.length; second += 7) {
        assert.deepEqual(splitAll(input, [first, second]), expected, `cuts ${first},${second}`);
      }
    }
  });

  it('gives the same lines one byte at a time', () => {
    const input = Buffer.from(SAMPLE);
    const cuts = Array.from({ length: input.length }, (_, index) => index);
    assert.deepEqual(splitAll(input, cuts), reference(SAMPLE));
  });

  it('keeps empty lines and drops only the final newline', () => {
    assert.deepEqual(splitAll(Buffer.from('\n\na\n'), []), ['', '', 'a']);
    assert.deepEqual(splitAll(Buffer.from(''), []), []);
  });

  it('keeps the first bytes of an over-long line, wherever the chunks end', () => {
    const input = Buffer.from(`${'x'.repeat(50)}\nshort\n${'y'.repeat(10)}`);
    for (let cut = 0; cut <= input.length; cut += 1) {
      assert.deepEqual(splitAll(input, [cut], 8), ['xxxxxxxx', 'short', 'yyyyyyyy']);
    }
  });

  it('buffers no more than the limit of a huge line', () => {
    const splitter = createLineSplitter(16);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let index = 0; index < 64; index += 1) assert.deepEqual(splitter.push(chunk), []);
    assert.deepEqual(splitter.push(Buffer.from('\n')), ['a'.repeat(16)]);
    assert.deepEqual(splitter.end(), []);
  });

  it('copies what it keeps, so callers may reuse their buffers', () => {
    const splitter = createLineSplitter();
    const chunk = Buffer.from('abc');
    splitter.push(chunk);
    chunk.fill(0x7a);
    assert.deepEqual(splitter.push(Buffer.from('\n')), ['abc']);
  });

  it('matches the reference on random input cut at random places', () => {
    for (let round = 0; round < 200; round += 1) {
      const bytes = randomBytes(1 + Math.floor(Math.random() * 400));
      // Plenty of newlines and carriage returns, and ASCII so the reference decodes alike.
      for (let index = 0; index < bytes.length; index += 1) {
        const byte = bytes[index] ?? 0;
        bytes[index] = byte % 11 === 0 ? 0x0a : byte % 13 === 0 ? 0x0d : 0x20 + (byte % 90);
      }
      const cuts = Array.from({ length: 5 }, () => Math.floor(Math.random() * bytes.length)).sort(
        (a, b) => a - b,
      );
      assert.deepEqual(splitAll(bytes, cuts), reference(bytes.toString('latin1')));
    }
  });

  it('refuses a limit below one byte', () => {
    assert.throws(() => createLineSplitter(0), RangeError);
  });
});
