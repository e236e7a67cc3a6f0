// Admin authentication on a real admin server in front of a real gateway: what needs credentials
// and what does not, how refusals look to a browser and to a script, changes logged with their
// principal, changes from another site refused, and credentials re-read in place.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  createAdminAuthenticator,
  subscribeAdminLogs,
  type AdminAuthenticator,
} from '../../../src/core/admin-auth.ts';
import { createAdminServer, type AdminServer } from '../../../src/core/admin-server.ts';
import { createLogger } from '../../../src/core/logging.ts';
import { createMetrics, type Metrics } from '../../../src/core/metrics.ts';
import { newToken, tokenFileLine } from '../../../src/core/tokens-file.ts';
import { gatewayAdminRoutes } from '../../../src/gateway/admin-api.ts';
import type { Gateway } from '../../../src/gateway/gateway-server.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { startTestGateway } from '../../support/test-gateway.ts';

const alice = newToken();
const bob = newToken();

const basic = (user: string, token: string): string =>
  `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

describe('admin port with --admin-auth-file', () => {
  let baseline: ResourceCounts = new Map();
  let dir = '';
  let file = '';
  let fake: FakeSparkConnect | undefined;
  let gateway: Gateway | undefined;
  let metrics: Metrics | undefined;
  let admin: AdminServer | undefined;
  let auth: AdminAuthenticator | undefined;
  let base = '';
  let backendId = '';
  const logLines: string[] = [];
  const draining = (): boolean | undefined => gateway?.pool.get(backendId)?.draining;
  let stopLogs: (() => void) | undefined;

  before(async () => {
    baseline = activeResources();
    dir = mkdtempSync(join(tmpdir(), 'sparkplane-admin-auth-'));
    file = join(dir, 'admins');
    writeFileSync(file, `${tokenFileLine('alice', alice)}\n`);
    auth = createAdminAuthenticator(file);
    fake = await startFakeSparkConnect();
    gateway = await startTestGateway([fake]);
    backendId = `127.0.0.1:${String(fake.port)}`;
    metrics = createMetrics();
    const logger = createLogger({
      level: 'info',
      format: 'json',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(chunk.toString('utf8'));
          done();
        },
      }),
    });
    stopLogs = subscribeAdminLogs(logger);
    admin = createAdminServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      auth,
      routes: gatewayAdminRoutes(gateway),
    });
    base = `http://127.0.0.1:${String((await admin.listen()).port)}`;
  });

  after(async () => {
    stopLogs?.();
    await admin?.close(1000);
    metrics?.close();
    await gateway?.close(1000);
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
    await assertNothingLeaked(baseline, 'the admin auth tests');
  });

  it('leaves /healthz open and asks for credentials everywhere else, unknown paths too', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    for (const path of ['/metrics', '/api/gateway/backends', '/no-such-page']) {
      const reply = await fetch(`${base}${path}`);
      assert.equal(reply.status, 401, path);
      assert.equal(
        reply.headers.get('www-authenticate'),
        'Basic realm="sparkplane admin", charset="UTF-8"',
      );
      const body = (await reply.json()) as { error: string };
      assert.match(body.error, /^sparkplane admin: the admin port requires credentials/);
      assert.doesNotMatch(body.error, /routes:/, 'no route list before authentication');
    }
  });

  it('lets Prometheus in with a Bearer token and a browser with Basic', async () => {
    const scraped = await fetch(`${base}/metrics`, {
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(scraped.status, 200);
    assert.match(await scraped.text(), /sparkplane_admin_requests_total/);
    const listed = await fetch(`${base}/api/gateway/backends`, {
      headers: { authorization: basic('alice', alice) },
    });
    assert.equal(listed.status, 200);
    const { backends } = (await listed.json()) as { backends: { id: string }[] };
    assert.deepEqual(
      backends.map((backend) => backend.id),
      [backendId],
    );
  });

  it('shows a browser a 401 page it can read, escaped and under a CSP', async () => {
    const reply = await fetch(`${base}/metrics`, {
      headers: { accept: 'text/html', authorization: basic('alice<b>', 'wrong') },
    });
    assert.equal(reply.status, 401);
    assert.equal(reply.headers.get('content-security-policy'), "default-src 'none'");
    const page = await reply.text();
    assert.match(page, /<h1>Login required<\/h1>/);
    assert.match(page, /Basic token is not one of the admin port&#39;s credentials/);
  });

  it('logs a change with the principal that made it', async () => {
    logLines.length = 0;
    const reply = await fetch(`${base}/api/gateway/backends/${backendId}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(reply.status, 200);
    assert.equal(draining(), true);
    const line = logLines.find((text) => text.includes('admin change by alice'));
    assert.ok(line, `no change line among: ${logLines.join('')}`);
    const entry = JSON.parse(line) as Record<string, unknown>;
    assert.equal(entry.principal, 'alice');
    assert.equal(entry.path, `/api/gateway/backends/${backendId}/drain`);
    assert.equal(entry.status, 200);
    await fetch(`${base}/api/gateway/backends/${backendId}/undrain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}` },
    });
    assert.equal(draining(), false);
  });

  it('refuses a change another site’s page sends with the browser’s credentials', async () => {
    for (const headers of [
      { origin: 'http://evil.example' },
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'null' },
    ]) {
      const reply = await fetch(`${base}/api/gateway/backends/${backendId}/drain`, {
        method: 'POST',
        headers: { authorization: basic('alice', alice), ...headers },
      });
      assert.equal(reply.status, 403, JSON.stringify(headers));
      assert.match(((await reply.json()) as { error: string }).error, /dashboard on this port/);
    }
    assert.equal(draining(), false, 'nothing drained');
  });

  it('takes new credentials on reload and drops removed ones', async () => {
    const asBob = { authorization: basic('bob', bob) };
    assert.equal((await fetch(`${base}/metrics`, { headers: asBob })).status, 401);
    writeFileSync(file, `${tokenFileLine('bob', bob)}\n`);
    auth?.reload();
    assert.equal((await fetch(`${base}/metrics`, { headers: asBob })).status, 200);
    const asAlice = { authorization: `Bearer ${alice}` };
    assert.equal((await fetch(`${base}/metrics`, { headers: asAlice })).status, 401);
    writeFileSync(file, `${tokenFileLine('alice', alice)}\n`);
    auth?.reload();
  });
});
