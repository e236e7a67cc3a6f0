// Both sides of Spark's AuthEngine handshake (spark.network.crypto.enabled=true): the client
// sends its ephemeral X25519 public key sealed under a key derived from the app secret; the
// server checks it, answers with its own sealed key bound to the client's message, and both
// derive the transport cipher's key and IVs from the X25519 shared secret and the two messages.
// Pure functions over bytes: the connection sends the messages and installs the cipher.
import { randomBytes as cryptoRandomBytes, type KeyObject } from 'node:crypto';
import { ShuffleError } from '../errors.ts';
import { x25519Agree, x25519PrivateKey, x25519PublicBytes } from './auth-engine-crypto.ts';
import {
  checkVersion,
  deriveSessionKeys,
  openPublicKey,
  sealPublicKey,
  type AuthEngineVersion,
  type SessionKeys,
} from './auth-engine-keys.ts';
import { decodeAuthMessage, encodeAuthMessage } from './auth-engine-message.ts';

export {
  AUTH_ENGINE_TAG,
  MAX_AUTH_APP_ID_BYTES,
  MAX_AUTH_CIPHERTEXT_BYTES,
  MAX_AUTH_SALT_BYTES,
  decodeAuthMessage,
  encodeAuthMessage,
  type AuthMessage,
} from './auth-engine-message.ts';
export type { AuthEngineVersion, SessionKeys } from './auth-engine-keys.ts';
export { createCtrTransport, type CtrTransport } from './auth-engine-ctr.ts';

export interface AuthEngineOptions {
  readonly version: AuthEngineVersion;
  /** Source of the salt and the GCM nonce (salt first); node:crypto's by default. */
  readonly randomBytes?: (size: number) => Buffer;
  /** This side's raw 32-byte X25519 private key; a fresh one per handshake by default. */
  readonly privateKey?: Buffer;
}

export interface ServerAnswer {
  /** The app the client authenticated as; the connection's client id from now on. */
  readonly appId: string;
  /** The body of the RpcResponse, sent in clear before the cipher is installed. */
  readonly reply: Buffer;
  readonly keys: SessionKeys;
}

export interface ClientChallenge {
  /** The body of the first RpcRequest. */
  readonly message: Buffer;
  /** Checks the server's reply body and derives the session keys; callable once. */
  finish(reply: Buffer): SessionKeys;
}

const FAILED = 'Authentication failed.';

// Spark's server answers every failure with "Authentication failed."; the reason follows, so an
// operator reading the executor's log learns what to fix.
function authFailure(reason: string, cause?: unknown): ShuffleError {
  return new ShuffleError('ESS_AUTH', `${FAILED} ${reason}`, cause === undefined ? {} : { cause });
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Settles the caller's options before any peer byte is looked at: bad options are ESS_STATE. */
function ownKeys(options: AuthEngineOptions): {
  privateKey: KeyObject;
  publicKey: Buffer;
  randomBytes: (size: number) => Buffer;
} {
  checkVersion(options.version);
  let privateKey: KeyObject;
  try {
    privateKey = x25519PrivateKey(options.privateKey);
  } catch (error) {
    throw new ShuffleError(
      'ESS_STATE',
      `the AuthEngine privateKey option is not a raw X25519 key: ${reasonOf(error)}`,
      { cause: error },
    );
  }
  return {
    privateKey,
    publicKey: x25519PublicBytes(privateKey),
    randomBytes: options.randomBytes ?? cryptoRandomBytes,
  };
}

/**
 * Server side of the handshake: verifies the client's challenge with the app's secret and
 * returns the reply body and the session keys. Anything wrong with the challenge or the secret
 * is ShuffleError('ESS_AUTH', 'Authentication failed. <reason>').
 */
export function answerClientChallenge(
  body: Buffer,
  secretFor: (appId: string) => string | undefined,
  options: AuthEngineOptions,
): ServerAnswer {
  const own = ownKeys(options);
  let challenge;
  try {
    challenge = decodeAuthMessage(body);
  } catch (error) {
    throw authFailure(reasonOf(error), error);
  }
  const { appId } = challenge;
  let secret: string | undefined;
  try {
    secret = secretFor(appId);
  } catch (error) {
    throw authFailure(`Looking up the secret of app ${appId} failed: ${reasonOf(error)}`, error);
  }
  if (secret === undefined) {
    throw authFailure(
      `No secret is known for app ${appId}; the shuffle service needs the app's spark.authenticate.secret.`,
    );
  }
  const psk = Buffer.from(secret, 'utf8');
  let clientPublic: Buffer;
  try {
    clientPublic = openPublicKey(challenge, psk, undefined);
  } catch (error) {
    throw authFailure(
      `The challenge of app ${appId} does not open with the app's secret (${reasonOf(error)}): the executor's spark.authenticate.secret differs from the shuffle service's, or the message was altered.`,
      error,
    );
  }
  let sharedSecret: Buffer;
  try {
    sharedSecret = x25519Agree(own.privateKey, clientPublic);
  } catch (error) {
    throw authFailure(
      `The public key in the challenge of app ${appId} is unusable for X25519: ${reasonOf(error)}`,
      error,
    );
  }
  // Spark hashes the message re-encoded from its fields; decoding is strict, so these are the
  // bytes that arrived.
  const challengeBytes = encodeAuthMessage(challenge);
  const reply = encodeAuthMessage(
    sealPublicKey(appId, psk, own.publicKey, challengeBytes, own.randomBytes),
  );
  const keys = deriveSessionKeys(
    options.version,
    sharedSecret,
    Buffer.concat([challengeBytes, reply]),
  );
  return { appId, reply, keys };
}

/** Client side of the handshake: the first message now, the session keys from the reply. */
export function startClientChallenge(
  appId: string,
  secret: string,
  options: AuthEngineOptions,
): ClientChallenge {
  const own = ownKeys(options);
  const { version } = options;
  const psk = Buffer.from(secret, 'utf8');
  const message = encodeAuthMessage(
    sealPublicKey(appId, psk, own.publicKey, undefined, own.randomBytes),
  );
  let finished = false;
  return {
    message,
    finish(replyBody: Buffer): SessionKeys {
      if (finished) {
        throw new ShuffleError(
          'ESS_STATE',
          `the AuthEngine handshake of app ${appId} is already finished; start a new challenge per connection`,
        );
      }
      finished = true;
      let reply;
      try {
        reply = decodeAuthMessage(replyBody);
      } catch (error) {
        throw authFailure(`The shuffle service's reply: ${reasonOf(error)}`, error);
      }
      if (reply.appId !== appId) {
        throw authFailure(
          `The shuffle service replied for app ${reply.appId} to a challenge of app ${appId}.`,
        );
      }
      let serverPublic: Buffer;
      let sharedSecret: Buffer;
      try {
        serverPublic = openPublicKey(reply, psk, message);
        sharedSecret = x25519Agree(own.privateKey, serverPublic);
      } catch (error) {
        throw authFailure(
          `The shuffle service's reply for app ${appId} does not open with the app's secret and this challenge (${reasonOf(error)}): the service holds another secret for the app, or the reply was altered.`,
          error,
        );
      }
      const transcript = Buffer.concat([message, encodeAuthMessage(reply)]);
      return deriveSessionKeys(version, sharedSecret, transcript);
    },
  };
}
