import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createSecretMasker,
  headerNamesSecret,
  maskHeaderValue,
  type SecretMasker,
} from '../../../../src/gateway/proxy/secret-masker.ts';
import { encodeGrpcMessage } from '../../../../src/gateway/wire/grpc-frame.ts';
import { prng } from '../../../support/prng.ts';

const SECRET = 'backend-token-0123456789abcdef';
const MASK = '*'.repeat(SECRET.length);

/** What a client gets when `stream` arrives cut at `cuts`: what each push let go, and the rest at the end. */
function through(masker: SecretMasker, stream: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    out.push(Buffer.from(masker.push(Buffer.from(stream.subarray(from, cut)))));
    from = cut;
  }
  out.push(masker.flush());
  return out;
}

const message = (text: string): Buffer => encodeGrpcMessage(Buffer.from(text, 'latin1'));

describe('secret masker', () => {
  it('masks the secret in one chunk in place, keeping every length', () => {
    const masker = createSecretMasker(SECRET);
    const chunk = message(`conf ${SECRET} and ${SECRET}.`);
    const out = masker.push(chunk);
    assert.equal(out, chunk, 'nothing held: the chunk itself, masked');
    assert.equal(out.toString('latin1').slice(5), `conf ${MASK} and ${MASK}.`);
    assert.equal(masker.heldBytes, 0);
  });

  it('masks a secret cut across chunks at every position, holding only the open message', () => {
    const stream = Buffer.concat([message('a'), message(`x=${SECRET};`), message('tail')]);
    const expected = Buffer.concat([message('a'), message(`x=${MASK};`), message('tail')]);
    for (let cut = 1; cut < stream.length; cut++) {
      const masker = createSecretMasker(SECRET);
      const out = through(masker, stream, [cut]);
      assert.deepEqual(Buffer.concat(out), expected, `cut at ${String(cut)}`);
      assert.equal(masker.heldBytes, 0);
    }
  });

  it('masks a secret spread over many small chunks', () => {
    const stream = Buffer.concat([message(`${SECRET}${SECRET}`), message(SECRET)]);
    const cuts = Array.from(
      { length: Math.ceil(stream.length / 3) - 1 },
      (_, index) => (index + 1) * 3,
    );
    const out = Buffer.concat(through(createSecretMasker(SECRET), stream, cuts));
    assert.deepEqual(out, Buffer.concat([message(`${MASK}${MASK}`), message(MASK)]));
  });

  it('never holds back the end of a complete message, even when it looks like the secret starting', () => {
    const masker = createSecretMasker(SECRET);
    const first = message(`reply ends with ${SECRET.slice(0, 10)}`);
    assert.equal(masker.push(first), first, 'the whole message goes at once');
    assert.equal(masker.heldBytes, 0);
    // The start of the next message looks like the secret's start too, and the message is open.
    const next = Buffer.from(message(`${SECRET.slice(0, 12)}xyz`).subarray(0, 5 + 12));
    const out = masker.push(next);
    assert.equal(out.length, 5, 'the prefix goes, the possible start of the secret waits');
    assert.equal(masker.heldBytes, 12);
  });

  it('does not take bytes of two messages for the secret', () => {
    const stream = Buffer.concat([message(SECRET.slice(0, 15)), message(SECRET.slice(15))]);
    const out = Buffer.concat(through(createSecretMasker(SECRET), stream, [7, 20]));
    assert.deepEqual(out, stream);
  });

  it('gives back what it held when the stream ends in the middle of a message', () => {
    const masker = createSecretMasker(SECRET);
    const cut = Buffer.from(message(SECRET.slice(0, 8)).subarray(0, 5 + 8));
    // The prefix announces 8 bytes: the message ends with them, so nothing is held.
    assert.equal(masker.push(cut).length, 13);
    const open = Buffer.from(message(`xy${SECRET.slice(0, 8)}more`).subarray(0, 5 + 10));
    assert.equal(masker.push(open).length, 7);
    assert.equal(masker.flush().toString('latin1'), SECRET.slice(0, 8));
    assert.equal(masker.heldBytes, 0);
  });

  it('matches a masker that sees the whole stream at once, over random streams and cuts', () => {
    const random = prng(7);
    let masked = 0;
    const pieces = ['ab', SECRET, SECRET.slice(0, 9), SECRET.slice(4), 'b', SECRET[0] ?? 'b'];
    for (let round = 0; round < 300; round++) {
      const messages: Buffer[] = [];
      const whole: Buffer[] = [];
      for (let count = 1 + random(4); count > 0; count--) {
        let text = '';
        for (let part = random(6); part > 0; part--) text += pieces[random(pieces.length)] ?? '';
        messages.push(message(text));
        whole.push(message(text.split(SECRET).join(MASK)));
      }
      const stream = Buffer.concat(messages);
      const cuts = new Set<number>();
      for (let count = random(8); count > 0; count--)
        cuts.add(1 + random(Math.max(stream.length - 1, 1)));
      const sorted = [...cuts].filter((cut) => cut < stream.length).sort((a, b) => a - b);
      const out = Buffer.concat(through(createSecretMasker(SECRET), stream, sorted));
      masked += whole.filter((bytes, index) => !bytes.equals(messages[index] ?? bytes)).length;
      assert.deepEqual(
        out,
        Buffer.concat(whole),
        `round ${String(round)}, cuts ${sorted.join(',')}`,
      );
    }
    assert.ok(masked > 100, `messages with the secret in them: ${String(masked)}`);
  });
});

describe('secret masking in response headers', () => {
  it('masks plain values, grpc-message as gRPC percent-encodes it, and binary values decoded', () => {
    assert.equal(maskHeaderValue('x-echo', `a ${SECRET} b`, SECRET), `a ${MASK} b`);
    const odd = 'tok%en é';
    assert.equal(
      maskHeaderValue('grpc-message', 'bad: tok%25en %C3%A9!', odd),
      `bad: ${'*'.repeat('tok%25en %C3%A9'.length)}!`,
    );
    const details = Buffer.from(`\x08\x03\x12\x10error: ${SECRET} here`, 'latin1');
    const unpadded = details.toString('base64').replace(/=+$/, '');
    const masked = maskHeaderValue('grpc-status-details-bin', unpadded, SECRET);
    assert.ok(!masked.endsWith('='), 'unpadded as it came');
    assert.equal(
      Buffer.from(masked, 'base64').toString('latin1'),
      `\x08\x03\x12\x10error: ${MASK} here`,
    );
    assert.equal(maskHeaderValue('grpc-status-details-bin', 'AAEC', SECRET), 'AAEC');
    assert.ok(headerNamesSecret('grpc-status-details-bin', unpadded, SECRET));
    assert.ok(headerNamesSecret('grpc-message', 'x tok%25en %C3%A9', odd));
    assert.ok(!headerNamesSecret('grpc-message', 'nothing here', SECRET));
  });
});
