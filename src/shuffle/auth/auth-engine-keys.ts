// What Spark's AuthEngine derives, and from what: the key that seals each side's ephemeral public
// key (from the app secret, the message's salt and the transcript so far), and the session keys
// (from the X25519 shared secret and the transcript of both messages).
import { ShuffleError } from '../errors.ts';
import type { AuthMessage } from './auth-engine-message.ts';
import { GCM_NONCE_BYTES, gcmOpen, gcmSeal, hkdfSha256 } from './auth-engine-crypto.ts';

/**
 * spark.network.crypto.authEngineVersion: 1 (Spark's default) uses the shared secret itself as a
 * 32-byte AES-256 key; 2 derives a 16-byte AES-128 key from it. Both ends must agree.
 */
export type AuthEngineVersion = 1 | 2;

export interface SessionKeys {
  /** The AES key of the transport cipher: 32 bytes with version 1, 16 with version 2. */
  readonly key: Buffer;
  /** HKDF info "inputIv": the IV the server encrypts with and the client decrypts with. */
  readonly inputIv: Buffer;
  /** HKDF info "outputIv": the IV the client encrypts with and the server decrypts with. */
  readonly outputIv: Buffer;
}

/** Spark's AES key size for everything it derives with HKDF: key-encrypting keys, v2 key, IVs. */
const DERIVED_BYTES = 16;
export const AUTH_SALT_BYTES = 16;

const INFO_DERIVED_KEY = Buffer.from('derivedKey');
const INFO_INPUT_IV = Buffer.from('inputIv');
const INFO_OUTPUT_IV = Buffer.from('outputIv');

/** `transcript` is the encoded client message followed by the encoded server message. */
export function deriveSessionKeys(
  version: AuthEngineVersion,
  sharedSecret: Buffer,
  transcript: Buffer,
): SessionKeys {
  const derive = (info: Buffer) => hkdfSha256(sharedSecret, transcript, info, DERIVED_BYTES);
  return {
    key: version === 1 ? Buffer.from(sharedSecret) : derive(INFO_DERIVED_KEY),
    inputIv: derive(INFO_INPUT_IV),
    outputIv: derive(INFO_OUTPUT_IV),
  };
}

export function checkVersion(version: unknown): asserts version is AuthEngineVersion {
  if (version !== 1 && version !== 2) {
    throw new ShuffleError(
      'ESS_STATE',
      `AuthEngine version ${String(version)} is not one Spark has; spark.network.crypto.authEngineVersion is 1 or 2`,
    );
  }
}

/** The AAD of a message, which its key-encrypting key is also derived from. */
function associatedData(appId: string, salt: Buffer, transcript: Buffer | undefined): Buffer {
  const parts = [Buffer.from(appId, 'utf8'), salt];
  if (transcript !== undefined) parts.push(transcript);
  return Buffer.concat(parts);
}

function keyEncryptingKey(psk: Buffer, salt: Buffer, aad: Buffer): Buffer {
  return hkdfSha256(psk, salt, aad, DERIVED_BYTES);
}

/**
 * One side's AuthMessage: its public key sealed under a key from the app secret. The client
 * passes no transcript; the server passes the encoded client message, binding its reply to it.
 * Takes the salt, then the GCM nonce, from `randomBytes`.
 */
export function sealPublicKey(
  appId: string,
  psk: Buffer,
  publicKey: Buffer,
  transcript: Buffer | undefined,
  randomBytes: (size: number) => Buffer,
): AuthMessage {
  const salt = random(randomBytes, AUTH_SALT_BYTES, 'salt');
  const aad = associatedData(appId, salt, transcript);
  const nonce = random(randomBytes, GCM_NONCE_BYTES, 'AES-GCM nonce');
  const ciphertext = gcmSeal(keyEncryptingKey(psk, salt, aad), nonce, publicKey, aad);
  return { appId, salt, ciphertext };
}

/** The peer's public key from its AuthMessage; throws when the secret or the bytes differ. */
export function openPublicKey(
  message: AuthMessage,
  psk: Buffer,
  transcript: Buffer | undefined,
): Buffer {
  const aad = associatedData(message.appId, message.salt, transcript);
  // Its length is checked where it is used, by the X25519 agreement.
  return gcmOpen(keyEncryptingKey(psk, message.salt, aad), message.ciphertext, aad);
}

function random(randomBytes: (size: number) => Buffer, size: number, what: string): Buffer {
  const bytes = randomBytes(size);
  if (bytes.length !== size) {
    throw new ShuffleError(
      'ESS_STATE',
      `the random source gave ${bytes.length} bytes for an AuthEngine ${what} instead of ${size}; fix the randomBytes option`,
    );
  }
  return bytes;
}
