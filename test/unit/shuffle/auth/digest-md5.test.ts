// The shuffle service's DIGEST-MD5 server: what it accepts besides the JDK's exact response, and
// every way a digest-response must be refused (wrong secret, user, realm, nonce, digest-uri, nc,
// authzid or qop; replay; malformed or oversized input; steps out of order).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SPARK_SASL_USER, createDigestMd5Server } from '../../../../src/shuffle/auth/digest-md5.ts';
import {
  CNONCE,
  OTHER_SECRET,
  SECRET,
  authError,
  challengedServer,
  fixedBytes,
  responseWith,
  rspauthFor,
  shuffleError,
} from './digest-md5-helpers.ts';

describe('the server', () => {
  it('accepts the well-formed response the tests build on', () => {
    const server = challengedServer();
    assert.match(server.respond(responseWith()).toString(), /^rspauth=[0-9a-f]{32}$/);
  });

  for (const [name, changes] of [
    ['no charset (ISO-8859-1 for an ASCII user name)', { charset: undefined }],
    ['no qop (RFC 2831 defaults to auth)', { qop: undefined }],
    ['an authzid equal to the user name', { authzid: SPARK_SASL_USER }],
    ['an unknown directive, which RFC 2831 says to ignore', { 'x-extension': 'yes' }],
    ['no maxbuf', { maxbuf: undefined }],
  ] as const) {
    it(`accepts a response with ${name}`, () => {
      assert.equal(
        challengedServer().respond(responseWith(changes)).subarray(0, 8).toString(),
        'rspauth=',
      );
    });
  }

  it('accepts whitespace and a different directive order', () => {
    const server = challengedServer();
    const text = responseWith().toString().split(',').reverse().join(' , ');
    server.respond(Buffer.from(text));
    assert.equal(server.complete, true);
  });

  const refusals: [string, () => Buffer, RegExp][] = [
    [
      'a wrong secret',
      () => responseWith({}, OTHER_SECRET),
      /does not know the secret.*spark\.authenticate\.secret/,
    ],
    [
      'a wrong user name',
      () => responseWith({ username: 'c3BhcmtVc2Vy' }),
      /unknown user name "c3BhcmtVc2Vy"/,
    ],
    ['no user name', () => responseWith({ username: undefined }), /no username directive/],
    [
      'a wrong realm',
      () => responseWith({ realm: 'elsewhere' }),
      /realm "elsewhere", not "default"/,
    ],
    [
      'no realm (the empty realm)',
      () => responseWith({ realm: undefined }),
      /realm "", not "default"/,
    ],
    [
      'a nonce from another connection',
      () => responseWith({ nonce: CNONCE }),
      /nonce is not the one this server issued/,
    ],
    ['no nonce', () => responseWith({ nonce: undefined }), /no nonce directive/],
    ['no cnonce', () => responseWith({ cnonce: undefined }), /no cnonce directive/],
    ['an empty cnonce', () => responseWith({ cnonce: '' }), /cnonce is empty/],
    ['nc=00000002', () => responseWith({ nc: '00000002' }), /nc=00000002, but .* nc=00000001/],
    ['nc=1', () => responseWith({ nc: '1' }), /nc=1, but/],
    ['no nc', () => responseWith({ nc: undefined }), /no nc directive/],
    [
      'a wrong digest-uri',
      () => responseWith({ 'digest-uri': 'hdfs/default' }),
      /digest-uri is "hdfs\/default", not "null\/default"/,
    ],
    ['no digest-uri', () => responseWith({ 'digest-uri': undefined }), /no digest-uri directive/],
    [
      'an authzid other than the user name',
      () => responseWith({ authzid: 'admin' }),
      /asked to act as "admin"; the authorization id must be the user name/,
    ],
    [
      'qop=auth-conf',
      () => responseWith({ qop: 'auth-conf' }),
      /qop=auth-conf, but only qop=auth is offered; SASL encryption is not supported: set spark\.authenticate\.enableSaslEncryption=false/,
    ],
    [
      'qop=auth-int',
      () => responseWith({ qop: 'auth-int' }),
      /qop=auth-int, but only qop=auth is offered; SASL encryption/,
    ],
    [
      'qop=nonsense',
      () => responseWith({ qop: 'nonsense' }),
      /qop=nonsense, but only qop=auth is offered$/,
    ],
    [
      'charset=iso-8859-1',
      () => responseWith({ charset: 'iso-8859-1' }),
      /charset iso-8859-1; only utf-8/,
    ],
    ['maxbuf=lots', () => responseWith({ maxbuf: 'lots' }), /maxbuf=lots is not a number/],
    ['no response', () => responseWith({ response: undefined }), /no response directive/],
    [
      'an upper-case response',
      () =>
        Buffer.from(
          responseWith()
            .toString()
            .replace(/response=([0-9a-f]+)/, (_, hex: string) => `response=${hex.toUpperCase()}`),
        ),
      /does not know the secret/,
    ],
    ['a short response', () => responseWith({ response: 'abc' }), /does not know the secret/],
    ['an empty token', () => Buffer.alloc(0), /digest-response is empty/],
    [
      'a repeated directive',
      () => Buffer.concat([responseWith(), Buffer.from(',qop=auth')]),
      /"qop" appears more than once/,
    ],
    ['an unterminated quote', () => Buffer.from('username="c3Bh'), /malformed .*no closing quote/],
    [
      'invalid UTF-8 in the user name',
      () =>
        Buffer.concat([
          Buffer.from('charset=utf-8,username="'),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"'),
        ]),
      /user name is not valid UTF-8/,
    ],
    [
      '4097 bytes',
      () =>
        Buffer.concat([responseWith(), Buffer.from(`,x="${'a'.repeat(4096)}"`)]).subarray(0, 4097),
      /4097 bytes, more than the 4096/,
    ],
    [
      'a huge token',
      () => Buffer.alloc(64 * 1024 * 1024, 0x61),
      /67108864 bytes, more than the 4096/,
    ],
  ];
  for (const [name, response, message] of refusals) {
    it(`refuses ${name}`, () => {
      const server = challengedServer();
      assert.throws(() => server.respond(response()), authError(message));
      assert.equal(server.complete, false);
    });
  }

  it('parses a 4096-byte response (the limit is inclusive)', () => {
    const base = responseWith();
    const padding = `,x="${'a'.repeat(4096 - base.length - 5)}"`;
    const response = Buffer.concat([base, Buffer.from(padding)]);
    assert.equal(response.length, 4096);
    challengedServer().respond(response);
  });

  it('refuses a response before the challenge', () => {
    const server = createDigestMd5Server({ secret: SECRET, randomBytes: fixedBytes(1) });
    assert.throws(() => server.respond(responseWith()), authError(/arrived before the challenge/));
  });

  it('refuses a second challenge', () => {
    const server = challengedServer();
    assert.throws(() => server.challenge(), authError(/second initial token/));
  });

  it('refuses a replay of an accepted response on the same connection', () => {
    const server = challengedServer();
    server.respond(responseWith());
    assert.throws(
      () => server.respond(responseWith()),
      authError(/second digest-response .* \(a replay\?\)/),
    );
    assert.equal(server.complete, true);
  });

  it('refuses a replay of an accepted response on a new connection (new nonce)', () => {
    const first = challengedServer();
    const response = responseWith();
    first.respond(response);
    const second = createDigestMd5Server({ secret: SECRET, randomBytes: fixedBytes(9) });
    second.challenge();
    assert.throws(() => second.respond(response), authError(/stale or replayed/));
  });

  it('gives no second try after a failure, even with the right response', () => {
    const server = challengedServer();
    assert.throws(() => server.respond(responseWith({}, OTHER_SECRET)), authError(/secret/));
    assert.throws(() => server.respond(responseWith()), authError(/after the exchange had failed/));
    assert.equal(server.complete, false);
  });

  it("answers with the rspauth the client's side computes", () => {
    assert.deepEqual(challengedServer().respond(responseWith()), rspauthFor(SECRET));
  });

  it('refuses a random source that gives the wrong number of bytes', () => {
    const server = createDigestMd5Server({ secret: SECRET, randomBytes: () => Buffer.alloc(4) });
    assert.throws(() => server.challenge(), shuffleError('ESS_STATE', /4 bytes .* instead of 30/));
  });
});
