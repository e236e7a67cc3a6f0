// The shuffle service's side of SASL DIGEST-MD5 as Spark executors speak it when
// spark.authenticate=true and AES-based auth is off: the server that the JDK SaslClient built by
// Spark's SparkSaslClient (protocol null, server name "default", qop auth) authenticates to.
// Only qop=auth: after authentication the connection stays in clear, as with Spark's default
// spark.authenticate.enableSaslEncryption=false.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import {
  MAX_RESPONSE_BYTES,
  directivesByName,
  formatDirectives,
  parseDirectives,
} from './digest-md5-directives.ts';
import {
  digestMatches,
  digestResponse,
  digestResponseAuth,
  type DigestMd5Inputs,
} from './digest-md5-digest.ts';
import {
  FIRST_NONCE_COUNT,
  SPARK_SASL_PROTOCOL,
  SPARK_SASL_REALM,
  SPARK_SASL_SERVER_NAME,
  authFailure,
  decodeText,
  makeNonce,
} from './digest-md5-params.ts';
import { SPARK_SASL_USER, sparkSaslPassword } from './spark-sasl-identity.ts';

export { SPARK_SASL_USER, sparkSaslPassword } from './spark-sasl-identity.ts';
export {
  createDigestMd5Client,
  type DigestMd5Client,
  type DigestMd5ClientOptions,
} from './digest-md5-client.ts';

export interface DigestMd5ServerOptions {
  /** The app secret (spark.authenticate.secret); user name and password derive from it. */
  readonly secret: string;
  /** The realm offered in the challenge; Spark's is 'default'. */
  readonly realm?: string;
  /** The server name in the digest-uri the client must send (`null/<serverName>`). */
  readonly serverName?: string;
  /** Source of the nonce's random bytes; node:crypto's by default. */
  readonly randomBytes?: (size: number) => Buffer;
}

export interface DigestMd5Server {
  /** First step: the client sent an empty token; returns the digest-challenge. */
  challenge(): Buffer;
  /**
   * Second step: checks the client's digest-response and returns the `rspauth=…` token. Throws
   * ShuffleError('ESS_AUTH') on any mismatch, malformed input or step out of order; after a
   * failure the exchange is over.
   */
  respond(response: Buffer): Buffer;
  /** True once a digest-response has been accepted. */
  readonly complete: boolean;
}

const WHAT = 'digest-response';
const MAXBUF = /^[0-9]{1,8}$/;
const SASL_ENCRYPTION_HINT =
  '; SASL encryption is not supported: set spark.authenticate.enableSaslEncryption=false on the executors, or use spark.network.crypto.enabled=true for encryption';

