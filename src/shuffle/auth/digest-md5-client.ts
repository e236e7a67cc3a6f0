// The executor's side of SASL DIGEST-MD5, as the JDK SaslClient that Spark's SparkSaslClient
// builds: lets sparkplane's shuffle client (and its tests) authenticate to Spark's own external
// shuffle service, or to sparkplane's, with qop=auth. The response it writes is byte for byte
// what the JDK writes, given the same cnonce.
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import {
  MAX_CHALLENGE_BYTES,
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
  JDK_MAXBUF,
  SPARK_SASL_PROTOCOL,
  SPARK_SASL_SERVER_NAME,
  authFailure,
  decodeText,
  makeNonce,
} from './digest-md5-params.ts';
import { SPARK_SASL_USER, sparkSaslPassword } from './spark-sasl-identity.ts';

export interface DigestMd5ClientOptions {
  /** The app secret (spark.authenticate.secret); user name and password derive from it. */
  readonly secret: string;
  /** The server name in the digest-uri (`null/<serverName>`); Spark's is 'default'. */
  readonly serverName?: string;
  /** Source of the cnonce's random bytes; node:crypto's by default. */
  readonly randomBytes?: (size: number) => Buffer;
}

export interface DigestMd5Client {
  /** The first token: empty, as DIGEST-MD5 has no initial response. */
  start(): Buffer;
  /** Answers the server's digest-challenge with a digest-response. */
  evaluate(challenge: Buffer): Buffer;
  /** Checks the server's `rspauth=…`, which proves the server knows the secret too. */
  verify(rspauth: Buffer): void;
  /** True once the server's rspauth has been verified. */
  readonly complete: boolean;
}

const CHALLENGE = 'digest-challenge';
const RSPAUTH = 'rspauth token';

export function createDigestMd5Client(options: DigestMd5ClientOptions): DigestMd5Client {
  const digestUri = `${SPARK_SASL_PROTOCOL}/${options.serverName ?? SPARK_SASL_SERVER_NAME}`;
  const password = sparkSaslPassword(options.secret);
  const randomBytes = options.randomBytes ?? cryptoRandomBytes;
  let state: 'new' | 'started' | 'responded' | 'complete' | 'failed' = 'new';
  let inputs: DigestMd5Inputs | undefined;

  function answer(challenge: Buffer): Buffer {
    if (challenge.length === 0) throw authFailure(`the ${CHALLENGE} is empty`);
    if (challenge.length > MAX_CHALLENGE_BYTES)
      throw authFailure(
        `the ${CHALLENGE} is ${challenge.length} bytes, more than the ${MAX_CHALLENGE_BYTES} RFC 2831 allows`,
      );
    const fields = directivesByName(parseDirectives(challenge, CHALLENGE), CHALLENGE, ['realm']);
    const optional = (name: string): Buffer | undefined => fields.get(name)?.[0];

    const algorithm = optional('algorithm')?.toString('latin1');
    if (algorithm?.toLowerCase() !== 'md5-sess')
      throw authFailure(
        `the ${CHALLENGE} asks for algorithm ${algorithm ?? '(none)'}; DIGEST-MD5 requires md5-sess`,
      );
    const nonce = optional('nonce');
    if (nonce === undefined || nonce.length === 0)
      throw authFailure(`the ${CHALLENGE} has no nonce`);
    const charset = optional('charset')?.toString('latin1');
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8')
      throw authFailure(`the ${CHALLENGE} names charset ${charset}; only utf-8 is understood`);
    const utf8 = charset !== undefined;
    // RFC 2831: no qop-options means auth. Spark's own server offers "auth-conf,auth".
    const offered = (optional('qop')?.toString('latin1') ?? 'auth')
      .split(',')
      .map((option) => option.trim());
    if (!offered.includes('auth'))
      throw authFailure(
        `the server offers only qop=${offered.join(',')} (spark.network.sasl.serverAlwaysEncrypt=true?), and sparkplane supports only qop=auth`,
      );
    // Spark's client takes the realm the server offers (its first, if several).
    const realmBytes = fields.get('realm')?.[0];
    const realm = realmBytes === undefined ? '' : decodeText(realmBytes, utf8, 'realm');

    inputs = {
      username: SPARK_SASL_USER,
      realm,
      password,
      nonce,
      cnonce: makeNonce(randomBytes),
      nonceCount: FIRST_NONCE_COUNT,
      qop: 'auth',
      digestUri,
    };
    return formatDirectives([
      ...(utf8 ? [['charset', 'utf-8', 'token'] as const] : []),
      ['username', inputs.username, 'quoted'],
      ['realm', inputs.realm, 'quoted'],
      ['nonce', inputs.nonce, 'quoted'],
      ['nc', inputs.nonceCount, 'token'],
      ['cnonce', inputs.cnonce, 'quoted'],
      ['digest-uri', inputs.digestUri, 'quoted'],
      ['maxbuf', JDK_MAXBUF, 'token'],
      ['response', digestResponse(inputs), 'token'],
      ['qop', inputs.qop, 'token'],
    ]);
  }

  function check(token: Buffer, sent: DigestMd5Inputs): void {
    if (token.length > MAX_CHALLENGE_BYTES)
      throw authFailure(`the ${RSPAUTH} is ${token.length} bytes, far more than an rspauth needs`);
    const rspauth = directivesByName(parseDirectives(token, RSPAUTH), RSPAUTH).get('rspauth')?.[0];
    if (rspauth === undefined) throw authFailure(`the server's last token has no rspauth`);
    if (!digestMatches(rspauth, digestResponseAuth(sent)))
      throw authFailure(
        'the server does not know the secret (wrong rspauth): check that the shuffle service has the same spark.authenticate.secret',
      );
  }

  /** Runs a step; any failure ends the exchange. */
  function step<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      state = 'failed';
      throw error;
    }
  }

  return {
    start(): Buffer {
      if (state !== 'new') throw authFailure(`start() was called on a client that is ${state}`);
      state = 'started';
      return Buffer.alloc(0);
    },

    evaluate(challenge: Buffer): Buffer {
      if (state !== 'new' && state !== 'started')
        throw authFailure(`a ${CHALLENGE} arrived for a client that is ${state}`);
      return step(() => {
        const response = answer(challenge);
        state = 'responded';
        return response;
      });
    },

    verify(rspauth: Buffer): void {
      const sent = inputs;
      if (state !== 'responded' || sent === undefined)
        throw authFailure(`an ${RSPAUTH} arrived for a client that is ${state}`);
      step(() => {
        check(rspauth, sent);
        state = 'complete';
      });
    },

    get complete(): boolean {
      return state === 'complete';
    },
  };
}
