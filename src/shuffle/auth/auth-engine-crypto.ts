// The primitives under Spark's AuthEngine, as node:crypto gives them: HKDF-SHA256, AES-GCM in
// Tink's AesGcmJce layout (nonce ‖ ciphertext ‖ tag) and X25519 with raw 32-byte keys, which is
// how Tink, and so Spark, hands keys around.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto';

export const X25519_KEY_BYTES = 32;
export const GCM_NONCE_BYTES = 12;
export const GCM_TAG_BYTES = 16;

// RFC 8410 PKCS#8 wrapping of a raw X25519 private key. A JWK would need the public half (`x`)
// too, which is what we want to compute from the private key in the first place.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export function hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

export type AesKeyBits = 128 | 256;

/** The node:crypto cipher name for an AuthEngine key: 16 bytes → AES-128, 32 → AES-256. */
export function aesName<Mode extends 'gcm' | 'ctr'>(
  key: Buffer,
  mode: Mode,
): `aes-${AesKeyBits}-${Mode}` {
  if (key.length === 16) return `aes-128-${mode}`;
  if (key.length === 32) return `aes-256-${mode}`;
  throw new RangeError(`an AES key of ${key.length} bytes; the AuthEngine uses 16 or 32`);
}

/** Seals `plaintext` as Tink's AesGcmJce does: the nonce first, the 16-byte tag last. */
export function gcmSeal(key: Buffer, nonce: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv(aesName(key, 'gcm'), key, nonce, {
    authTagLength: GCM_TAG_BYTES,
  });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens a gcmSeal output; throws when it is too short or the tag does not verify. */
export function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < GCM_NONCE_BYTES + GCM_TAG_BYTES) {
    throw new RangeError(
      `a sealed value of ${sealed.length} bytes is shorter than a nonce and a tag (${GCM_NONCE_BYTES + GCM_TAG_BYTES})`,
    );
  }
  const nonce = sealed.subarray(0, GCM_NONCE_BYTES);
  const body = sealed.subarray(GCM_NONCE_BYTES, sealed.length - GCM_TAG_BYTES);
  const decipher = createDecipheriv(aesName(key, 'gcm'), key, nonce, {
    authTagLength: GCM_TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  return Buffer.concat([decipher.update(body), decipher.final()]);
}

/** An X25519 private key from its 32 raw bytes, or a fresh one. */
export function x25519PrivateKey(raw?: Buffer): KeyObject {
  if (raw === undefined) return generateKeyPairSync('x25519').privateKey;
  if (raw.length !== X25519_KEY_BYTES) {
    throw new RangeError(`an X25519 private key of ${raw.length} bytes instead of 32`);
  }
  return createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** The raw 32-byte public key (RFC 7748 u-coordinate, little-endian) of a private key. */
export function x25519PublicBytes(privateKey: KeyObject): Buffer {
  const { x } = privateKey.export({ format: 'jwk' });
  if (x === undefined) throw new TypeError('an X25519 key without a public part');
  return Buffer.from(x, 'base64url');
}

/** X25519(private, peer); OpenSSL refuses a low-order peer key (an all-zero result). */
export function x25519Agree(privateKey: KeyObject, peerPublic: Buffer): Buffer {
  if (peerPublic.length !== X25519_KEY_BYTES) {
    throw new RangeError(`an X25519 public key of ${peerPublic.length} bytes instead of 32`);
  }
  const publicKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: peerPublic.toString('base64url') },
    format: 'jwk',
  });
  return diffieHellman({ privateKey, publicKey });
}
