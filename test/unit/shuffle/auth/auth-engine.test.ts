// Spark's AuthEngine handshake and CTR transport cipher: the test vectors of Spark's
// AuthEngineSuite (spec §5.3) byte for byte, our client against our server, every refusal, and
// the transport's keystreams across arbitrary chunk boundaries.
import assert from 'node:assert/strict';
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  AUTH_ENGINE_TAG,
  MAX_AUTH_APP_ID_BYTES,
  MAX_AUTH_CIPHERTEXT_BYTES,
  MAX_AUTH_SALT_BYTES,
  answerClientChallenge,
  createCtrTransport,
  decodeAuthMessage,
  encodeAuthMessage,
  startClientChallenge,
  type AuthEngineVersion,
  type AuthMessage,
  type SessionKeys,
} from '../../../../src/shuffle/auth/auth-engine.ts';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';

const hex = (text: string) => Buffer.from(text, 'hex');

// Spec §5.3 step 4: appId "appId", secret "secret".
const APP_ID = 'appId';
const SECRET = 'secret';
const CLIENT_PRIVATE = hex('efe6b68b3fce92158e3637f6ef9d937e75558928dd4b401de04b43d300a73186');
const C = hex(
  'fb00000005617070496400000010890b6e960f48e998777267a7e4e623220000003c48ad7dc7ec9466da93bda9f11488dc9404050e02c661d87d67c782444944c6e369b27e0a416c30845a2d9e64271511ca98b41d65f8c426e18ff380f6',
);
const S = hex(
  'fb00000005617070496400000010708451c9dd2792c97c1ca66e6df449ef0000003c64fe899ecdaf458d4e25e9d5c5a380b8e6d1a184692fac065ed84f8592c18e9629f9c636809dca2ffc041f20346eb53db7873808ecad08b46b5ee3ff',
);
// The randomness C was made with, read off its bytes: the salt, then the GCM nonce.
const C_SALT = hex('890b6e960f48e998777267a7e4e62322');
const C_NONCE = hex('48ad7dc7ec9466da93bda9f1');
const V1_KEY = hex('31963f15a320d5c90333f7ecf5cf3a31c7eaf151de07fef8494663a9f47cfd31');
const V2_KEY = hex('2d6e7a9048c8265c33a8f3747bfcc84c');
const INPUT_IV = hex('fc6a5dc8b90a9dad8f54f08b51a59ed2');
const OUTPUT_IV = hex('a72709baf00785cad6329ce09f631f71');

// A server key of our own: the spec gives S but not the private key it was made with.
const SERVER_PRIVATE = createHash('sha256').update('sparkplane test server key').digest();
const SERVER_SALT = hex('00112233445566778899aabbccddeeff');
const SERVER_NONCE = hex('0102030405060708090a0b0c');

/** A random source that hands out the given values in order, each of the size asked for. */
function scripted(...values: Buffer[]): (size: number) => Buffer {
  const queue = [...values];
  return (size) => {
    const next = queue.shift();
    assert.ok(next !== undefined, `an unexpected request for ${size} random bytes`);
    assert.equal(size, next.length, 'random bytes requested in another order or size');
    return Buffer.from(next);
  };
}

function specClient(version: AuthEngineVersion) {
  return startClientChallenge(APP_ID, SECRET, {
    version,
    privateKey: CLIENT_PRIVATE,
    randomBytes: scripted(C_SALT, C_NONCE),
  });
}

function specServer(body: Buffer, version: AuthEngineVersion, secret = SECRET) {
  return answerClientChallenge(body, (appId) => (appId === APP_ID ? secret : undefined), {
    version,
    privateKey: SERVER_PRIVATE,
    randomBytes: scripted(SERVER_SALT, SERVER_NONCE),
  });
}

function handshake(version: AuthEngineVersion, secret = SECRET, appId = APP_ID) {
  const client = startClientChallenge(appId, secret, { version });
  const server = answerClientChallenge(client.message, () => secret, { version });
  return { server, clientKeys: client.finish(server.reply) };
}

const authFailure =
  (reason = /./) =>
  (error: unknown) => {
    assert.ok(error instanceof ShuffleError, `not a ShuffleError: ${String(error)}`);
    assert.equal(error.code, 'ESS_AUTH');
    assert.ok(error.message.startsWith('Authentication failed. '), error.message);
    assert.match(error.message.slice('Authentication failed. '.length), reason);
    return true;
  };

