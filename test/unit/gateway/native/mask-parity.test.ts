// The native masking of the backend token (SecretMasker, maskInText, maskHeaderValue and
// headerNamesSecret of the addon) held to src/gateway/proxy/secret-masker.ts: response bytes cut
// the same way must go out the same way, push by push (the same bytes, the chunk itself or a new
// buffer, the same bytes held back, the chunk left the same), and headers must be masked to the
// same text and named as holding the secret alike.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadNativeCore, type NativeCore } from '../../../../src/gateway/native/native-core.ts';
import {
  createSecretMasker,
  headerNamesSecret,
  maskHeaderValue,
  maskInText,
  type SecretMasker,
} from '../../../../src/gateway/proxy/secret-masker.ts';
import { encodeGrpcMessage } from '../../../../src/gateway/wire/grpc-frame.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

const TOKEN = 'backend-token-0123456789abcdef';
/** The token, secrets whose starts recur inside them, one byte long, and beyond ASCII. */
const SECRETS = [TOKEN, 'abab', 'aaa', 'x', 'tök\xff%'];

function nativeCore(): NativeCore {
  const loaded = loadNativeCore();
  assert.ok(loaded.core, loaded.missing);
  return loaded.core;
}

const message = (text: string): Buffer => encodeGrpcMessage(Buffer.from(text, 'latin1'));

/** What each push of `stream` cut at `cuts` (ascending, repeats giving empty chunks) did, as text. */
function steps(masker: SecretMasker, stream: Buffer, cuts: readonly number[]): string[] {
  const out: string[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    const chunk = Buffer.from(stream.subarray(from, cut));
    const sent = masker.push(chunk);
    out.push(
      `${sent === chunk ? 'chunk' : 'new'} ${sent.toString('hex')} held ${String(masker.heldBytes)} chunk ${chunk.toString('hex')}`,
    );
    from = cut;
  }
  out.push(`flush ${masker.flush().toString('hex')} held ${String(masker.heldBytes)}`);
  return out;
}

/** Both maskers over the same cuts; the TypeScript's steps. */
function assertSame(secret: string, stream: Buffer, cuts: readonly number[]): string[] {
  const expected = steps(createSecretMasker(secret), stream, cuts);
  const actual = steps(new (nativeCore().SecretMasker)(secret), stream, cuts);
  assert.deepStrictEqual(
    actual,
    expected,
    `secret ${JSON.stringify(secret)}, cuts ${cuts.join(',')}`,
  );
  return expected;
}

/** A response with the secret inside messages, cut across two, doubled, and in a last open one. */
function response(secret: string): Buffer {
  const half = Math.ceil(secret.length / 2);
  const open = message(`y${secret.slice(0, -1)}${secret}`);
  return Buffer.concat([
    message('a'),
    message(`x=${secret};`),
    message(secret.slice(0, half)),
    message(secret.slice(half)),
    message(''),
    message(`${secret}${secret}`),
    open.subarray(0, open.length - 1),
  ]);
}

