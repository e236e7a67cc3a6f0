import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeGrpcMessageText,
  encodeGrpcMessageText,
} from '../../../../src/gateway/wire/grpc-status-text.ts';

describe('grpc-message text', () => {
  it('percent-encodes bytes outside 0x20–0x7E and the percent sign, as UTF-8', () => {
    assert.equal(encodeGrpcMessageText('no backend for session s-1'), 'no backend for session s-1');
    assert.equal(encodeGrpcMessageText('100% full'), '100%25 full');
    assert.equal(encodeGrpcMessageText('naïve\nline\t~'), 'na%C3%AFve%0Aline%09~');
    assert.equal(encodeGrpcMessageText('🚀'), '%F0%9F%9A%80');
    assert.equal(encodeGrpcMessageText('\u007f\u0000'), '%7F%00');
  });

  it('decodes what it encodes, for every kind of character', () => {
    const samples = [
      '',
      'plain',
      '100%',
      '%41 is not A',
      'naïve\r\n',
      '日本語',
      '🚀 x 🛰',
      '\u0000\u007f',
    ];
    for (const text of samples)
      assert.equal(decodeGrpcMessageText(encodeGrpcMessageText(text)), text);
    let state = 5;
    for (let round = 0; round < 500; round++) {
      let text = '';
      for (let index = 0; index < 20; index++) {
        state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
        // Code points from ASCII to the astral planes, skipping the surrogate range.
        const codePoint = state % 0x10ffff;
        text += String.fromCodePoint(codePoint >= 0xd800 && codePoint < 0xe000 ? 0x25 : codePoint);
      }
      const encoded = encodeGrpcMessageText(text);
      assert.match(encoded, /^[\x20-\x7e]*$/);
      assert.equal(decodeGrpcMessageText(encoded), text);
    }
  });

  it('keeps what it cannot decode instead of failing or dropping the message', () => {
    assert.equal(decodeGrpcMessageText('50%'), '50%');
    assert.equal(decodeGrpcMessageText('%zz and %4'), '%zz and %4');
    assert.equal(decodeGrpcMessageText('%C3'), '\ufffd');
    assert.equal(decodeGrpcMessageText('%c3%a9'), 'é');
    assert.equal(decodeGrpcMessageText('raw é 🚀 %21'), 'raw é 🚀 !');
  });

  it('decodes any random text without throwing', () => {
    let state = 11;
    const alphabet = '%0123456789abcdefABCDEFxyz \u00e9\ud83d\ude80\ud800';
    for (let round = 0; round < 2000; round++) {
      let text = '';
      for (let index = 0; index < 12; index++) {
        state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
        text += alphabet[state % alphabet.length] ?? '';
      }
      assert.equal(typeof decodeGrpcMessageText(text), 'string');
    }
  });
});
