// Client authentication at the gateway. A Spark Connect client sends `authorization: Bearer TOKEN`
// (PySpark: sc://HOST:PORT/;use_ssl=true;token=TOKEN). The token is either one of the gateway's
// static tokens, kept only as SHA-256 hashes in a tokens file, or a JWT signed with HS256 or RS256
// by keys the gateway is given (a secret, PEM public keys, or a JWKS file). The verified identity
// (the principal) becomes part of every session key and the user id the servers see, so no user
// can reach another's session.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type http2 from 'node:http2';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import { readNamedFile } from '../../core/config/read-named-file.ts';
import { ConfigError } from '../../core/errors.ts';
import { hashToken, principalProblem, readTokensFile } from '../../core/tokens-file.ts';
import { GatewayError } from '../errors.ts';

// The tokens-file format is shared with the admin port; its helpers stay importable from here.
export {
  TOKEN_HASH_PREFIX,
  hashToken,
  newToken,
  principalProblem,
  tokenFileLine,
} from '../../core/tokens-file.ts';

export interface JwtSettings {
  /** Files holding an HS256 shared secret (at least 32 bytes; trailing whitespace is dropped). */
  readonly hs256SecretFiles?: readonly string[];
  /** PEM files with RSA public keys or certificates, for RS256. */
  readonly publicKeyFiles?: readonly string[];
  /** A JSON Web Key Set file (RS256 keys, picked by `kid`). */
  readonly jwksFile?: string | undefined;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  /** The claim that names the user (default `sub`). */
  readonly principalClaim?: string | undefined;
}

export interface ClientAuthSettings {
  /** The static tokens file: `PRINCIPAL sha256:HEX` per line. */
  readonly tokensFile?: string | undefined;
  readonly jwt?: JwtSettings | undefined;
}

export interface ClientAuthenticator {
  /** Resolves to the caller's verified identity, or rejects with UNAUTHENTICATED. */
  authenticate(headers: http2.IncomingHttpHeaders): Promise<string>;
  /** Reads the tokens and key files again; on failure the previous ones stay in force. */
  reload(): void;
  /** What is accepted, for the startup log. */
  describe(): { staticTokens: number; jwtKeys: number };
}

const JWT_CLOCK_TOLERANCE_S = 30;
const MIN_HS256_SECRET_BYTES = 32;
const VERIFIED_CACHE_SIZE = 10_000;
const CONNECT_HINT =
  'connect with a token, e.g. sc://HOST:PORT/;use_ssl=true;token=TOKEN (PySpark), which sends it as "authorization: Bearer TOKEN"';

interface Keys {
  /** Hash of a static token → principal. */
  readonly tokens: ReadonlyMap<string, string>;
  readonly hmacSecrets: readonly Uint8Array[];
  readonly publicKeys: readonly KeyObject[];
  readonly jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  readonly jwksSize: number;
}

export function createClientAuthenticator(settings: ClientAuthSettings): ClientAuthenticator {
  const jwt = settings.jwt;
  const principalClaim = jwt?.principalClaim ?? 'sub';
  let keys = loadKeys(settings);
  const verified = new Map<string, { principal: string; expiresAt: number }>();

  const verifyJwt = async (token: string): Promise<string> => {
    const cached = verified.get(token);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.principal;
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw unauthenticated('the bearer token is neither a known gateway token nor a valid JWT');
    }
    const candidates: (Uint8Array | KeyObject | ReturnType<typeof createLocalJWKSet>)[] =
      alg === 'HS256'
        ? [...keys.hmacSecrets]
        : alg === 'RS256'
          ? [...(keys.jwks === undefined ? [] : [keys.jwks]), ...keys.publicKeys]
          : [];
    if (candidates.length === 0)
      throw unauthenticated(
        `the JWT is signed with ${alg ?? 'no algorithm'}, and the gateway accepts ${acceptedAlgorithms(keys)}`,
      );
    let failure: unknown;
    for (const key of candidates) {
      try {
        const options: JWTVerifyOptions = {
          algorithms: [alg ?? ''],
          requiredClaims: ['exp'],
          clockTolerance: JWT_CLOCK_TOLERANCE_S,
          ...(jwt?.issuer === undefined ? {} : { issuer: jwt.issuer }),
          ...(jwt?.audience === undefined ? {} : { audience: jwt.audience }),
        };
        const { payload } =
          typeof key === 'function'
            ? await jwtVerify(token, key, options)
            : await jwtVerify(token, key, options);
        const principal = principalOf(payload, principalClaim);
        remember(verified, token, principal, payload);
        return principal;
      } catch (error) {
        failure = error;
        // Another key may have signed it; any other fault is the token's own.
        if (
          !(error instanceof joseErrors.JWSSignatureVerificationFailed) &&
          !(error instanceof joseErrors.JWKSNoMatchingKey)
        )
          break;
      }
    }
    throw unauthenticated(describeJwtFailure(failure));
  };

  return {
    async authenticate(headers) {
      const token = bearerToken(headers.authorization);
      const principal = keys.tokens.get(hashToken(token));
      if (principal !== undefined) return principal;
      if (token.split('.').length === 3 && jwt !== undefined) return verifyJwt(token);
      throw unauthenticated('the bearer token is not one of the gateway’s tokens');
    },
    reload() {
      keys = loadKeys(settings);
      verified.clear();
    },
    describe: () => ({
      staticTokens: keys.tokens.size,
      jwtKeys: keys.hmacSecrets.length + keys.publicKeys.length + keys.jwksSize,
    }),
  };
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header === '')
    throw unauthenticated(
      `this gateway requires a bearer token and the call carries none; ${CONNECT_HINT}`,
    );
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (match?.[1] === undefined)
    throw unauthenticated(`the authorization header is not "Bearer TOKEN"; ${CONNECT_HINT}`);
  return match[1];
}