export function createDigestMd5Server(options: DigestMd5ServerOptions): DigestMd5Server {
  const realm = options.realm ?? SPARK_SASL_REALM;
  const digestUri = `${SPARK_SASL_PROTOCOL}/${options.serverName ?? SPARK_SASL_SERVER_NAME}`;
  const password = sparkSaslPassword(options.secret);
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  let state: 'new' | 'challenged' | 'complete' | 'failed' = 'new';
  let nonce: Buffer = Buffer.alloc(0);

  /** The rspauth token for an acceptable response; throws on anything else. */
  function verify(response: Buffer): Buffer {
    if (response.length === 0) throw authFailure(`the ${WHAT} is empty`);
    // Checked before parsing: a hostile client cannot make the server hold more than this.
    if (response.length > MAX_RESPONSE_BYTES)
      throw authFailure(
        `the ${WHAT} is ${response.length} bytes, more than the ${MAX_RESPONSE_BYTES} RFC 2831 allows`,
      );
    const fields = directivesByName(parseDirectives(response, WHAT), WHAT);
    const optional = (name: string): Buffer | undefined => fields.get(name)?.[0];
    const required = (name: string): Buffer => {
      const value = optional(name);
      if (value === undefined) throw authFailure(`the ${WHAT} has no ${name} directive`);
      return value;
    };

    const charset = optional('charset')?.toString('latin1');
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8')
      throw authFailure(`the client asked for charset ${charset}; only utf-8 is offered`);
    const utf8 = charset !== undefined;

    // RFC 2831: no qop directive means auth.
    const qop = optional('qop')?.toString('latin1') ?? 'auth';
    if (qop !== 'auth') {
      const hint = qop === 'auth-conf' || qop === 'auth-int' ? SASL_ENCRYPTION_HINT : '';
      throw authFailure(`the client asked for qop=${qop}, but only qop=auth is offered${hint}`);
    }

    const username = decodeText(required('username'), utf8, 'user name');
    if (username !== SPARK_SASL_USER)
      throw authFailure(
        `unknown user name "${username}": Spark authenticates as ${SPARK_SASL_USER} (base64 of sparkSaslUser)`,
      );
    // RFC 2831: a response without realm is for the empty realm.
    const clientRealm = decodeText(optional('realm') ?? Buffer.alloc(0), utf8, 'realm');
    if (clientRealm !== realm)
      throw authFailure(`the client answered for realm "${clientRealm}", not "${realm}"`);
    if (!required('nonce').equals(nonce))
      throw authFailure(
        'the nonce is not the one this server issued on this connection (a stale or replayed response)',
      );
    const cnonce = required('cnonce');
    if (cnonce.length === 0) throw authFailure('the cnonce is empty');
    const nonceCount = required('nc').toString('latin1');
    if (nonceCount !== FIRST_NONCE_COUNT)
      throw authFailure(
        `nc=${nonceCount}, but the one authentication of a connection must use nc=${FIRST_NONCE_COUNT} (a replayed response?)`,
      );
    const clientUri = required('digest-uri').toString('latin1');
    if (clientUri !== digestUri)
      throw authFailure(`the digest-uri is "${clientUri}", not "${digestUri}"`);
    const maxbuf = optional('maxbuf')?.toString('latin1');
    if (maxbuf !== undefined && !MAXBUF.test(maxbuf))
      throw authFailure(`maxbuf=${maxbuf} is not a number`);
    const authzidBytes = optional('authzid');
    const authzid =
      authzidBytes === undefined ? undefined : decodeText(authzidBytes, true, 'authzid');
    // Spark's rule: a client may only act as itself.
    if (authzid !== undefined && authzid !== username)
      throw authFailure(
        `user ${username} asked to act as "${authzid}"; the authorization id must be the user name`,
      );

    const inputs: DigestMd5Inputs = {
      username,
      realm,
      password,
      nonce,
      cnonce,
      ...(authzid === undefined ? {} : { authzid }),
      nonceCount,
      qop,
      digestUri,
    };
    if (!digestMatches(required('response'), digestResponse(inputs)))
      throw authFailure(
        'the client does not know the secret: check that the executors and the shuffle service have the same spark.authenticate.secret',
      );
    return formatDirectives([['rspauth', digestResponseAuth(inputs), 'token']]);
  }

  return {
    challenge(): Buffer {
      if (state !== 'new')
        throw authFailure('the client sent a second initial token; the challenge was already sent');
      nonce = makeNonce(randomBytes);
      state = 'challenged';
      return formatDirectives([
        ['realm', realm, 'quoted'],
        ['nonce', nonce, 'quoted'],
        ['qop', 'auth', 'quoted'],
        ['charset', 'utf-8', 'token'],
        ['algorithm', 'md5-sess', 'token'],
      ]);
    },

    respond(response: Buffer): Buffer {
      if (state === 'new') throw authFailure(`a ${WHAT} arrived before the challenge was sent`);
      if (state === 'complete')
        throw authFailure(`a second ${WHAT} arrived after authentication succeeded (a replay?)`);
      if (state === 'failed')
        throw authFailure(`a ${WHAT} arrived after the exchange had failed; reconnect`);
      try {
        const rspauth = verify(response);
        state = 'complete';
        return rspauth;
      } catch (error) {
        // One attempt per nonce: guessing the secret costs a new connection each time.
        state = 'failed';
        throw error;
      }
    },

    get complete(): boolean {
      return state === 'complete';
    },
  };
}
