// The shared schema pieces: what each accepts, what it yields and the message a person sees.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { z } from 'zod';
import {
  duration,
  host,
  hostPort,
  oneOf,
  parseHostPort,
  path,
  port,
  portOrZero,
  positiveInt,
  size,
} from '../../../../src/core/config/fields.ts';

/** The parsed value, or the issue messages when the schema rejects `value`. */
function check(schema: z.ZodType, value: unknown): { ok: unknown } | { messages: string[] } {
  const result = schema.safeParse(value);
  return result.success
    ? { ok: result.data }
    : { messages: result.error.issues.map((issue) => issue.message) };
}

const PORT_MESSAGE = 'must be a number 1–65535';
const PORT_OR_ZERO_MESSAGE = 'must be a number 0–65535 (0 picks a free port)';
const HOST_PORT_MESSAGE = 'must be HOST:PORT with a port 1–65535';
const DURATION_MESSAGE = 'must be a duration such as 500ms, 3s or 2m';
const SIZE_MESSAGE = 'must be a size such as 512m, 4g or 16GiB';

describe('port', () => {
  it('accepts 1 and 65535', () => {
    assert.deepEqual(check(port(), 1), { ok: 1 });
    assert.deepEqual(check(port(), 65535), { ok: 65535 });
  });
  for (const value of [0, 65536, -1, 80.5, '80', null, undefined]) {
    it(`rejects ${typeof value === 'string' ? JSON.stringify(value) : String(value)} with one message`, () => {
      assert.deepEqual(check(port(), value), { messages: [PORT_MESSAGE] });
    });
  }
});

describe('portOrZero', () => {
  it('accepts 0 (a free port) and 65535', () => {
    assert.deepEqual(check(portOrZero(), 0), { ok: 0 });
    assert.deepEqual(check(portOrZero(), 65535), { ok: 65535 });
  });
  for (const value of [-1, 65536, 'x']) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      assert.deepEqual(check(portOrZero(), value), { messages: [PORT_OR_ZERO_MESSAGE] });
    });
  }
});

describe('host', () => {
  for (const value of ['spark-1.example.com', '10.0.0.1', '::1', 'fe80::1%eth0', 'h_1']) {
    it(`accepts ${value}`, () => {
      assert.deepEqual(check(host(), value), { ok: value });
    });
  }
  it('rejects a space, a slash and a number', () => {
    assert.deepEqual(check(host(), 'a b'), { messages: ['must be a host name or IP address'] });
    assert.deepEqual(check(host(), 'http://a'), {
      messages: ['must be a host name or IP address'],
    });
    assert.deepEqual(check(host(), 5), { messages: ['must be a host name or IP address'] });
  });
  it('rejects an empty host with one message', () => {
    assert.deepEqual(check(host(), ''), { messages: ['must be a host name or IP address'] });
  });
});

describe('hostPort', () => {
  it('parses HOST:PORT', () => {
    assert.deepEqual(check(hostPort(), 'a:1'), { ok: { host: 'a', port: 1 } });
    assert.deepEqual(check(hostPort(), 'spark-1.example.com:65535'), {
      ok: { host: 'spark-1.example.com', port: 65535 },
    });
  });
  it('parses [v6]:PORT without the brackets', () => {
    assert.deepEqual(check(hostPort(), '[::1]:15002'), { ok: { host: '::1', port: 15002 } });
  });
  it('ignores surrounding blanks', () => {
    assert.deepEqual(check(hostPort(), ' a:1 '), { ok: { host: 'a', port: 1 } });
  });
  for (const text of ['a:0', 'a:70000', 'a', ':1', 'a:', '::1:80', 'a:1:2', 'a b:1']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.deepEqual(check(hostPort(), text), { messages: [HOST_PORT_MESSAGE] });
      assert.equal(parseHostPort(text), undefined);
    });
  }
  it('rejects a non-string with the short message', () => {
    assert.deepEqual(check(hostPort(), 7337), { messages: ['must be HOST:PORT'] });
  });
});

describe('duration', () => {
  for (const [value, ms] of [
    ['500ms', 500],
    ['3s', 3000],
    ['1.5s', 1500],
    ['2m', 120_000],
    [1500, 1500],
    [0, 0],
  ] as const) {
    it(`yields ${ms} ms for ${JSON.stringify(value)}`, () => {
      assert.deepEqual(check(duration(), value), { ok: ms });
    });
  }
  for (const value of ['3x', '', '-1s', -1, true, null]) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      assert.deepEqual(check(duration(), value), { messages: [DURATION_MESSAGE] });
    });
  }
  it('takes its default before parsing', () => {
    assert.deepEqual(check(duration().default(30_000), undefined), { ok: 30_000 });
  });
});

describe('size', () => {
  for (const [value, bytes] of [
    ['512m', 512 * 1024 ** 2],
    ['4g', 4 * 1024 ** 3],
    ['16GiB', 16 * 1024 ** 3],
    ['100', 100],
    [100, 100],
  ] as const) {
    it(`yields ${bytes} bytes for ${JSON.stringify(value)}`, () => {
      assert.deepEqual(check(size(), value), { ok: bytes });
    });
  }
  for (const value of ['3x', 'abc', '', 0, '0', -5, true]) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      assert.deepEqual(check(size(), value), { messages: [SIZE_MESSAGE] });
    });
  }
});

describe('oneOf', () => {
  const colour = oneOf(['red', 'green']);
  it('accepts a listed value', () => {
    assert.deepEqual(check(colour, 'green'), { ok: 'green' });
  });
  it('lists the values when it rejects', () => {
    assert.deepEqual(check(colour, 'blue'), { messages: ['must be one of red, green'] });
    assert.deepEqual(check(colour, 1), { messages: ['must be one of red, green'] });
  });
});

describe('positiveInt and path', () => {
  it('positiveInt accepts 1 and names what it wants otherwise', () => {
    assert.deepEqual(check(positiveInt(), 1), { ok: 1 });
    assert.deepEqual(check(positiveInt(), 0), {
      messages: ['must be a whole number of at least 1'],
    });
    assert.deepEqual(check(positiveInt('a count of users'), 'x'), {
      messages: ['must be a count of users'],
    });
  });
  it('path rejects empty text and non-strings', () => {
    assert.deepEqual(check(path(), '/var/lib'), { ok: '/var/lib' });
    assert.deepEqual(check(path(), ''), { messages: ['must be a path, not empty'] });
    assert.deepEqual(check(path(), 1), { messages: ['must be a path'] });
  });
});
