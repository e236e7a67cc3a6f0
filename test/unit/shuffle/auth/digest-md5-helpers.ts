// What the DIGEST-MD5 unit tests share: the secrets, deterministic random sources, a builder of
// digest-responses that differ from the JDK's in one named way, and error matchers.
import assert from 'node:assert/strict';
import {
  digestResponse,
  digestResponseAuth,
} from '../../../../src/shuffle/auth/digest-md5-digest.ts';
import {
  formatDirectives,
  type DirectiveOut,
} from '../../../../src/shuffle/auth/digest-md5-directives.ts';
import {
  SPARK_SASL_USER,
  createDigestMd5Server,
  sparkSaslPassword,
  type DigestMd5Server,
} from '../../../../src/shuffle/auth/digest-md5.ts';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';

/** A secret as Spark generates them: 64 hex characters. */
export const SECRET = 'ef6c0cafcc84dd956b90bdb446676dd63ff5da15cae32fcf2e9de352a6e61927';
export const OTHER_SECRET = '0000000000000000000000000000000000000000000000000000000000000000';

/** A random source that returns the given base64 nonce's bytes, as the JDK's would have. */
export function replaying(nonce: string): (size: number) => Buffer {
  return (size) => {
    const bytes = Buffer.from(nonce, 'base64');
    assert.equal(size, bytes.length);
    return bytes;
  };
}

export function fixedBytes(fill: number): (size: number) => Buffer {
  return (size) => Buffer.alloc(size, fill);
}

/** An assert.throws matcher: ShuffleError with `code` whose message matches `pattern`. */
export function shuffleError(code: string, pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ShuffleError, `not a ShuffleError: ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  };
}

export function authError(pattern: RegExp): (error: unknown) => boolean {
  return shuffleError('ESS_AUTH', pattern);
}

/** The nonce a server drawing `fixedBytes(1)` issues, and the cnonce of a `fixedBytes(2)` client. */
export const NONCE = Buffer.alloc(30, 1).toString('base64');
export const CNONCE = Buffer.alloc(30, 2).toString('base64');
/** What a server drawing `fixedBytes(1)` challenges with. */
export const CHALLENGE = `realm="default",nonce="${NONCE}",qop="auth",charset=utf-8,algorithm=md5-sess`;

/** Directives of a digest-response; undefined leaves one out. */
export type Fields = Record<string, string | undefined>;

/** The response digest for `fields` as sent, with the password of `secret`. */
export function digestFor(fields: Fields, secret = SECRET): string {
  return digestResponse({
    username: fields.username ?? '',
    realm: fields.realm ?? '',
    password: sparkSaslPassword(secret),
    nonce: Buffer.from(fields.nonce ?? ''),
    cnonce: Buffer.from(fields.cnonce ?? ''),
    ...(fields.authzid === undefined ? {} : { authzid: fields.authzid }),
    nonceCount: fields.nc ?? '',
    qop: 'auth',
    digestUri: fields['digest-uri'] ?? '',
  });
}

/**
 * The digest-response the JDK would send to a `challengedServer()`, with directives replaced by
 * `changes`. The digest is computed from the final values unless `changes` sets `response`, so
 * each refusal case fails only for the reason it names.
 */
export function responseWith(changes: Fields = {}, secret = SECRET): Buffer {
  // The JDK's order; `response` is filled in below, new directives go last.
  const fields: Fields = {
    charset: 'utf-8',
    username: SPARK_SASL_USER,
    realm: 'default',
    nonce: NONCE,
    nc: '00000001',
    cnonce: CNONCE,
    'digest-uri': 'null/default',
    maxbuf: '65536',
    response: '',
    qop: 'auth',
    ...changes,
  };
  if (!('response' in changes)) fields.response = digestFor(fields, secret);
  const quoted = new Set(['username', 'realm', 'nonce', 'cnonce', 'digest-uri', 'authzid']);
  const directives: DirectiveOut[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) directives.push([name, value, quoted.has(name) ? 'quoted' : 'token']);
  }
  return formatDirectives(directives);
}

/** A server that has sent `CHALLENGE`. */
export function challengedServer(): DigestMd5Server {
  const server = createDigestMd5Server({ secret: SECRET, randomBytes: fixedBytes(1) });
  server.challenge();
  return server;
}

/** The rspauth token a server with `secret` would send the client that sent `responseWith()`. */
export function rspauthFor(secret: string): Buffer {
  const rspauth = digestResponseAuth({
    username: SPARK_SASL_USER,
    realm: 'default',
    password: sparkSaslPassword(secret),
    nonce: Buffer.from(NONCE),
    cnonce: Buffer.from(CNONCE),
    nonceCount: '00000001',
    qop: 'auth',
    digestUri: 'null/default',
  });
  return Buffer.from(`rspauth=${rspauth}`);
}
