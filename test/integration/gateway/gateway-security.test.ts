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
import { SignJWT } from 'jose';
import { createClientAuthenticator, tokenFileLine } from '../../../src/gateway/auth/client-auth.ts';
import { type Gateway, type GatewayOptions } from '../../../src/gateway/gateway-server.ts';
import { grpcCall, type GrpcReply } from '../../../src/gateway/proxy/grpc-call.ts';
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

  for (const relay of ['terminate', 'pinned'] as const)
    it(`terminates TLS with ALPN h2 and refuses cleartext on the TLS port without harm to others (--relay ${relay})`, async (t) => {
      const rejected: string[] = [];
      const stop = gatewayChannels.requestRejected.subscribe((event) => {
        rejected.push((event as { kind: string }).kind);
      });
      t.after(() => {
        stop();
      });
      const tlsGateway = await start({
        tls: { cert: certificate.cert, key: certificate.key },
        relay,
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
    });

  it('authenticates clients and binds each verified identity into its sessions', async () => {
    const tokensFile = join(dir, 'tokens');
    writeFileSync(
      tokensFile,
      `${tokenFileLine('alice', 'alice-token')}\n${tokenFileLine('bob', 'bob-token')}\n`,
    );
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, SECRET);
    const auth = createClientAuthenticator({
      tokensFile,
      jwt: { hs256SecretFiles: [secretFile] },
    });
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
    const jwt = await new SignJWT({ sub: 'carol' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(new TextEncoder().encode(SECRET));
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

  it('injects the backend token and keeps it out of every reply', async () => {
    const token = 'backend-token-0123456789abcdef';
    const guarded = [
      await startFakeSparkConnect({ requireToken: token }),
      await startFakeSparkConnect({ requireToken: token }),
    ];
    const saved = fakes;
    fakes = guarded;
    try {
      const guardedGateway = await start({ backendToken: token });
      assert.ok(
        guardedGateway.pool.list().every((backend) => backend.health === 'up'),
        'health probes carry the token',
      );
      const session = open(`http://127.0.0.1:${String(guardedGateway.address.port)}`);
      const sessionId = randomUUID();
      for (const fake of guarded) fake.extraConf = { 'spark.connect.authenticate.token': token };
      const reply = await config(session, sessionId, {
        keys: ['spark.connect.authenticate.token'],
      });
      assert.equal(reply.status, 0);
      const body = Buffer.concat(reply.messages);
      assert.ok(!body.includes(token), 'the token is not in the reply');
      const pairs = decodeConfigResponse(body).pairs;
      assert.equal(
        pairs.find((pair) => pair.key === 'spark.connect.authenticate.token')?.value,
        '*'.repeat(token.length),
      );

      for (const fake of guarded)
        fake.failWith = { status: 3, message: `bad conf: token=${token}` };
      const failed = await config(session, sessionId);
      assert.equal(failed.status, 3);
      assert.ok(!failed.message.includes(token));
      assert.match(failed.message, /token=\*+/);
    } finally {
      fakes = saved;
      await gateway?.close(1000);
      gateway = undefined;
      for (const fake of guarded) await fake.close();
    }
  });
});
