// The one message of Spark's AuthEngine handshake ("spark.network.crypto"): an AuthMessage carries
// an app id, a salt and an AES-GCM sealed ephemeral X25519 public key, in both directions. The
// decoder bounds every field, because it runs on bytes from a peer that has not yet proved anything.
import { Reader, Writer } from '../protocol/codec.ts';
import { AUTH_MESSAGE_TAG } from '../protocol/block-transfer.ts';
import { ShuffleError } from '../errors.ts';

/** First body byte of an AuthMessage (tag -5); the same byte the connection switches on. */
export const AUTH_ENGINE_TAG = AUTH_MESSAGE_TAG;

/** Spark's salt is 16 bytes; anything past this is not from a Spark peer. */
export const MAX_AUTH_SALT_BYTES = 64;
/** Spark's ciphertext is 60 bytes (12 nonce, 32 public key, 16 tag). */
export const MAX_AUTH_CIPHERTEXT_BYTES = 256;
export const MAX_AUTH_APP_ID_BYTES = 1024;

export interface AuthMessage {
  readonly appId: string;
  readonly salt: Buffer;
  readonly ciphertext: Buffer;
}

export function encodeAuthMessage(message: AuthMessage): Buffer {
  return new Writer()
    .u8(AUTH_ENGINE_TAG)
    .string(message.appId)
    .bytes(message.salt)
    .bytes(message.ciphertext)
    .toBuffer();
}

// ignoreBOM keeps a leading U+FEFF, so decoding then encoding gives back the bytes that were sent:
// the handshake transcript is the encoded message, and both ends must hash the same bytes.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes an AuthMessage. Every failure is ShuffleError('ESS_AUTH'): another first byte, a field
 * longer than its bound, an app id that is not UTF-8, a truncated body or trailing bytes.
 */
export function decodeAuthMessage(body: Buffer): AuthMessage {
  if (body[0] !== AUTH_ENGINE_TAG) {
    throw new ShuffleError('ESS_AUTH', 'Expected ClientChallenge, received something else.');
  }
  try {
    const reader = new Reader(body, 'AuthMessage');
    reader.u8('tag');
    const appIdBytes = bounded(reader.bytes('appId'), MAX_AUTH_APP_ID_BYTES, 'appId');
    const salt = bounded(reader.bytes('salt'), MAX_AUTH_SALT_BYTES, 'salt');
    const ciphertext = bounded(reader.bytes('ciphertext'), MAX_AUTH_CIPHERTEXT_BYTES, 'ciphertext');
    reader.end();
    let appId: string;
    try {
      appId = UTF8.decode(appIdBytes);
    } catch (error) {
      throw new ShuffleError('ESS_AUTH', 'malformed AuthMessage: the appId is not valid UTF-8', {
        cause: error,
      });
    }
    // Copies, so the message outlives the frame buffer it came in.
    return { appId, salt: Buffer.from(salt), ciphertext: Buffer.from(ciphertext) };
  } catch (error) {
    if (error instanceof ShuffleError && error.code === 'ESS_AUTH') throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new ShuffleError('ESS_AUTH', reason, { cause: error });
  }
}

// Reader.bytes returns a view, so checking after the read allocates nothing for a hostile length.
function bounded(value: Buffer, limit: number, field: string): Buffer {
  if (value.length > limit) {
    throw new ShuffleError(
      'ESS_AUTH',
      `malformed AuthMessage: the ${field} is ${value.length} bytes, more than the ${limit} a Spark peer sends`,
    );
  }
  return value;
}
