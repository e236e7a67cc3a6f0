// Spark's default transport cipher after an AuthEngine handshake (AES/CTR/NoPadding): one AES-CTR
// keystream per direction, started at the session's IV and never restarted, over every byte the
// connection carries after the handshake reply: frames and stream bodies alike, with no framing
// of its own. Each direction's cipher object stays open so the keystream continues across calls.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { ShuffleError } from '../errors.ts';
import { aesName } from './auth-engine-crypto.ts';
import type { SessionKeys } from './auth-engine-keys.ts';

export interface CtrTransport {
  /** Encrypts bytes this side sends; continues the outbound keystream. */
  encrypt(data: Buffer): Buffer;
  /** Decrypts bytes this side receives; continues the inbound keystream. */
  decrypt(data: Buffer): Buffer;
}

const IV_BYTES = 16;

/**
 * The CTR cipher of one side of a connection. The server encrypts with `inputIv` and decrypts
 * with `outputIv`; the client the reverse, so one side's output is the other's input.
 */
export function createCtrTransport(keys: SessionKeys, role: 'server' | 'client'): CtrTransport {
  let name: `aes-${128 | 256}-ctr`;
  try {
    name = aesName(keys.key, 'ctr');
  } catch (error) {
    throw new ShuffleError(
      'ESS_STATE',
      `cannot start the AES-CTR transport: the session key is ${keys.key.length} bytes, not 16 or 32; pass the keys the AuthEngine handshake derived`,
      { cause: error },
    );
  }
  if (keys.inputIv.length !== IV_BYTES || keys.outputIv.length !== IV_BYTES) {
    throw new ShuffleError(
      'ESS_STATE',
      `cannot start the AES-CTR transport: IVs of ${keys.inputIv.length} and ${keys.outputIv.length} bytes, not 16; pass the keys the AuthEngine handshake derived`,
    );
  }
  const sendIv = role === 'server' ? keys.inputIv : keys.outputIv;
  const receiveIv = role === 'server' ? keys.outputIv : keys.inputIv;
  const outbound = createCipheriv(name, keys.key, sendIv);
  const inbound = createDecipheriv(name, keys.key, receiveIv);
  // CTR is a stream cipher: update() returns exactly as many bytes as it is given, and final()
  // is never needed because no block is held back.
  return {
    encrypt: (data) => outbound.update(data),
    decrypt: (data) => inbound.update(data),
  };
}
