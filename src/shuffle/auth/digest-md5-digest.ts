// The DIGEST-MD5 arithmetic of RFC 2831 §2.1.2.1 for algorithm=md5-sess and qop=auth: the
// `response` value a client proves itself with and the `rspauth` value a server answers with.
// Kept apart from the exchange so the RFC's worked example and captured JDK tokens test it alone.
import { createHash, timingSafeEqual } from 'node:crypto';

export interface DigestMd5Inputs {
  /** Text as decoded from the wire; hashed in ISO-8859-1 when every character fits, else UTF-8. */
  readonly username: string;
  readonly realm: string;
  readonly password: string;
  /** Wire values, hashed byte for byte. */
  readonly nonce: Buffer;
  readonly cnonce: Buffer;
  /** Hashed as UTF-8; absent means the client sent none (not the same as empty). */
  readonly authzid?: string;
  /** nc, eight hex digits as sent. */
  readonly nonceCount: string;
  readonly qop: 'auth';
  readonly digestUri: string;
}

/**
 * The bytes a user name, realm or password is hashed as. With charset=utf-8 RFC 2831 (and the
 * JDK) convert the text to ISO-8859-1 when every character fits, and use UTF-8 otherwise; without
 * charset the text was read as ISO-8859-1 and the same rule gives back the bytes as sent.
 */
export function hashableText(text: string): Buffer {
  for (let at = 0; at < text.length; at++) {
    if (text.charCodeAt(at) > 0xff) return Buffer.from(text, 'utf8');
  }
  return Buffer.from(text, 'latin1');
}

const COLON = Buffer.from(':');

function md5(...parts: readonly Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function joined(parts: readonly Buffer[]): Buffer[] {
  return parts.flatMap((part, index) => (index === 0 ? [part] : [COLON, part]));
}

/** HEX(H(A1)) with A1 = H(username:realm:password) ":" nonce ":" cnonce [":" authzid]. */
function sessionKeyHex(inputs: DigestMd5Inputs): string {
  const secretHash = md5(
    ...joined([
      hashableText(inputs.username),
      hashableText(inputs.realm),
      hashableText(inputs.password),
    ]),
  );
  const a1 = [secretHash, inputs.nonce, inputs.cnonce];
  if (inputs.authzid !== undefined) a1.push(Buffer.from(inputs.authzid, 'utf8'));
  return md5(...joined(a1)).toString('hex');
}

function digestHex(inputs: DigestMd5Inputs, a2Method: string): string {
  const a2 = Buffer.from(`${a2Method}:${inputs.digestUri}`, 'utf8');
  return md5(
    ...joined([
      Buffer.from(sessionKeyHex(inputs), 'latin1'),
      inputs.nonce,
      Buffer.from(inputs.nonceCount, 'latin1'),
      inputs.cnonce,
      Buffer.from(inputs.qop, 'latin1'),
      Buffer.from(md5(a2).toString('hex'), 'latin1'),
    ]),
  ).toString('hex');
}

/** The client's `response=` value: lower-case hex, A2 = "AUTHENTICATE:" digest-uri. */
export function digestResponse(inputs: DigestMd5Inputs): string {
  return digestHex(inputs, 'AUTHENTICATE');
}

/** The server's `rspauth=` value: lower-case hex, A2 = ":" digest-uri. */
export function digestResponseAuth(inputs: DigestMd5Inputs): string {
  return digestHex(inputs, '');
}

const DIGEST_HEX = /^[0-9a-f]{32}$/;

/** Whether `received` is the expected 32-hex-digit digest, compared in constant time. */
export function digestMatches(received: Buffer, expectedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'latin1');
  if (received.length !== expected.length || !DIGEST_HEX.test(received.toString('latin1')))
    return false;
  return timingSafeEqual(received, expected);
}