const codeIs =
  (code: string, reason = /./) =>
  (error: unknown) => {
    assert.ok(error instanceof ShuffleError, `not a ShuffleError: ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, reason);
    return true;
  };

/** Seals a public key the way spec §5.3 describes, written apart from the code under test. */
function sealIndependently(
  plaintext: Buffer,
  { secret = SECRET, transcript = Buffer.alloc(0), salt = C_SALT, nonce = C_NONCE } = {},
): Buffer {
  const aad = Buffer.concat([Buffer.from(APP_ID), salt, transcript]);
  const kek = Buffer.from(hkdfSync('sha256', Buffer.from(secret), salt, aad, 16));
  const cipher = createCipheriv('aes-128-gcm', kek, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const ciphertext = Buffer.concat([nonce, body, cipher.getAuthTag()]);
  return encodeAuthMessage({ appId: APP_ID, salt, ciphertext });
}

// The X25519 base point, u = 9: a valid public key that is not of low order.
const BASE_POINT = hex('0900000000000000000000000000000000000000000000000000000000000000');

function withField(message: AuthMessage, change: Partial<AuthMessage>): Buffer {
  return encodeAuthMessage({ ...message, ...change });
}

function flipByte(buffer: Buffer, index: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

/** A small deterministic generator, so a failing split can be replayed. */
function prng(seed: number): (bound: number) => number {
  let state = seed >>> 0;
  return (bound) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % bound;
  };
}

function randomSplits(data: Buffer, next: (bound: number) => number): Buffer[] {
  const pieces: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    // Mostly small pieces, so splits fall inside AES blocks; now and then an empty one.
    const size = next(4) === 0 ? next(2000) : next(40);
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

describe('AuthMessage', () => {
  it("decodes the spec's client challenge into its fields and encodes it back byte for byte", () => {
    const message = decodeAuthMessage(C);
    assert.equal(AUTH_ENGINE_TAG, 0xfb);
    assert.equal(message.appId, APP_ID);
    assert.deepEqual(message.salt, C_SALT);
    assert.equal(message.ciphertext.length, 60);
    assert.deepEqual(message.ciphertext.subarray(0, 12), C_NONCE);
    assert.deepEqual(encodeAuthMessage(message), C);
  });

  it('writes the tag, then appId, salt and ciphertext each after a big-endian i32 length', () => {
    const body = encodeAuthMessage({ appId: 'é', salt: hex('0a0b'), ciphertext: hex('0c') });
    assert.equal(body.toString('hex'), 'fb' + '00000002c3a9' + '000000020a0b' + '000000010c');
  });

  for (const [name, body] of [
    ['a SaslMessage', Buffer.concat([hex('ea'), C.subarray(1)])],
    ['an empty body', Buffer.alloc(0)],
    ['a zero byte', hex('00')],
  ] as const) {
    it(`refuses ${name} with Spark's words`, () => {
      assert.throws(
        () => decodeAuthMessage(body),
        codeIs('ESS_AUTH', /^Expected ClientChallenge, received something else\.$/),
      );
    });
  }

  for (const [field, limit] of [
    ['appId', MAX_AUTH_APP_ID_BYTES],
    ['salt', MAX_AUTH_SALT_BYTES],
    ['ciphertext', MAX_AUTH_CIPHERTEXT_BYTES],
  ] as const) {
    it(`accepts a ${field} of ${limit} bytes and refuses ${limit + 1}`, () => {
      const base = decodeAuthMessage(C);
      const sized = (length: number) =>
        field === 'appId'
          ? withField(base, { appId: 'a'.repeat(length) })
          : withField(base, { [field]: Buffer.alloc(length, 7) });
      const atLimit = decodeAuthMessage(sized(limit));
      assert.equal(field === 'appId' ? atLimit.appId.length : atLimit[field].length, limit);
      assert.throws(
        () => decodeAuthMessage(sized(limit + 1)),
        codeIs('ESS_AUTH', new RegExp(`${field} is ${limit + 1} bytes, more than the ${limit}`)),
      );
    });
  }

  it('refuses a length that claims more bytes than the body holds, without allocating them', () => {
    const huge = Buffer.concat([hex('fb'), hex('7fffffff'), Buffer.from(APP_ID)]);
    assert.throws(() => decodeAuthMessage(huge), codeIs('ESS_AUTH', /appId/));
  });

  it('refuses every truncation of a valid message and trailing bytes', () => {
    for (let length = 1; length < C.length; length++) {
      assert.throws(() => decodeAuthMessage(C.subarray(0, length)), codeIs('ESS_AUTH'));
    }
    assert.throws(
      () => decodeAuthMessage(Buffer.concat([C, hex('00')])),
      codeIs('ESS_AUTH', /trailing/),
    );
  });

  it('refuses an appId that is not UTF-8', () => {
    const body = Buffer.concat([hex('fb'), hex('00000002c328'), hex('00000000'), hex('00000000')]);
    assert.throws(() => decodeAuthMessage(body), codeIs('ESS_AUTH', /not valid UTF-8/));
  });

  it('keeps a leading byte-order mark, so re-encoding gives back the bytes received', () => {
    const body = encodeAuthMessage({ appId: '\ufeffapp', salt: C_SALT, ciphertext: C_NONCE });
    assert.deepEqual(encodeAuthMessage(decodeAuthMessage(body)), body);
  });

  it('copies its fields out of the frame, which the connection may reuse', () => {
    const frame = Buffer.from(C);
    const message = decodeAuthMessage(frame);
    frame.fill(0);
    assert.deepEqual(message.salt, C_SALT);
    assert.deepEqual(encodeAuthMessage(message), C);
  });
});

