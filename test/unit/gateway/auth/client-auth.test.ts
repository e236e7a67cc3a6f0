// Client authentication: static tokens kept as hashes, JWTs signed with HS256 or RS256 by a
// secret, PEM keys or a JWKS file, and the errors a client sees when its token is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
} from 'jose';
import {
  createClientAuthenticator,
  hashToken,
  newToken,
  principalProblem,
  tokenFileLine,
} from '../../../../src/gateway/auth/client-auth.ts';
import { ConfigError } from '../../../../src/core/errors.ts';
import { GatewayError } from '../../../../src/gateway/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'sparkplane-auth-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const bearer = (token: string): { authorization: string } => ({
  authorization: `Bearer ${token}`,
});

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof GatewayError);
    assert.equal(error.code, 'GW_UNAUTHENTICATED');
    assert.match(error.message, pattern);
    return true;
  });
}

const SECRET = 'an-hs256-secret-of-at-least-thirty-two-bytes';
const hmacKey = new TextEncoder().encode(SECRET);
const inAnHour = (): number => Math.floor(Date.now() / 1000) + 3600;

describe('static tokens', () => {
  const alice = newToken();
  const bob = newToken();
  const tokens = file(
    'tokens',
    `# users\n${tokenFileLine('alice', alice)}\n\n${tokenFileLine('bob@example.com', bob)}\n`,
  );

  it('maps a token to its principal and never stores the token itself', async () => {
    const auth = createClientAuthenticator({ tokensFile: tokens });
    assert.equal(await auth.authenticate(bearer(alice)), 'alice');
    assert.equal(await auth.authenticate(bearer(bob)), 'bob@example.com');
    assert.equal(await auth.authenticate({ authorization: `bearer  ${alice}` }), 'alice');
    assert.deepEqual(auth.describe(), { staticTokens: 2, jwtKeys: 0 });
    assert.match(hashToken(alice), /^sha256:[0-9a-f]{64}$/);
    assert.ok(!tokenFileLine('alice', alice).includes(alice));
  });

  it('refuses a missing, malformed or unknown token with what to do', async () => {
    const auth = createClientAuthenticator({ tokensFile: tokens });
    await refused(auth.authenticate({}), /requires a bearer token .*;token=TOKEN/);
    await refused(auth.authenticate({ authorization: 'Basic abc' }), /not "Bearer TOKEN"/);
    await refused(auth.authenticate(bearer('spgw_nope')), /not one of the gateway.s tokens/);
  });

  it('names the line of a bad tokens file, and keeps the old tokens when a reload fails', async () => {
    for (const [text, pattern] of [
      ['alice deadbeef\n', /line 1: expected "PRINCIPAL sha256:HEX"/],
      [`alice ${hashToken('x')} extra\n`, /line 1: expected/],
      [
        `\n${tokenFileLine('alice', 'x')}\n${tokenFileLine('bob', 'x')}\n`,
        /line 3: .*also given to alice/,
      ],
    ] as const)
      assert.throws(
        () => createClientAuthenticator({ tokensFile: file('bad', text) }),
        (error: unknown) => error instanceof ConfigError && pattern.test(error.message),
      );
    assert.throws(
      () => createClientAuthenticator({ tokensFile: join(dir, 'missing') }),
      /cannot read the gateway tokens file .*missing/,
    );
    const path = file('reloaded', `${tokenFileLine('carol', 'first')}\n`);
    const auth = createClientAuthenticator({ tokensFile: path });
    writeFileSync(path, `${tokenFileLine('carol', 'second')}\n`);
    auth.reload();
    assert.equal(await auth.authenticate(bearer('second')), 'carol');
    await refused(auth.authenticate(bearer('first')), /not one of/);
    writeFileSync(path, 'garbage\n');
    assert.throws(() => {
      auth.reload();
    }, /line 1/);
    assert.equal(await auth.authenticate(bearer('second')), 'carol');
  });

  it('accepts only principals that can be user ids', () => {
    assert.equal(principalProblem('alice'), undefined);
    assert.equal(principalProblem('auth0|12345'), undefined);
    assert.match(principalProblem('') ?? '', /empty/);
    assert.match(principalProblem('a b') ?? '', /spaces/);
    assert.match(principalProblem('a\u001fb') ?? '', /control/);
    assert.match(principalProblem('x'.repeat(257)) ?? '', /longer than 256/);
  });
});