/** `text` as gRPC percent-encodes it in grpc-message: '%' and bytes outside 0x20–0x7e of its UTF-8. */
function grpcPercent(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8'))
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Both sides on one header; returns whether the TypeScript changed the value. */
function assertSameHeader(name: string, value: string, secret: string): boolean {
  const core = nativeCore();
  const label = `${JSON.stringify(name)}: ${JSON.stringify(value)}, secret ${JSON.stringify(secret)}`;
  const masked = maskHeaderValue(name, value, secret);
  assert.equal(core.maskHeaderValue(name, value, secret), masked, label);
  assert.equal(
    core.headerNamesSecret(name, value, secret),
    headerNamesSecret(name, value, secret),
    label,
  );
  assert.equal(core.maskInText(value, secret), maskInText(value, secret), label);
  assert.equal(core.maskInText(name, secret), maskInText(name, secret), label);
  return masked !== value;
}

const BINARY_NAMES = [
  'grpc-status-details-bin',
  'x-bin',
  'x-BIN',
  'x-bin2',
  'grpc-message',
  'x-echo',
];

/** A binary header's value holding the secret after `before` bytes, in one of its written forms. */
function binaryForms(secret: string, before: string): string[] {
  const bytes = Buffer.from(`${before}${secret}\xfb\xff\xbf\x00\xfe`, 'latin1');
  const padded = bytes.toString('base64');
  const url = bytes.toString('base64url');
  return [
    padded,
    padded.replace(/=+$/, ''),
    url,
    `${url}==`,
    // Both alphabets in one value, and what Node skips or stops at.
    padded.replace('+', '-').replace('/', '_'),
    `${padded.slice(0, 6)}\r\n ${padded.slice(6)}`,
    `${padded.slice(0, 7)}*\xe9${padded.slice(7)}`,
    `${padded.slice(0, 8)}=${padded.slice(8)}`,
    `${padded}=AAAA`,
    padded.slice(0, 9),
  ];
}

describe('native secret masking parity', prerequisiteOptions(loadNativeCore().missing), () => {
  it('sends the same bytes for a response cut at every point and every pair of points', () => {
    for (const secret of SECRETS) {
      const stream = response(secret);
      let held = 0;
      for (let first = 0; first <= stream.length; first++)
        for (let second = first; second <= stream.length; second++)
          held += assertSame(secret, stream, [first, second]).filter(
            (step) => !step.includes(' held 0'),
          ).length;
      // A secret of one byte has no proper prefix to hold.
      if (secret.length > 1)
        assert.ok(held > stream.length, `pushes that held bytes back (${secret}): ${String(held)}`);
    }
  });

  it('sends the same bytes over random responses, cuts and mutations', () => {
    const random = prng(11);
    let masked = 0;
    let held = 0;
    for (let round = 0; round < 3000; round++) {
      const secret = SECRETS[random(SECRETS.length)] ?? TOKEN;
      const pieces = [
        'ab',
        secret,
        secret.slice(0, 1 + random(secret.length)),
        secret.slice(random(secret.length)),
        '\x00\xff*',
        // Long enough that the length's second byte counts.
        'z'.repeat(200 + random(200)),
      ];
      const messages: Buffer[] = [];
      for (let count = random(5); count > 0; count--) {
        let text = '';
        for (let part = random(6); part > 0; part--) text += pieces[random(pieces.length)] ?? '';
        messages.push(message(text));
      }
      let stream = Buffer.concat(messages);
      // Mutations reach the framing too: a changed length byte makes a message end elsewhere.
      if (stream.length > 0 && random(3) === 0)
        for (let count = 1 + random(3); count > 0; count--)
          stream[random(stream.length)] = random(256);
      if (random(4) === 0) stream = stream.subarray(0, random(stream.length + 1));
      const cuts = Array.from({ length: random(12) }, () => random(stream.length + 1)).sort(
        (a, b) => a - b,
      );
      const expected = assertSame(secret, stream, cuts);
      if (expected.some((step) => step.includes('2a2a'))) masked++;
      if (expected.some((step) => !step.includes(' held 0'))) held++;
    }
    assert.ok(masked > 1000, `rounds that masked something: ${String(masked)}`);
    assert.ok(held > 300, `rounds that held bytes back: ${String(held)}`);
  });

  it('masks and holds nothing for an empty secret', () => {
    const stream = response(TOKEN);
    const expected = assertSame('', stream, [3, 40, 41, 90]);
    assert.ok(expected.every((step) => step.startsWith('chunk') || step.startsWith('flush ')));
  });

  it('masks response headers alike: plain, grpc-message percent-encoded, binary in every form', () => {
    let changed = 0;
    for (const secret of [TOKEN, 'tök\xff%', 'tok%en é']) {
      changed += Number(assertSameHeader('x-echo', `a ${secret} b ${secret}`, secret));
      changed += Number(assertSameHeader(`x-${secret}`, 'value', secret));
      const encoded = grpcPercent(secret);
      for (const value of [
        `bad: ${encoded}!`,
        `${secret} / ${encoded}`,
        encoded.slice(0, -1),
        `\xe9${encoded}\xe9`,
      ])
        changed += Number(assertSameHeader('grpc-message', value, secret));
      for (const before of ['', 'a', 'ab', '\x08\x03\x12\x10error: '])
        for (const value of binaryForms(secret, before))
          for (const name of BINARY_NAMES) changed += Number(assertSameHeader(name, value, secret));
    }
    assertSameHeader('grpc-status-details-bin', 'AAEC', TOKEN);
    assertSameHeader('grpc-status-details-bin', '', TOKEN);
    assertSameHeader('x-bin', 'x', 'x');
    assertSameHeader('x-bin', '***', '*');
    assertSameHeader('x-bin', TOKEN, '');
    assert.ok(changed > 150, `headers masked: ${String(changed)}`);
  });

  it('masks response headers alike over random binary values and mutations', () => {
    const random = prng(5);
    const noise = ['=', ' ', '\n', '-', '_', '+', '/', '*', '\xe9', 'A', 'Q', '%'];
    let changed = 0;
    for (let round = 0; round < 4000; round++) {
      const secret = [TOKEN, 'tök\xff%', 'ab', '*'][random(4)] ?? TOKEN;
      let bytes = '';
      for (let count = random(12); count > 0; count--) bytes += String.fromCharCode(random(256));
      bytes = `${bytes.slice(0, random(bytes.length + 1))}${random(5) === 0 ? '' : secret}${bytes}`;
      let value = Buffer.from(bytes, 'latin1').toString(random(2) === 0 ? 'base64' : 'base64url');
      for (let count = random(4); count > 0; count--) {
        const at = random(value.length + 1);
        const edit = random(3);
        const inserted = edit === 2 ? '' : (noise[random(noise.length)] ?? '');
        value = value.slice(0, at) + inserted + value.slice(edit === 0 ? at : at + 1);
      }
      const name = BINARY_NAMES[random(BINARY_NAMES.length)] ?? 'x-bin';
      changed += Number(assertSameHeader(name, value, secret));
    }
    assert.ok(changed > 400, `headers masked: ${String(changed)}`);
  });

  it('refuses a secret with characters above U+00FF, which no header can carry', () => {
    const core = nativeCore();
    const refused = { code: 'ERR_INVALID_ARG_VALUE' };
    assert.throws(() => new core.SecretMasker('tok\u0100en'), refused);
    assert.throws(() => core.maskHeaderValue('x-echo', 'value', '\u{1f511}'), refused);
    assert.throws(() => core.headerNamesSecret('x-echo', 'value', 'tok\ud800'), refused);
    assert.equal(core.maskInText('a\xffb', '\xff'), 'a*b');
  });
});