describe("Spark's AuthEngineSuite vectors (spec §5.3)", () => {
  it('reproduces the client challenge C byte for byte from the fixed key and randomness', () => {
    for (const version of [1, 2] as const) {
      assert.equal(specClient(version).message.toString('hex'), C.toString('hex'));
    }
  });

  it('derives the version 1 key (the shared secret, AES-256) and both IVs from reply S', () => {
    const keys = specClient(1).finish(S);
    assert.equal(keys.key.toString('hex'), V1_KEY.toString('hex'));
    assert.equal(keys.inputIv.toString('hex'), INPUT_IV.toString('hex'));
    assert.equal(keys.outputIv.toString('hex'), OUTPUT_IV.toString('hex'));
  });

  it('derives the version 2 key (HKDF "derivedKey", AES-128) and the same IVs from reply S', () => {
    const keys = specClient(2).finish(S);
    assert.equal(keys.key.toString('hex'), V2_KEY.toString('hex'));
    assert.equal(keys.inputIv.toString('hex'), INPUT_IV.toString('hex'));
    assert.equal(keys.outputIv.toString('hex'), OUTPUT_IV.toString('hex'));
  });

  it('answers C with a fixed server key and salt, and the spec client derives the same keys', () => {
    for (const version of [1, 2] as const) {
      const server = specServer(C, version);
      assert.equal(server.appId, APP_ID);
      const reply = decodeAuthMessage(server.reply);
      assert.equal(reply.appId, APP_ID);
      assert.deepEqual(reply.salt, SERVER_SALT);
      assert.deepEqual(reply.ciphertext.subarray(0, 12), SERVER_NONCE);
      assert.equal(reply.ciphertext.length, 60);
      const clientKeys = specClient(version).finish(server.reply);
      assert.deepEqual(clientKeys, server.keys);
      assert.equal(server.keys.key.length, version === 1 ? 32 : 16);
      // Another server key, another shared secret, other session keys than the spec's S gave.
      assert.notDeepEqual(server.keys.key, version === 1 ? V1_KEY : V2_KEY);
      assert.notDeepEqual(server.keys.inputIv, INPUT_IV);
    }
  });

  it('makes the same reply from the same server key and randomness', () => {
    assert.deepEqual(specServer(C, 1).reply, specServer(C, 1).reply);
    assert.deepEqual(specServer(C, 1).reply, specServer(C, 2).reply);
  });
});

