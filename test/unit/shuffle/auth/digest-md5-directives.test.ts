// The DIGEST-MD5 directive list: what the JDK writes, what RFC 2831 allows, what must be refused,
// and random input that must never do worse than a clean ESS_AUTH error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  directivesByName,
  formatDirectives,
  parseDirectives,
  type Directive,
} from '../../../../src/shuffle/auth/digest-md5-directives.ts';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';

function parsed(text: string): [string, string][] {
  return parseDirectives(Buffer.from(text, 'utf8'), 'token').map(({ name, value }) => [
    name,
    value.toString('utf8'),
  ]);
}

function isAuthError(error: unknown): boolean {
  return error instanceof ShuffleError && error.code === 'ESS_AUTH';
}

describe('parseDirectives', () => {
  it('reads the JDK digest-response', () => {
    assert.deepEqual(
      parsed(
        'charset=utf-8,username="c3BhcmtTYXNsVXNlcg==",realm="default",nc=00000001,' +
          'digest-uri="null/default",maxbuf=65536,response=5cfe2fd3af5b9cd7b2926889450ae0a4,qop=auth',
      ),
      [
        ['charset', 'utf-8'],
        ['username', 'c3BhcmtTYXNsVXNlcg=='],
        ['realm', 'default'],
        ['nc', '00000001'],
        ['digest-uri', 'null/default'],
        ['maxbuf', '65536'],
        ['response', '5cfe2fd3af5b9cd7b2926889450ae0a4'],
        ['qop', 'auth'],
      ],
    );
  });

  it('resolves backslash escapes in quoted strings and keeps commas inside quotes', () => {
    assert.deepEqual(parsed('a="x\\"y\\\\z\\q",b="1,2"'), [
      ['a', 'x"y\\zq'],
      ['b', '1,2'],
    ]);
  });

  it('allows whitespace around separators, empty list elements and an empty quoted value', () => {
    assert.deepEqual(parsed(' ,a = 1 ,, b\t=\r\n"two" , c="" ,'), [
      ['a', '1'],
      ['b', 'two'],
      ['c', ''],
    ]);
  });

  it('lower-cases directive names and keeps values as sent', () => {
    assert.deepEqual(parsed('QOP=Auth,Realm="Default"'), [
      ['qop', 'Auth'],
      ['realm', 'Default'],
    ]);
  });

  it('keeps non-ASCII bytes of a quoted value as they are', () => {
    const [directive] = parseDirectives(Buffer.from('username="jörg€"', 'utf8'), 'token');
    assert.equal(directive?.value.toString('utf8'), 'jörg€');
  });

  it('reads nothing from an empty or blank token', () => {
    assert.deepEqual(parsed(''), []);
    assert.deepEqual(parsed(' , '), []);
  });

  for (const [text, why] of [
    ['a="open', 'no closing quote'],
    ['a="ends\\', 'ends in'],
    ['a', 'has no "="'],
    ['=1', 'unexpected byte'],
    ['a=', 'empty value'],
    ['a=,b=1', 'empty value'],
    ['a="x"y', 'text after the value'],
    ['a=1 2', 'text after the value'],
    ['a=x"y', 'stray quote'],
    ['a=x\x01', 'control byte'],
    ['a b=1', 'has no "="'],
    ['a;=1', 'has no "="'],
  ] as const) {
    it(`refuses ${JSON.stringify(text)} (${why})`, () => {
      assert.throws(
        () => parseDirectives(Buffer.from(text, 'latin1'), 'digest-response'),
        (error: unknown) =>
          isAuthError(error) &&
          (error as Error).message.includes(why) &&
          (error as Error).message.includes('digest-response is malformed'),
      );
    });
  }

  it('never fails on random input with anything but an ESS_AUTH error', () => {
    const alphabet = Buffer.from('ab=",\\ \t\r\n\x00\x7f\xffqop-1');
    let seed = 0x5eed;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    let accepted = 0;
    for (let round = 0; round < 5000; round++) {
      const bytes = Buffer.alloc(next() % 40);
      for (let at = 0; at < bytes.length; at++) bytes[at] = alphabet[next() % alphabet.length] ?? 0;
      try {
        const directives = parseDirectives(bytes, 'token');
        accepted++;
        const total = directives.reduce((sum, { value }) => sum + value.length, 0);
        assert.ok(total <= bytes.length, 'a value is never longer than the input');
      } catch (error) {
        assert.ok(isAuthError(error), `unexpected ${String(error)}`);
      }
    }
    assert.ok(accepted > 0, 'some random inputs are well formed');
  });
});

describe('formatDirectives', () => {
  it('writes tokens bare and strings quoted, with no spaces', () => {
    assert.equal(
      formatDirectives([
        ['realm', 'default', 'quoted'],
        ['charset', 'utf-8', 'token'],
      ]).toString(),
      'realm="default",charset=utf-8',
    );
  });

  it('escapes quotes and backslashes, and round-trips through parseDirectives', () => {
    const values = ['plain', 'say "hi"', 'back\\slash', '', 'ünïcødé €', ',=,'];
    const token = formatDirectives(values.map((value, index) => [`k${index}`, value, 'quoted']));
    assert.equal(token.toString().split(',')[1], 'k1="say \\"hi\\""');
    assert.deepEqual(
      parseDirectives(token, 'token').map(({ value }) => value.toString('utf8')),
      values,
    );
  });

  it('writes Buffer values byte for byte', () => {
    const raw = Buffer.from([0x61, 0xff, 0x22]);
    const token = formatDirectives([['nonce', raw, 'quoted']]);
    assert.deepEqual(token, Buffer.from([...Buffer.from('nonce="'), 0x61, 0xff, 0x5c, 0x22, 0x22]));
    assert.deepEqual(parseDirectives(token, 'token')[0]?.value, raw);
  });
});

describe('directivesByName', () => {
  const list: Directive[] = [
    { name: 'realm', value: Buffer.from('a') },
    { name: 'nonce', value: Buffer.from('n') },
    { name: 'realm', value: Buffer.from('b') },
  ];

  it('groups repeatable directives in order', () => {
    const byName = directivesByName(list, 'digest-challenge', ['realm']);
    assert.deepEqual(byName.get('realm')?.map(String), ['a', 'b']);
    assert.deepEqual(byName.get('nonce')?.map(String), ['n']);
  });

  it('refuses any other repeated directive', () => {
    assert.throws(
      () => directivesByName(list, 'digest-response'),
      (error: unknown) =>
        isAuthError(error) && String(error).includes('"realm" appears more than once'),
    );
  });
});
