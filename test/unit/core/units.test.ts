// Units: the duration and size text people write in flags and config files.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../../src/core/units.ts';

const KIB = 1024;
const MIB = 1024 ** 2;
const GIB = 1024 ** 3;
const TIB = 1024 ** 4;

describe('parseDuration', () => {
  for (const [text, ms] of [
    ['500ms', 500],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['0s', 0],
    [' 2 s ', 2000],
    ['3S', 3000],
  ] as const) {
    it(`reads ${JSON.stringify(text)} as ${ms} ms`, () => {
      assert.equal(parseDuration(text), ms);
    });
  }

  it('rounds to whole milliseconds', () => {
    assert.equal(parseDuration('1.0005s'), 1001);
  });

  for (const text of ['3x', '-1s', '', 'abc', '5', '.5s', 's', '1 s 2']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseDuration(text), undefined);
    });
  }
});

describe('parseSize', () => {
  for (const [text, bytes] of [
    ['100', 100],
    ['1b', 1],
    ['1k', KIB],
    ['1.5k', 1536],
    ['512m', 512 * MIB],
    ['512MB', 512 * MIB],
    ['10 MiB', 10 * MIB],
    ['4g', 4 * GIB],
    ['16GiB', 16 * GIB],
    ['1t', TIB],
    ['2TB', 2 * TIB],
  ] as const) {
    it(`reads ${JSON.stringify(text)} as ${bytes} bytes`, () => {
      assert.equal(parseSize(text), bytes);
    });
  }

  for (const text of ['3x', '-1s', '', 'abc', '1p', '-5', 'g']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseSize(text), undefined);
    });
  }
});

describe('formatDuration', () => {
  for (const [ms, text] of [
    [0, '0ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1500ms'],
    [90_000, '90s'],
    [120_000, '2m'],
    [5_400_000, '90m'],
    [3_600_000, '1h'],
    [86_400_000, '24h'],
  ] as const) {
    it(`writes ${ms} ms as ${text}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }

  it('writes what parseDuration reads back to the same value', () => {
    for (const ms of [1, 1500, 60_000, 90_000, 7_200_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
  });
});

describe('formatSize', () => {
  for (const [bytes, text] of [
    [0, '0 B'],
    [100, '100 B'],
    [1023, '1023 B'],
    [KIB, '1 KiB'],
    [1536, '1.5 KiB'],
    [1_234_567, '1.18 MiB'],
    [512 * MIB, '512 MiB'],
    [4 * GIB, '4 GiB'],
    [16 * GIB, '16 GiB'],
    [TIB, '1 TiB'],
    [1024 * TIB, '1024 TiB'],
  ] as const) {
    it(`writes ${bytes} bytes as ${text}`, () => {
      assert.equal(formatSize(bytes), text);
    });
  }
});