describe('handshake, our client against our server', () => {
  for (const version of [1, 2] as const) {
    for (const secret of [SECRET, '', 's€cret ünïcødé', 'f'.repeat(64)]) {
      it(`v${version} with a ${secret.length}-character secret: both sides derive the same keys`, () => {
        const { server, clientKeys } = handshake(version, secret);
        assert.deepEqual(clientKeys, server.keys);
        assert.equal(clientKeys.key.length, version === 1 ? 32 : 16);
        assert.equal(clientKeys.inputIv.length, 16);
        assert.equal(clientKeys.outputIv.length, 16);
        assert.notDeepEqual(clientKeys.inputIv, clientKeys.outputIv);
      });
    }
  }

  it('derives fresh keys per handshake', () => {
    assert.notDeepEqual(handshake(1).clientKeys.key, handshake(1).clientKeys.key);
  });

  it('v1 and v2 give different keys over one transcript, and the same IVs', () => {
    const v1 = specClient(1).finish(S);
    const v2 = specClient(2).finish(S);
    assert.notDeepEqual(v1.key.subarray(0, 16), v2.key);
    assert.deepEqual([v1.inputIv, v1.outputIv], [v2.inputIv, v2.outputIv]);
  });

  it('returns the app the client authenticated as', () => {
    assert.equal(handshake(1, SECRET, 'app-20240101-0007').server.appId, 'app-20240101-0007');
  });

  it('refuses a client with another secret: Authentication failed.', () => {
    const client = startClientChallenge(APP_ID, 'not the secret', { version: 1 });
    assert.throws(
      () => answerClientChallenge(client.message, () => SECRET, { version: 1 }),
      authFailure(/does not open with the app's secret/),
    );
  });

  it('refuses an app it has no secret for, and says which app', () => {
    assert.throws(
      () => answerClientChallenge(C, () => undefined, { version: 1 }),
      authFailure(/^No secret is known for app appId;/),
    );
  });

  it('refuses when the secret lookup throws, keeping the cause', () => {
    const lookupError = new Error('registry closed');
    assert.throws(
      () =>
        answerClientChallenge(
          C,
          () => {
            throw lookupError;
          },
          { version: 1 },
        ),
      (error: unknown) =>
        authFailure(/registry closed/)(error) && (error as Error).cause === lookupError,
    );
  });

  it('refuses a challenge whose appId differs from the one its ciphertext was sealed with', () => {
    const renamed = withField(decodeAuthMessage(C), { appId: 'appIe' });
    assert.throws(
      () => answerClientChallenge(renamed, () => SECRET, { version: 1 }),
      authFailure(/challenge of app appIe does not open/),
    );
  });

  it('refuses a challenge with any altered salt or ciphertext byte', () => {
    const secretFor = () => SECRET;
    for (let index = 14; index < C.length; index++) {
      if (index >= 30 && index < 34) continue; // the ciphertext's length
      assert.throws(
        () => answerClientChallenge(flipByte(C, index), secretFor, { version: 1 }),
        authFailure(/does not open/),
        `byte ${index}`,
      );
    }
  });

  it("refuses another message type in Spark's words, after 'Authentication failed.'", () => {
    assert.throws(
      () => answerClientChallenge(hex('ea00'), () => SECRET, { version: 1 }),
      authFailure(/^Expected ClientChallenge, received something else\.$/),
    );
  });

  it('refuses an oversized field as an authentication failure', () => {
    const body = withField(decodeAuthMessage(C), { salt: Buffer.alloc(MAX_AUTH_SALT_BYTES + 1) });
    assert.throws(
      () => answerClientChallenge(body, () => SECRET, { version: 1 }),
      authFailure(/salt is 65 bytes/),
    );
  });

  it('refuses a sealed public key that is not 32 bytes', () => {
    assert.throws(
      () =>
        answerClientChallenge(sealIndependently(Buffer.alloc(31, 9)), () => SECRET, { version: 1 }),
      authFailure(/31 bytes/),
    );
  });

  it('accepts a key sealed as the spec describes, and refuses a low-order one (all zeros)', () => {
    const answer = answerClientChallenge(sealIndependently(BASE_POINT), () => SECRET, {
      version: 1,
    });
    assert.equal(answer.keys.key.length, 32);
    assert.throws(
      () =>
        answerClientChallenge(sealIndependently(Buffer.alloc(32)), () => SECRET, { version: 1 }),
      authFailure(/unusable for X25519/),
    );
  });
});

describe('client finishing the handshake', () => {
  it('refuses a reply for another app', () => {
    const reply = withField(decodeAuthMessage(S), { appId: 'other' });
    assert.throws(
      () => specClient(1).finish(reply),
      authFailure(/replied for app other to a challenge of app appId/),
    );
  });

  it('refuses a reply made for another challenge', () => {
    const other = startClientChallenge(APP_ID, SECRET, { version: 1 });
    const reply = answerClientChallenge(other.message, () => SECRET, { version: 1 }).reply;
    assert.throws(() => specClient(1).finish(reply), authFailure(/does not open/));
  });

  it('refuses a reply sealed with another secret for the app, and accepts it with this one', () => {
    const reply = (secret: string) =>
      sealIndependently(BASE_POINT, { secret, transcript: C, salt: SERVER_SALT });
    assert.throws(() => specClient(1).finish(reply('other secret')), authFailure(/does not open/));
    assert.equal(specClient(1).finish(reply(SECRET)).key.length, 32);
  });

  it('refuses a reply with any altered byte', () => {
    for (let index = 0; index < S.length; index++) {
      assert.throws(() => specClient(1).finish(flipByte(S, index)), authFailure(), `byte ${index}`);
    }
  });

  it('finishes once', () => {
    const client = specClient(1);
    client.finish(S);
    assert.throws(() => client.finish(S), codeIs('ESS_STATE', /already finished/));
  });
});

describe('options', () => {
  it('refuses a version Spark does not have', () => {
    const version = 3 as AuthEngineVersion;
    assert.throws(
      () => startClientChallenge(APP_ID, SECRET, { version }),
      codeIs('ESS_STATE', /version 3/),
    );
    assert.throws(
      () => answerClientChallenge(C, () => SECRET, { version }),
      codeIs('ESS_STATE', /version 3/),
    );
  });

  it('refuses a private key that is not 32 raw bytes', () => {
    assert.throws(
      () => startClientChallenge(APP_ID, SECRET, { version: 1, privateKey: Buffer.alloc(31, 1) }),
      codeIs('ESS_STATE', /privateKey/),
    );
  });

  it('refuses a random source that gives the wrong number of bytes', () => {
    assert.throws(
      () =>
        startClientChallenge(APP_ID, SECRET, { version: 1, randomBytes: () => Buffer.alloc(8) }),
      codeIs('ESS_STATE', /gave 8 bytes for an AuthEngine salt/),
    );
  });
});

describe('CTR transport', () => {
  for (const version of [1, 2] as const) {
    it(`v${version}: carries bytes both ways across arbitrary chunk splits`, () => {
      const { server: answer, clientKeys } = handshake(version);
      const client = createCtrTransport(clientKeys, 'client');
      const server = createCtrTransport(answer.keys, 'server');
      const next = prng(version * 7919);
      for (const [from, to] of [
        [client, server],
        [server, client],
        [client, server],
      ] as const) {
        const plain = Buffer.from(Array.from({ length: 5000 + next(5000) }, () => next(256)));
        const sealed = Buffer.concat(randomSplits(plain, next).map((piece) => from.encrypt(piece)));
        assert.equal(sealed.length, plain.length);
        assert.notDeepEqual(sealed, plain);
        const opened = Buffer.concat(randomSplits(sealed, next).map((piece) => to.decrypt(piece)));
        assert.deepEqual(opened, plain);
      }
    });
  }

  it('keeps one AES-CTR keystream per direction: the server sends at inputIv, the client at outputIv', () => {
    for (const [version, keys, name] of [
      [1, specClient(1).finish(S), 'aes-256-ctr'],
      [2, specClient(2).finish(S), 'aes-128-ctr'],
    ] as const) {
      const plain = Buffer.alloc(1000, version);
      const expected = (iv: Buffer) => createCipheriv(name, keys.key, iv).update(plain);
      const client = createCtrTransport(keys, 'client');
      const server = createCtrTransport(keys, 'server');
      const chunked = (encrypt: (data: Buffer) => Buffer) =>
        Buffer.concat(
          [1, 15, 16, 17, 0, 951].map((size, index, sizes) => {
            const start = sizes.slice(0, index).reduce((sum, value) => sum + value, 0);
            return encrypt(plain.subarray(start, start + size));
          }),
        );
      assert.deepEqual(
        chunked((data) => client.encrypt(data)),
        expected(OUTPUT_IV),
      );
      assert.deepEqual(
        chunked((data) => server.encrypt(data)),
        expected(INPUT_IV),
      );
      assert.deepEqual(client.decrypt(expected(INPUT_IV)), plain);
      assert.deepEqual(server.decrypt(expected(OUTPUT_IV)), plain);
    }
  });

  it('garbles the first bytes when the two sides use different versions', () => {
    const keys: SessionKeys[] = [specClient(1).finish(S), specClient(2).finish(S)];
    const [v1, v2] = keys;
    assert.ok(v1 !== undefined && v2 !== undefined);
    const plain = Buffer.from('RpcRequest');
    const sealed = createCtrTransport(v1, 'client').encrypt(plain);
    assert.notDeepEqual(createCtrTransport(v2, 'server').decrypt(sealed), plain);
    assert.deepEqual(createCtrTransport(v1, 'server').decrypt(sealed), plain);
  });

  it('refuses keys and IVs of other sizes', () => {
    const keys = specClient(2).finish(S);
    assert.throws(
      () => createCtrTransport({ ...keys, key: Buffer.alloc(24) }, 'server'),
      codeIs('ESS_STATE', /24 bytes/),
    );
    assert.throws(
      () => createCtrTransport({ ...keys, inputIv: Buffer.alloc(12) }, 'client'),
      codeIs('ESS_STATE', /IVs of 12 and 16 bytes/),
    );
  });
});
