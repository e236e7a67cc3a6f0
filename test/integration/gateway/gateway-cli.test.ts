// The operator's gateway commands against a running gateway and its admin API: backends lists the
// servers, drain --wait returns once the server's last session has ended (or fails when its
// timeout passes first), undrain takes it back, token makes a line the gateway accepts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { gatewayCommand } from '../../../src/cli/commands/gateway.ts';
import { runCli } from '../../../src/cli/program.ts';
import { createAdminServer, type AdminServer } from '../../../src/core/admin-server.ts';
import { createMetrics } from '../../../src/core/metrics.ts';
import { gatewayAdminRoutes } from '../../../src/gateway/admin-api.ts';
import { createClientAuthenticator, tokenFileLine } from '../../../src/gateway/auth/client-auth.ts';
import { createAdminAuthenticator } from '../../../src/core/admin-auth.ts';
import { startGateway, type Gateway } from '../../../src/gateway/gateway-server.ts';
import { grpcCall } from '../../../src/gateway/proxy/grpc-call.ts';
import {
  encodeConfigRequest,
  encodeReleaseSessionRequest,
} from '../../../src/gateway/wire/spark-connect-codecs.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SERVICE = '/spark.connect.SparkConnectService';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, [gatewayCommand], {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env: {},
    isTty: false,
  });
  return { code, out, err };
}