function unauthenticated(why: string): GatewayError {
  return new GatewayError('GW_UNAUTHENTICATED', `sparkplane gateway: ${why}`);
}

function principalOf(payload: JWTPayload, claim: string): string {
  const value = payload[claim];
  if (typeof value !== 'string')
    throw new GatewayError(
      'GW_UNAUTHENTICATED',
      `sparkplane gateway: the JWT has no string claim "${claim}" naming the user`,
    );
  const problem = principalProblem(value);
  if (problem !== undefined)
    throw new GatewayError(
      'GW_UNAUTHENTICATED',
      `sparkplane gateway: the JWT's "${claim}" claim cannot name a user: ${problem}`,
    );
  return value;
}

function remember(
  cache: Map<string, { principal: string; expiresAt: number }>,
  token: string,
  principal: string,
  payload: JWTPayload,
): void {
  if (payload.exp === undefined) return;
  if (cache.size >= VERIFIED_CACHE_SIZE) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(token, { principal, expiresAt: payload.exp * 1000 });
}

function describeJwtFailure(error: unknown): string {
  if (error instanceof GatewayError) return error.message.replace(/^sparkplane gateway: /, '');
  if (error instanceof joseErrors.JWTExpired)
    return 'the JWT has expired; get a new token and connect again';
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return `the JWT's "${error.claim}" claim is not accepted (${error.reason}): ${error.message}`;
  if (
    error instanceof joseErrors.JWSSignatureVerificationFailed ||
    error instanceof joseErrors.JWKSNoMatchingKey
  )
    return 'the JWT is not signed by any key the gateway trusts';
  if (error instanceof joseErrors.JOSEError) return `the JWT is not valid: ${error.message}`;
  return `the JWT could not be verified: ${String(error)}`;
}

function acceptedAlgorithms(keys: Keys): string {
  const accepted = [
    ...(keys.hmacSecrets.length > 0 ? ['HS256'] : []),
    ...(keys.publicKeys.length > 0 || keys.jwks !== undefined ? ['RS256'] : []),
  ];
  return accepted.length === 0 ? 'no JWTs' : accepted.join(' and ');
}

function loadKeys(settings: ClientAuthSettings): Keys {
  const jwt = settings.jwt;
  const tokens =
    settings.tokensFile === undefined
      ? new Map<string, string>()
      : readTokensFile(settings.tokensFile, 'gateway tokens');
  const hmacSecrets = (jwt?.hs256SecretFiles ?? []).map((file) => {
    const secret = trimEnd(readNamedFile(file, 'JWT HS256 secret'));
    if (secret.length < MIN_HS256_SECRET_BYTES)
      throw new ConfigError(
        'CONFIG_INVALID',
        `the JWT HS256 secret in ${file} has ${String(secret.length)} bytes; HS256 needs at least ${String(MIN_HS256_SECRET_BYTES)} (e.g. openssl rand -base64 48 > ${file})`,
      );
    return new Uint8Array(secret);
  });
  const publicKeys = (jwt?.publicKeyFiles ?? []).map((file) => {
    try {
      const key = createPublicKey(readNamedFile(file, 'JWT public key'));
      if (key.asymmetricKeyType !== 'rsa')
        throw new Error(
          `it holds a ${key.asymmetricKeyType ?? 'non-RSA'} key, and RS256 needs RSA`,
        );
      return key;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        'CONFIG_INVALID',
        `the JWT public key file ${file} is not a PEM RSA public key or certificate: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  });
  let jwks: Keys['jwks'];
  let jwksSize = 0;
  if (jwt?.jwksFile !== undefined) {
    const file = jwt.jwksFile;
    let set: JSONWebKeySet;
    try {
      set = JSON.parse(readNamedFile(file, 'JWKS').toString('utf8')) as JSONWebKeySet;
      if (!Array.isArray(set.keys)) throw new Error('it has no "keys" array');
      jwks = createLocalJWKSet(set);
      jwksSize = set.keys.length;
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      throw new ConfigError(
        'CONFIG_INVALID',
        `the JWKS file ${file} is not a JSON Web Key Set: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
  return { tokens, hmacSecrets, publicKeys, jwks, jwksSize };
}

function trimEnd(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(bytes[end - 1] ?? 0)) end -= 1;
  return bytes.subarray(0, end);
}
