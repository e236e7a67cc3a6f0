// What both ends of Spark's DIGEST-MD5 exchange agree on: the JDK parameters Spark passes, the
// nonce format, and how a failure reads.
import { ShuffleError } from '../errors.ts';

/** Spark passes a null protocol to the JDK, which writes it into the digest-uri as "null". */
export const SPARK_SASL_PROTOCOL = 'null';
/** Spark's realm, which is also the server name it passes to the JDK. */
export const SPARK_SASL_REALM = 'default';
export const SPARK_SASL_SERVER_NAME = 'default';
/** The JDK's nonce and cnonce: 30 random bytes, 40 characters of base64. */
export const NONCE_BYTES = 30;
/** nc of the one and only authentication per connection (no subsequent authentication). */
export const FIRST_NONCE_COUNT = '00000001';
/** The maxbuf the JDK sends; it only matters with integrity or privacy, which are not offered. */
export const JDK_MAXBUF = '65536';

const FAILED = 'SASL DIGEST-MD5 authentication failed';

export function authFailure(message: string, cause?: unknown): ShuffleError {
  return new ShuffleError(
    'ESS_AUTH',
    `${FAILED}: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

/** A nonce (or cnonce) as the JDK makes one: base64 of NONCE_BYTES random bytes. */
export function makeNonce(randomBytes: (size: number) => Buffer): Buffer {
  const bytes = randomBytes(NONCE_BYTES);
  if (bytes.length !== NONCE_BYTES)
    throw new ShuffleError(
      'ESS_STATE',
      `the random source gave ${bytes.length} bytes for a DIGEST-MD5 nonce instead of ${NONCE_BYTES}; fix the randomBytes option`,
    );
  return Buffer.from(bytes.toString('base64'), 'latin1');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A user name, realm or authzid from the wire, as UTF-8 when negotiated, else ISO-8859-1. */
export function decodeText(bytes: Buffer, utf8: boolean, what: string): string {
  if (!utf8) return bytes.toString('latin1');
  try {
    return UTF8.decode(bytes);
  } catch (error) {
    throw authFailure(`the ${what} is not valid UTF-8`, error);
  }
}