describe('sparkplane gateway backends / drain / undrain / token', () => {
  let baseline: ResourceCounts = new Map();
  let fakes: FakeSparkConnect[] = [];
  let gateway: Gateway;
  let admin: AdminServer;
  let adminUrl = '';
  let client: http2.ClientHttp2Session;
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-gw-cli-'));

  const call = (method: string, body: Uint8Array): Promise<number> =>
    grpcCall(client, `${SERVICE}/${method}`, body, { timeoutMs: 5000 }).then(
      (reply) => reply.status,
    );
  const open = (sessionId: string): Promise<number> =>
    call('Config', encodeConfigRequest({ sessionId, userId: 'u', operation: { get: ['x'] } }));
  const release = (sessionId: string): Promise<number> =>
    call('ReleaseSession', encodeReleaseSessionRequest({ sessionId, userId: 'u' }));

  before(async () => {
    baseline = activeResources();
    fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      backends: fakes.map((fake) => ({ host: '127.0.0.1', port: fake.port })),
      health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
    });
    await gateway.pool.checkAll();
    admin = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics(),
      routes: gatewayAdminRoutes(gateway),
    });
    const address = await admin.listen();
    adminUrl = `http://127.0.0.1:${String(address.port)}`;
    client = http2.connect(`http://127.0.0.1:${String(gateway.address.port)}`);
    client.on('error', () => undefined);
  });
  after(async () => {
    client.destroy();
    await admin.close(1000);
    await gateway.close(1000);
    for (const fake of fakes) await fake.close();
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeaked(baseline, 'the gateway CLI tests');
  });

  it('drains a server, waits for its last session, and undrains it', async () => {
    const ids = Array.from({ length: 4 }, (): string => randomUUID());
    for (const id of ids) assert.equal(await open(id), 0);
    const target = `127.0.0.1:${String(fakes[0]?.port)}`;
    const onTarget = gateway.sessions
      .list()
      .filter((binding) => binding.backend === target)
      .map((binding) => binding.sessionId);
    assert.equal(onTarget.length, 2);

    const listed = await cli(['gateway', 'backends', '--admin-url', adminUrl]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^SERVER\s+HEALTH\s+STATE\s+SESSIONS\s+APPLICATION$/m);
    assert.match(
      listed.out,
      new RegExp(`^${target.replace(/\./g, '\\.')}\\s+up\\s+active\\s+2\\s+local-`, 'm'),
    );

    const waiting = cli([
      'gateway',
      'drain',
      target,
      '--admin-url',
      adminUrl,
      '--wait',
      '--timeout',
      '20s',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // New sessions avoid the draining server; its own sessions keep working.
    const fresh = randomUUID();
    assert.equal(await open(fresh), 0);
    assert.notEqual(gateway.sessions.list().find((b) => b.sessionId === fresh)?.backend, target);
    for (const id of onTarget)
      assert.equal(await open(id), 0, 'a session of a draining server is served');
    for (const id of onTarget) assert.equal(await release(id), 0);
    const drained = await waiting;
    assert.equal(drained.code, 0, drained.err);
    assert.match(drained.out, /draining; 2 sessions left/);
    assert.match(drained.out, /drained, no sessions left; safe to stop/);

    const json = await cli(['gateway', 'backends', '--admin-url', adminUrl, '--json']);
    const backends = (JSON.parse(json.out) as { backends: { id: string; drained: boolean }[] })
      .backends;
    assert.equal(backends.find((backend) => backend.id === target)?.drained, true);

    const undrained = await cli(['gateway', 'undrain', target, '--admin-url', adminUrl]);
    assert.equal(undrained.code, 0, undrained.err);
    assert.match(undrained.out, /takes new sessions again/);
    assert.equal(gateway.pool.get(target)?.draining, false);
  });

  it('gives up when the timeout passes, names unknown servers, and says when the admin port is not there', async () => {
    const target = `127.0.0.1:${String(fakes[1]?.port)}`;
    const stuck = randomUUID();
    assert.equal(await open(stuck), 0);
    const late = await cli([
      'gateway',
      'drain',
      target,
      '--admin-url',
      adminUrl,
      '--wait',
      '--timeout',
      '1s',
    ]);
    assert.equal(late.code, 1);
    assert.match(late.err, /still \d+ sessions? after 1s/);
    await cli(['gateway', 'undrain', target, '--admin-url', adminUrl]);

    const unknown = await cli(['gateway', 'drain', '127.0.0.1:1', '--admin-url', adminUrl]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /no backend 127\.0\.0\.1:1; GET .*backends lists them/);

    const nobody = await cli(['gateway', 'backends', '--admin-url', 'http://127.0.0.1:9']);
    assert.equal(nobody.code, 3);
    assert.match(nobody.err, /cannot reach the gateway's admin API at http:\/\/127\.0\.0\.1:9/);

    const missing = await cli(['gateway', 'drain', '--admin-url', adminUrl]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /name the Spark Connect server, as HOST:PORT/);
  });

  it('makes tokens whose line the gateway accepts', async () => {
    const made = await cli(['gateway', 'token', 'alice']);
    assert.equal(made.code, 0, made.err);
    const token = /^ {2}(spgw_\S+)$/m.exec(made.out)?.[1];
    const line = /^ {2}(alice sha256:[0-9a-f]{64})$/m.exec(made.out)?.[1];
    assert.ok(token !== undefined && line !== undefined, made.out);
    const tokensFile = join(dir, 'tokens');
    writeFileSync(tokensFile, `${line}\n`);
    const auth = createClientAuthenticator({ tokensFile });
    assert.equal(await auth.authenticate({ authorization: `Bearer ${token}` }), 'alice');

    const bad = await cli(['gateway', 'token', 'a b']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /cannot name a user: it has spaces/);
  });
});

describe('sparkplane gateway backends / drain against an admin port with credentials', () => {
  let baseline: ResourceCounts = new Map();
  let fake: FakeSparkConnect;
  let gateway: Gateway;
  let admin: AdminServer;
  let adminUrl = '';
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-gw-cli-auth-'));
  const token = `spgw_${randomUUID()}`;

  before(async () => {
    baseline = activeResources();
    fake = await startFakeSparkConnect();
    gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      backends: [{ host: '127.0.0.1', port: fake.port }],
      health: { intervalMs: 100, timeoutMs: 500, fall: 2, rise: 2 },
    });
    await gateway.pool.checkAll();
    const authFile = join(dir, 'admin-tokens');
    writeFileSync(authFile, `${tokenFileLine('ops', token)}\n`);
    admin = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics: createMetrics(),
      auth: createAdminAuthenticator(authFile),
      routes: gatewayAdminRoutes(gateway),
    });
    adminUrl = `http://127.0.0.1:${String((await admin.listen()).port)}`;
  });
  after(async () => {
    await admin.close(1000);
    await gateway.close(1000);
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeaked(baseline, 'the gateway CLI tests with admin credentials');
  });

  it('sends the token of --admin-token-file, and says what to do without it', async () => {
    const refused = await cli(['gateway', 'backends', '--admin-url', adminUrl]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /the gateway refused GET .*\/api\/gateway\/backends \(401\)/);
    assert.match(refused.err, /requires credentials: give --admin-token-file FILE with a token/);

    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `# made by sparkplane gateway token ops\n${token}\n`);
    const listed = await cli([
      'gateway',
      'backends',
      '--admin-url',
      adminUrl,
      '--admin-token-file',
      tokenFile,
    ]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`127\\.0\\.0\\.1:${String(fake.port)}\\s+up`));

    const target = `127.0.0.1:${String(fake.port)}`;
    const drained = await cli([
      'gateway',
      'drain',
      target,
      '--admin-url',
      adminUrl,
      '--admin-token-file',
      tokenFile,
    ]);
    assert.equal(drained.code, 0, drained.err);
    assert.equal(gateway.pool.get(target)?.draining, true);

    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n# nothing\n');
    const bad = await cli([
      'gateway',
      'backends',
      '--admin-url',
      adminUrl,
      '--admin-token-file',
      empty,
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--admin-token-file .*empty holds no token/);
  });
});
