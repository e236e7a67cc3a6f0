// The name and password Spark authenticates with over SASL, derived from the app secret the
// same way on both ends (Spark's SparkSaslClient / SparkSaslServer): every app is the user
// `sparkSaslUser`, and the password is the secret in base64 as Netty writes it.

/** Base64 of `sparkSaslUser`, the SASL user name of every Spark app. */
export const SPARK_SASL_USER = 'c3BhcmtTYXNsVXNlcg==';

/** Netty's Base64 (which Spark uses here) breaks its output into lines this long. */
const NETTY_BASE64_LINE = 76;

/**
 * The SASL password for an app secret: base64 of the secret's UTF-8 bytes with a '\n' after every
 * 76 characters and none at the end, as Netty's `Base64.encode` (line breaks on) writes it. A
 * 64-hex-character secret thus gives 88 characters with one '\n' at index 76.
 */
export function sparkSaslPassword(secret: string): string {
  const encoded = Buffer.from(secret, 'utf8').toString('base64');
  const lines: string[] = [];
  for (let at = 0; at < encoded.length; at += NETTY_BASE64_LINE)
    lines.push(encoded.slice(at, at + NETTY_BASE64_LINE));
  return lines.join('\n');
}