describe('JWT', () => {
  it('verifies HS256 tokens, with issuer and audience, and caches nothing past exp', async () => {
    const auth = createClientAuthenticator({
      jwt: {
        hs256SecretFiles: [file('secret', `${SECRET}\n`)],
        issuer: 'https://idp.example',
        audience: 'spark',
      },
    });
    const sign = (claims: Record<string, unknown>, exp = inAnHour()): Promise<string> =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://idp.example')
        .setAudience('spark')
        .setExpirationTime(exp)
        .sign(hmacKey);
    const token = await sign({ sub: 'dana' });
    assert.equal(await auth.authenticate(bearer(token)), 'dana');
    assert.equal(await auth.authenticate(bearer(token)), 'dana');
    await refused(auth.authenticate(bearer(await sign({ sub: 'dana' }, 1000))), /expired/);
    await refused(
      auth.authenticate(
        bearer(
          await new SignJWT({ sub: 'dana' })
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer('https://other.example')
            .setAudience('spark')
            .setExpirationTime(inAnHour())
            .sign(hmacKey),
        ),
      ),
      /"iss" claim/,
    );
    await refused(
      auth.authenticate(
        bearer(
          await new SignJWT({ sub: 'dana' })
            .setProtectedHeader({ alg: 'HS256' })
            .setIssuer('https://idp.example')
            .setAudience('spark')
            .sign(hmacKey),
        ),
      ),
      /"exp" claim/,
    );
    await refused(auth.authenticate(bearer(await sign({}))), /no string claim "sub"/);
    await refused(auth.authenticate(bearer(await sign({ sub: 'a b' }))), /cannot name a user/);
    const forged = await new SignJWT({ sub: 'dana' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.example')
      .setAudience('spark')
      .setExpirationTime(inAnHour())
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    await refused(auth.authenticate(bearer(forged)), /not signed by any key the gateway trusts/);
    const unsigned = new UnsecuredJWT({ sub: 'dana' }).setExpirationTime(inAnHour()).encode();
    await refused(auth.authenticate(bearer(unsigned)), /signed with none.*accepts HS256/);
  });

  it('refuses a short HS256 secret', () => {
    assert.throws(
      () => createClientAuthenticator({ jwt: { hs256SecretFiles: [file('short', 'tiny')] } }),
      /has 4 bytes; HS256 needs at least 32/,
    );
  });

  it('verifies RS256 tokens by PEM keys and by a JWKS file, and takes the principal claim asked for', async () => {
    const first = await generateKeyPair('RS256', { extractable: true });
    const second = await generateKeyPair('RS256', { extractable: true });
    const third = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(third.publicKey)), kid: 'k3', alg: 'RS256', use: 'sig' };
    const auth = createClientAuthenticator({
      jwt: {
        publicKeyFiles: [
          file('first.pem', await exportSPKI(first.publicKey)),
          file('second.pem', await exportSPKI(second.publicKey)),
        ],
        jwksFile: file('jwks.json', JSON.stringify({ keys: [jwk] })),
        principalClaim: 'email',
      },
    });
    assert.deepEqual(auth.describe(), { staticTokens: 0, jwtKeys: 3 });
    const sign = (key: CryptoKey, kid?: string): Promise<string> =>
      new SignJWT({ sub: 'u-1', email: 'erin@example.com' })
        .setProtectedHeader(kid === undefined ? { alg: 'RS256' } : { alg: 'RS256', kid })
        .setExpirationTime(inAnHour())
        .sign(key);
    assert.equal(
      await auth.authenticate(bearer(await sign(second.privateKey))),
      'erin@example.com',
    );
    assert.equal(
      await auth.authenticate(bearer(await sign(third.privateKey, 'k3'))),
      'erin@example.com',
    );
    const stranger = await generateKeyPair('RS256');
    await refused(
      auth.authenticate(bearer(await sign(stranger.privateKey, 'k9'))),
      /not signed by any key the gateway trusts/,
    );
    const hs = await new SignJWT({ email: 'erin@example.com' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(inAnHour())
      .sign(hmacKey);
    await refused(
      auth.authenticate(bearer(hs)),
      /signed with HS256, and the gateway accepts RS256/,
    );
  });

  it('names a file that holds no usable key', () => {
    assert.throws(
      () => createClientAuthenticator({ jwt: { publicKeyFiles: [file('junk.pem', 'junk')] } }),
      /junk\.pem is not a PEM RSA public key/,
    );
    assert.throws(
      () => createClientAuthenticator({ jwt: { jwksFile: file('junk.json', '{"x":1}') } }),
      /junk\.json is not a JSON Web Key Set: it has no "keys" array/,
    );
  });

  it('takes static tokens and JWTs side by side', async () => {
    const auth = createClientAuthenticator({
      tokensFile: file('side', `${tokenFileLine('frank', 'frank-token')}\n`),
      jwt: { hs256SecretFiles: [file('side-secret', SECRET)] },
    });
    const jwt = await new SignJWT({ sub: 'gina' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(inAnHour())
      .sign(hmacKey);
    assert.equal(await auth.authenticate(bearer('frank-token')), 'frank');
    assert.equal(await auth.authenticate(bearer(jwt)), 'gina');
  });
});
