// The DIGEST-MD5 arithmetic against RFC 2831's worked example, and Spark's SASL user name and
// password derived from the app secret.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  digestMatches,
  digestResponse,
  digestResponseAuth,
  hashableText,
  type DigestMd5Inputs,
} from '../../../../src/shuffle/auth/digest-md5-digest.ts';
import { SPARK_SASL_USER, sparkSaslPassword } from '../../../../src/shuffle/auth/digest-md5.ts';
import { SECRET } from './digest-md5-helpers.ts';

describe('DIGEST-MD5 arithmetic', () => {
  // RFC 2831 §4, the IMAP example: md5-sess with qop=auth.
  const rfcExample: DigestMd5Inputs = {
    username: 'chris',
    realm: 'elwood.innosoft.com',
    password: 'secret',
    nonce: Buffer.from('OA6MG9tEQGm2hh'),
    cnonce: Buffer.from('OA6MHXh6VqTrRk'),
    nonceCount: '00000001',
    qop: 'auth',
    digestUri: 'imap/elwood.innosoft.com',
  };

  it("computes RFC 2831's example response", () => {
    assert.equal(digestResponse(rfcExample), 'd388dad90d4bbd760a152321f2143af7');
  });

  it("computes RFC 2831's example rspauth", () => {
    assert.equal(digestResponseAuth(rfcExample), 'ea40f60335c427b5527b84dbabcdfffd');
  });

  it('puts the authzid into A1, so a response for one authzid fails for another', () => {
    const withAuthzid = digestResponse({ ...rfcExample, authzid: 'chris' });
    assert.notEqual(withAuthzid, digestResponse(rfcExample));
    assert.notEqual(withAuthzid, digestResponse({ ...rfcExample, authzid: '' }));
  });

  it('hashes text as ISO-8859-1 where every character fits, else as UTF-8', () => {
    assert.deepEqual(hashableText('jörg'), Buffer.from([0x6a, 0xf6, 0x72, 0x67]));
    assert.deepEqual(hashableText('€'), Buffer.from([0xe2, 0x82, 0xac]));
    assert.deepEqual(hashableText('jö€'), Buffer.from('jö€', 'utf8'));
  });

  it('accepts only the exact lower-case digest', () => {
    const expected = 'd388dad90d4bbd760a152321f2143af7';
    assert.equal(digestMatches(Buffer.from(expected), expected), true);
    assert.equal(digestMatches(Buffer.from(expected.toUpperCase()), expected), false);
    assert.equal(digestMatches(Buffer.from(expected.slice(1)), expected), false);
    assert.equal(digestMatches(Buffer.from(`${expected}0`), expected), false);
    assert.equal(digestMatches(Buffer.from(`e${expected.slice(1)}`), expected), false);
  });
});

describe("Spark's SASL user and password", () => {
  it('SPARK_SASL_USER is base64 of sparkSaslUser', () => {
    assert.equal(SPARK_SASL_USER, Buffer.from('sparkSaslUser').toString('base64'));
  });

  it('breaks the password of a 64-hex-character secret once, at position 76', () => {
    const password = sparkSaslPassword(SECRET);
    assert.equal(password.length, 89);
    assert.equal(password.indexOf('\n'), 76);
    assert.equal(password.lastIndexOf('\n'), 76);
    assert.equal(Buffer.from(password.replace('\n', ''), 'base64').toString(), SECRET);
  });

  it('breaks after every 76 characters and never at the end', () => {
    // 57 bytes encode to exactly 76 characters, 114 to exactly 152.
    assert.equal(sparkSaslPassword('x'.repeat(57)).includes('\n'), false);
    assert.deepEqual(
      sparkSaslPassword('x'.repeat(114))
        .split('\n')
        .map((line) => line.length),
      [76, 76],
    );
    assert.deepEqual(
      sparkSaslPassword('x'.repeat(200))
        .split('\n')
        .map((line) => line.length),
      [76, 76, 76, 40],
    );
    assert.equal(sparkSaslPassword(''), '');
  });

  it('encodes the secret as UTF-8', () => {
    assert.equal(sparkSaslPassword('s€cret'), Buffer.from('s€cret', 'utf8').toString('base64'));
  });
});
