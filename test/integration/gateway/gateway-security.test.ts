// The gateway's security edges against in-repo Spark Connect servers: TLS termination, client
// authentication with the verified identity bound into every session, and a backend token that
// the servers get and the clients never see.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import tls from 'node:tls';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import {
  createClientAuthenticator,
  tokenFileLine,
  type ClientAuthenticator,
} from '../../../src/gateway/auth/client-auth.ts';
import { type Gateway, type GatewayOptions } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
import { encodeGrpcMessage } from '../../../src/gateway/wire/grpc-frame.ts';
import { PINNED_VARIANTS, RELAY_VARIANTS } from '../../support/relay-variants.ts';
import { gatewayChannels } from '../../../src/gateway/observability-channels.ts';
import {
  decodeConfigResponse,
  encodeConfigRequest,
  encodeExecutePlanRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { startTestGateway } from '../../support/test-gateway.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { makeTestCertificate, type TestCertificate } from '../../support/tls-cert.ts';

const SERVICE = '/spark.connect.SparkConnectService';
const SECRET = 'hs256-secret-for-the-gateway-tests-0123456789';

function config(
  session: http2.ClientHttp2Session,
  sessionId: string,
  options: { userId?: string; token?: string; keys?: string[] } = {},
): Promise<GrpcReply> {
  return grpcCall(
    session,
    `${SERVICE}/Config`,
    encodeConfigRequest({
      sessionId,
      userId: options.userId ?? 'someone',
      operation: { get: options.keys ?? ['spark.sql.shuffle.partitions'] },
    }),
    {
      timeoutMs: 5000,
      ...(options.token === undefined
        ? {}
        : { metadata: { authorization: `Bearer ${options.token}` } }),
    },
  );
}

function connect(
  url: string,
  options: http2.SecureClientSessionOptions = {},
): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on('error', () => undefined);
  return session;
}

/** Static tokens for alice and bob and the HS256 secret, in files under `dir` named by `prefix`. */
function testAuthenticator(dir: string, prefix: string): ClientAuthenticator {
  const tokensFile = join(dir, `${prefix}-tokens`);
  writeFileSync(
    tokensFile,
    `${tokenFileLine('alice', 'alice-token')}\n${tokenFileLine('bob', 'bob-token')}\n`,
  );
  const secretFile = join(dir, `${prefix}-secret`);
  writeFileSync(secretFile, SECRET);
  return createClientAuthenticator({ tokensFile, jwt: { hs256SecretFiles: [secretFile] } });
}

