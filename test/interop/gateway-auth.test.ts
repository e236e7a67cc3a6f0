// The real PySpark Connect client through `sparkplane gateway` with TLS and client
// authentication, in front of two real Spark Connect servers (on 4.x with their own
// spark.connect.authenticate.token, which the gateway injects): three users with static tokens
// and a JWT share one session id and one claimed user id, and each sees only its own session;
// clients without a token, with an unknown one or without TLS are refused with the gateway's
// message; the server token never reaches a client. The same with --relay pinned, where each
// client names its own identity as its user id and one claiming another is refused, and the
// response bytes and header blocks the gateway passes through are kept free of the token.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { SignJWT } from 'jose';
import { tokenFileLine } from '../../src/gateway/auth/client-auth.ts';
import { makeTestCertificate } from '../support/tls-cert.ts';
import { forEachSparkVersion, inSparkRun, keepAll } from './harness/run.ts';
import type { SparkInstall } from './harness/spark-install.ts';
import { startConnectServer, startPySpark } from './harness/spark-processes.ts';
import { gatewayApi, startSparkplaneGateway } from './harness/sparkplane-processes.ts';

interface UserResult {
  readonly views: string[];
  readonly count: number;
  readonly partitions: string;
  readonly user: string;
  readonly tokenConf: string | null;
}
interface AuthResult {
  readonly users: Record<string, UserResult>;
  readonly refused: Record<string, string>;
  /** What a client got back when the server sent the servers' token in a row and an error. */
  readonly echo?: { readonly row: string; readonly error: string; readonly plainError: string };
}
interface ApiSession {
  readonly sessionId: string;
  readonly principal: string;
  readonly userId: string;
  readonly backend: string;
}

const HS256_SECRET = 'interop-hs256-secret-0123456789abcdef-0123';

forEachSparkVersion('sparkplane gateway with TLS and client authentication', (install) => {
  // Pinned runs on the native core (the default when it is built, as in CI) and, once, on the
  // TypeScript relay it falls back to.
  for (const relay of ['terminate', 'pinned', 'pinned-typescript'] as const)
    it(
      `binds each verified user into its own session and refuses clients without a valid token (--relay ${relay})`,
      { timeout: 400_000 },
      async () => {
        await authenticatedUsers(install, relay);
      },
    );
});

/**
 * Terminating, the gateway writes each caller's identity into its requests; pinned, it passes
 * requests through, so each client names its identity as its user id. Either way it injects the
 * servers' own token (4.x) and keeps it out of what the clients get.
 */
async function authenticatedUsers(
  install: SparkInstall,
  relay: 'terminate' | 'pinned' | 'pinned-typescript',
): Promise<void> {
  await inSparkRun(install, `gateway-auth-${relay}`, async (run, keep) => {
    const pinned = relay !== 'terminate';
    const serverAuth = install.pin.line !== '3.5';
    const backendToken = `server-token-${randomUUID()}`;
    const serverConf = serverAuth ? { 'spark.connect.authenticate.token': backendToken } : {};
    const [a, b] = await keepAll(keep, [
      startConnectServer(run, serverConf),
      startConnectServer(run, serverConf),
    ]);

    const certificate = makeTestCertificate();
    const tokens = {
      alice: `alice-${randomUUID()}`,
      bob: `bob-${randomUUID()}`,
      carol: await new SignJWT({ sub: 'carol' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('1h')
        .sign(new TextEncoder().encode(HS256_SECRET)),
      wrong: `mallory-${randomUUID()}`,
    };
    const file = (name: string, text: string): string => {
      const path = join(run.dir, name);
      writeFileSync(path, text);
      return path;
    };
    const tokensFile = file(
      'gateway-tokens',
      `${tokenFileLine('alice', tokens.alice)}\n${tokenFileLine('bob', tokens.bob)}\n`,
    );
    try {
      const gateway = keep(
        await startSparkplaneGateway(run, {
          backends: [a.port, b.port],
          extraArgs: [
            ...(pinned
              ? ['--relay', 'pinned', '--relay-core', relay === 'pinned' ? 'native' : 'typescript']
              : []),
            '--tls-cert',
            certificate.certFile,
            '--tls-key',
            certificate.keyFile,
            '--auth-tokens-file',
            tokensFile,
            '--jwt-hs256-secret-file',
            file('jwt-secret', HS256_SECRET),
            ...(serverAuth
              ? ['--backend-token-file', file('backend-token', `${backendToken}\n`)]
              : []),
          ],
        }),
      );
      const sessionId = randomUUID();
      const client = startPySpark<AuthResult>(
        run,
        'connect_auth.py',
        [
          'localhost',
          String(gateway.port),
          file('client-tokens.json', JSON.stringify(tokens)),
          sessionId,
          pinned ? 'self' : 'admin',
          ...(serverAuth ? [backendToken] : []),
        ],
        {
          name: 'connect-auth',
          timeoutMs: 300_000,
          env: { GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: certificate.certFile },
        },
      );
      const result = await client.result;

      for (const [name, partitions] of [
        ['alice', 3],
        ['bob', 5],
        ['carol', 7],
      ] as const) {
        const user = result.users[name];
        assert.ok(user !== undefined, `${name} ran`);
        assert.deepEqual(user.views, [`mine_${name}`], `${name} sees only its own temp view`);
        assert.equal(user.count, partitions * 10);
        assert.equal(user.partitions, String(partitions), `${name} sees only its own conf`);
        if (serverAuth)
          assert.ok(
            !(user.tokenConf?.includes(backendToken) ?? false),
            `the server token never reaches ${name} (got ${String(user.tokenConf)})`,
          );
      }
      if (serverAuth) {
        // The server sends its token back (a string the query selects, an error quoting it): the
        // client gets it masked in the Arrow batch and in the error's message and details.
        const mask = '*'.repeat(backendToken.length);
        const { echo } = result;
        assert.ok(echo !== undefined, 'the echo ran');
        assert.equal(echo.row, `echo:${mask}`);
        for (const error of [echo.error, echo.plainError]) {
          assert.ok(!error.includes(backendToken), `the error does not carry the token: ${error}`);
          assert.match(error, new RegExp(`leak:\\*{${String(mask.length)}}`));
        }
      }
      assert.match(result.refused.none ?? '', /requires a bearer token/);
      assert.match(result.refused.wrong ?? '', /not one of the gateway.s tokens/);
      assert.doesNotMatch(result.refused.cleartext ?? 'not refused', /^not refused$/);
      if (pinned)
        assert.match(
          result.refused.claimed ?? '',
          /user_id "admin" but the caller authenticated as "alice"/,
        );

      const { sessions } = await gatewayApi<{ sessions: ApiSession[] }>(gateway, 'sessions');
      const mine = sessions
        .filter((session) => session.sessionId === sessionId)
        .map((session) => `${session.principal}/${session.userId}`)
        .sort();
      assert.deepEqual(mine, ['alice/alice', 'bob/bob', 'carol/carol']);
    } finally {
      certificate.remove();
    }
  });
}