/** A JWT for carol, signed with the test secret, valid for 10 minutes. */
function carolJwt(): Promise<string> {
  return new SignJWT({ sub: 'carol' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
    .sign(new TextEncoder().encode(SECRET));
}

/** One call whose message goes in `parts`, `pauseMs` apart; resolves to its gRPC status. */
async function rawCall(
  session: http2.ClientHttp2Session,
  method: string,
  token: string,
  parts: readonly Buffer[],
  pauseMs: number,
): Promise<{ status: number; message: string }> {
  const stream = session.request({
    ':method': 'POST',
    ':path': `${SERVICE}/${method}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${token}`,
  });
  stream.on('error', () => undefined);
  let status = -1;
  let message = '';
  const read = (headers: http2.IncomingHttpHeaders): void => {
    if (headers['grpc-status'] !== undefined) status = Number(headers['grpc-status']);
    if (headers['grpc-message'] !== undefined)
      message = decodeURIComponent(String(headers['grpc-message']));
  };
  stream.on('response', read);
  stream.on('trailers', read);
  stream.resume();
  const closed = once(stream, 'close');
  for (const [index, part] of parts.entries()) {
    if (index > 0 && pauseMs > 0) await sleep(pauseMs);
    if (stream.destroyed || stream.closed) break;
    if (index === parts.length - 1) stream.end(part);
    else stream.write(part);
  }
  await closed;
  return { status, message };
}

describe('gateway security', () => {
  let fakes: FakeSparkConnect[] = [];
  let gateway: Gateway | undefined;
  const sessions: http2.ClientHttp2Session[] = [];
  let certificate: TestCertificate;
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-gw-security-'));

  const start = async (extra: Partial<GatewayOptions>): Promise<Gateway> => {
    gateway = await startTestGateway(fakes, extra);
    return gateway;
  };
  const open = (
    url: string,
    options?: http2.SecureClientSessionOptions,
  ): http2.ClientHttp2Session => {
    const session = connect(url, options);
    sessions.push(session);
    return session;
  };

  let baseline: ResourceCounts = new Map();
  before(async () => {
    baseline = activeResources();
    certificate = makeTestCertificate();
    fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
  });
  afterEach(async () => {
    for (const session of sessions.splice(0)) session.destroy();
    await gateway?.close(1000);
    gateway = undefined;
    for (const fake of fakes) fake.reset();
  });
  after(async () => {
    for (const fake of fakes) await fake.close();
    certificate.remove();
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeaked(baseline, 'the gateway security tests');
  });

  for (const variant of RELAY_VARIANTS)
    it(
      `terminates TLS with ALPN h2 and refuses cleartext on the TLS port without harm to others (--relay ${variant.name})`,
      variant.testOptions,
      async (t) => {
        const rejected: string[] = [];
        const stop = gatewayChannels.requestRejected.subscribe((event) => {
          rejected.push((event as { kind: string }).kind);
        });
        t.after(() => {
          stop();
        });
        const tlsGateway = await start({
          tls: { cert: certificate.cert, key: certificate.key },
          ...variant.options,
        });
        const url = `https://127.0.0.1:${String(tlsGateway.address.port)}`;
        const secure = open(url, { ca: certificate.cert });
        const sessionId = randomUUID();
        assert.equal((await config(secure, sessionId)).status, 0);

        const cleartext = open(`http://127.0.0.1:${String(tlsGateway.address.port)}`);
        const outcome = await config(cleartext, randomUUID()).then(
          (reply) => reply.status,
          (error: unknown) => String(error),
        );
        assert.notEqual(outcome, 0, 'a cleartext call on the TLS port gets no answer');

        const untrusting = open(url);
        const refused = await new Promise<Error>((resolve) => {
          untrusting.once('error', resolve);
        });
        assert.match(refused.message, /self-signed|certificate/i);

        // A TLS client that does not offer h2 is told what the port is.
        const http1 = tls.connect({
          host: '127.0.0.1',
          port: tlsGateway.address.port,
          ca: certificate.cert,
          servername: 'localhost',
        });
        http1.on('error', () => undefined);
        http1.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        let reply = '';
        http1.on('data', (chunk: Buffer) => {
          reply += chunk.toString('latin1');
        });
        await once(http1, 'close');
        assert.match(reply, /426 Upgrade Required[\s\S]*Spark Connect client/);

        assert.equal((await config(secure, sessionId)).status, 0, 'the TLS client is still served');
        assert.equal(tlsGateway.sessions.size, 1);
        assert.ok(rejected.includes('tls-handshake'), rejected.join(', '));
        assert.ok(rejected.includes('tls-not-h2'), rejected.join(', '));
      },
    );

  it('authenticates clients and binds each verified identity into its sessions', async () => {
    const auth = testAuthenticator(dir, 'terminate');
    const authGateway = await start({
      authenticate: (headers) => auth.authenticate(headers),
    });
    const session = open(`http://127.0.0.1:${String(authGateway.address.port)}`);

    const none = await config(session, randomUUID());
    assert.equal(none.status, 16);
    assert.match(none.message, /requires a bearer token .*;token=TOKEN/);
    const wrong = await config(session, randomUUID(), { token: 'mallory-token' });
    assert.equal(wrong.status, 16);
    assert.match(wrong.message, /not one of the gateway.s tokens/);
    assert.equal(authGateway.sessions.size, 0);
    assert.equal(fakes.flatMap((fake) => fake.calls).length, 0, 'nothing reached a server');

    // Alice and Bob both claim user id "admin" and the same session id.
    const shared = randomUUID();
    assert.equal(
      (await config(session, shared, { userId: 'admin', token: 'alice-token' })).status,
      0,
    );
    assert.equal(
      (await config(session, shared, { userId: 'admin', token: 'bob-token' })).status,
      0,
    );
    const jwt = await carolJwt();
    assert.equal((await config(session, shared, { userId: 'admin', token: jwt })).status, 0);
    const reply = await grpcCall(
      session,
      `${SERVICE}/ExecutePlan`,
      encodeExecutePlanRequest({ sessionId: shared, userId: 'admin', sql: 'SELECT 1' }),
      { timeoutMs: 5000, metadata: { authorization: 'Bearer alice-token' } },
    );
    assert.equal(reply.status, 0);

    const calls = fakes.flatMap((fake) => fake.calls).filter((call) => call.sessionId === shared);
    assert.deepEqual(
      calls.map((call) => call.userId).sort(),
      ['alice', 'alice', 'bob', 'carol'],
      'the servers see the verified identity as the user id, never the claimed one',
    );
    for (const call of calls)
      assert.equal(call.headers.authorization, undefined, 'client credentials stay at the gateway');
    const principals = authGateway.sessions
      .list()
      .map((binding) => `${binding.principal}/${binding.userId}`)
      .sort();
    assert.deepEqual(principals, ['alice/alice', 'bob/bob', 'carol/carol']);
  });

  for (const variant of PINNED_VARIANTS)
    it(
      `authenticates clients on pinned connections, where the user id must be the identity (--relay ${variant.name})`,
      variant.testOptions,
      async () => {
        const auth = testAuthenticator(dir, 'pinned');
        let authDelayMs = 0;
        const pinned = await start({
          ...variant.options,
          authenticate: async (headers) => {
            const principal = await auth.authenticate(headers);
            if (authDelayMs > 0) await sleep(authDelayMs);
            return principal;
          },
        });
        const url = `http://127.0.0.1:${String(pinned.address.port)}`;
        const session = open(url);
        const reached = (): string[] =>
          fakes.flatMap((fake) => fake.calls).map((call) => `${call.userId}/${call.sessionId}`);

        const none = await config(session, randomUUID(), { userId: 'alice' });
        assert.equal(none.status, 16);
        assert.match(none.message, /requires a bearer token .*;token=TOKEN/);
        const wrong = await config(session, randomUUID(), {
          userId: 'alice',
          token: 'mallory-token',
        });
        assert.equal(wrong.status, 16);
        const claimed = await config(session, randomUUID(), {
          userId: 'admin',
          token: 'alice-token',
        });
        assert.equal(claimed.status, 7, 'PERMISSION_DENIED');
        assert.match(
          claimed.message,
          /user_id "admin" but the caller authenticated as "alice".*user_id=alice .*--relay terminate/,
        );
        assert.deepEqual(reached(), [], 'nothing reached a server');

        // Alice and Bob use the same session id: two sessions, each its owner's.
        const shared = randomUUID();
        assert.equal(
          (await config(session, shared, { userId: 'alice', token: 'alice-token' })).status,
          0,
        );
        const bobs = open(url);
        assert.equal((await config(bobs, shared, { userId: 'bob', token: 'bob-token' })).status, 0);
        const jwt = await carolJwt();
        const carols = open(url);
        assert.equal((await config(carols, shared, { userId: 'carol', token: jwt })).status, 0);
        const calls = fakes.flatMap((fake) => fake.calls);
        assert.deepEqual(calls.map((call) => call.userId).sort(), ['alice', 'bob', 'carol']);
        for (const call of calls)
          assert.equal(
            call.headers.authorization,
            undefined,
            'client credentials stay at the gateway',
          );
        assert.deepEqual(
          pinned.sessions
            .list()
            .map((binding) => `${binding.principal}/${binding.userId}`)
            .sort(),
          ['alice/alice', 'bob/bob', 'carol/carol'],
        );

        // A first message over 256 KiB is routed once its user_context is read; one more
        // user_context at its end (protobuf merges them: the server would read user_id "bob") is
        // caught before the message is complete at the server: after the call was forwarded (the
        // rest at once, or 300 ms later), or before, when the verification took longer than the
        // whole message.
        for (const [pauseMs, delayMs] of [
          [0, 0],
          [300, 0],
          [0, 300],
        ] as const) {
          authDelayMs = delayMs;
          const sessionId = randomUUID();
          const body = encodeExecutePlanRequest({
            sessionId,
            userId: 'alice',
            sql: `SELECT '${'x'.repeat(300 * 1024)}'`,
          });
          const bob = Buffer.from('bob');
          const extra = Buffer.from([0x12, bob.length + 2, 0x0a, bob.length, ...bob]);
          const message = encodeGrpcMessage(Buffer.concat([body, extra]));
          const cut = message.length - extra.length - 1024;
          // A connection of its own: a new session may be placed on the other server, and a pinned
          // connection whose calls go to two servers is sent away (GOAWAY), as gRPC clients retry.
          const reply = await rawCall(
            open(url),
            'ExecutePlan',
            'alice-token',
            [message.subarray(0, cut), message.subarray(cut)],
            pauseMs,
          );
          assert.equal(
            reply.status,
            7,
            `PERMISSION_DENIED (${String(pauseMs)}, ${String(delayMs)} ms)`,
          );
          assert.match(reply.message, /user_id "bob" but the caller authenticated as "alice"/);
          assert.ok(
            !reached().some((call) => call.endsWith(sessionId)),
            'the server never got the whole message',
          );
        }
        authDelayMs = 0;
        assert.equal(
          (await config(session, shared, { userId: 'alice', token: 'alice-token' })).status,
          0,
        );
      },
    );

  for (const variant of RELAY_VARIANTS)
    it(
      `injects the backend token and keeps it out of every reply (--relay ${variant.name})`,
      variant.testOptions,
      async () => {
        const token = 'backend-token-0123456789abcdef';
        const guarded = [
          await startFakeSparkConnect({ requireToken: token }),
          await startFakeSparkConnect({ requireToken: token }),
        ];
        const saved = fakes;
        fakes = guarded;
        try {
          const guardedGateway = await start({ backendToken: token, ...variant.options });
          assert.ok(
            guardedGateway.pool.list().every((backend) => backend.health === 'up'),
            'health probes carry the token',
          );
          const session = open(`http://127.0.0.1:${String(guardedGateway.address.port)}`);
          const sessionId = randomUUID();
          for (const fake of guarded)
            fake.extraConf = { 'spark.connect.authenticate.token': token, after: `x${token}y` };
          const readToken = async (): Promise<void> => {
            // The client's own credentials are replaced by the server's token.
            const reply = await config(session, sessionId, {
              keys: ['spark.connect.authenticate.token'],
              token: 'whatever-the-client-has',
            });
            assert.equal(reply.status, 0, reply.message);
            const body = Buffer.concat(reply.messages);
            assert.ok(!body.includes(token), 'the token is not in the reply');
            const pairs = decodeConfigResponse(body).pairs;
            const value = (key: string): string | undefined =>
              pairs.find((pair) => pair.key === key)?.value;
            assert.equal(value('spark.connect.authenticate.token'), '*'.repeat(token.length));
            assert.equal(value('after'), `x${'*'.repeat(token.length)}y`);
          };
          await readToken();
          // The reply in pieces of 7 bytes, each its own DATA frame: the token is cut five times.
          for (const fake of guarded) fake.replyPieceBytes = 7;
          await readToken();
          for (const fake of guarded) fake.replyPieceBytes = 0;
          const atServer = guarded.flatMap((fake) => fake.calls).at(-1);
          assert.equal(atServer?.headers['grpc-accept-encoding'], 'identity');

          // Twice: the server's HPACK encoder sends the second message as a table reference.
          // The details (a google.rpc.Status) are base64 on the wire: masked in their bytes.
          const details = Buffer.from(`\x08\x03\x12\x1cbad conf: token=${token}`, 'latin1');
          for (const fake of guarded)
            fake.failWith = { status: 3, message: `bad conf: token=${token}`, details };
          for (let round = 0; round < 2; round++) {
            const failed = await config(session, sessionId);
            assert.equal(failed.status, 3);
            assert.ok(!failed.message.includes(token));
            assert.match(failed.message, /token=\*+/);
            // Trailers-only: the status comes with the response headers.
            const sent = Buffer.from(String(failed.headers['grpc-status-details-bin']), 'base64');
            assert.equal(sent.length, details.length);
            assert.ok(!sent.includes(token), 'the token is not in the details');
            assert.match(sent.toString('latin1'), /token=\*{30}$/);
          }
          for (const fake of guarded) fake.failWith = undefined;
          assert.equal((await config(session, sessionId)).status, 0, 'the connection goes on');
        } finally {
          fakes = saved;
          await gateway?.close(1000);
          gateway = undefined;
          for (const fake of guarded) await fake.close();
        }
      },
    );
});
