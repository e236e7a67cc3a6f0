// `--admin-auth-file` on the real commands in child processes: `sparkplane shuffle` and
// `sparkplane gateway` ask for credentials on their admin port, serve their own dashboard
// section, log changes with the principal, and re-read the file on SIGHUP (keeping the old
// credentials when the new file is broken). Each child is stopped by its pid.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newToken, tokenFileLine } from '../../../src/core/tokens-file.ts';
import { runSparkplane } from '../../support/sparkplane-cli.ts';
import { freePort, startService, type RunningService } from '../../support/sparkplane-service.ts';

const alice = newToken();
const bob = newToken();
const dir = mkdtempSync(join(tmpdir(), 'sparkplane-admin-cli-'));
const credentials = join(dir, 'admins');

const basic = (user: string, token: string): string =>
  `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

/** Status of GET `path` on the admin port with these credentials. */
async function statusOf(service: RunningService, path: string, auth?: string): Promise<number> {
  const reply = await fetch(`http://127.0.0.1:${String(service.adminPort)}${path}`, {
    headers: auth === undefined ? {} : { authorization: auth },
  });
  await reply.arrayBuffer();
  return reply.status;
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

describe('--admin-auth-file on the commands', () => {
  let running: RunningService | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('sparkplane shuffle: credentials on the metrics port, its dashboard, SIGHUP reload', async () => {
    writeFileSync(credentials, `${tokenFileLine('alice', alice)}\n`);
    running = await startService('shuffle', [
      '--host=127.0.0.1',
      `--port=${String(await freePort())}`,
      '--metrics-port=0',
      `--allowed-root=${dir}`,
      `--admin-auth-file=${credentials}`,
    ]);
    const service = running;
    assert.equal(await statusOf(service, '/healthz'), 200);
    assert.equal(await statusOf(service, '/metrics'), 401);
    assert.equal(await statusOf(service, '/metrics', `Bearer ${alice}`), 200);
    const page = await fetch(`http://127.0.0.1:${String(service.adminPort)}/dashboard`, {
      headers: { authorization: basic('alice', alice) },
    });
    const text = await page.text();
    assert.match(text, /<h2>Shuffle service<\/h2>/);
    assert.doesNotMatch(text, /id="gateway"/, 'no gateway in a shuffle-only process');

    writeFileSync(credentials, `${tokenFileLine('bob', bob)}\n`);
    process.kill(service.pid, 'SIGHUP');
    await waitFor(
      async () => (await statusOf(service, '/metrics', basic('bob', bob))) === 200,
      'bob let in after SIGHUP',
    );
    assert.equal(await statusOf(service, '/metrics', `Bearer ${alice}`), 401);
    assert.match(service.log(), /reloaded the admin credentials \(SIGHUP\)/);

    const removed = await fetch(
      `http://127.0.0.1:${String(service.adminPort)}/api/shuffle/apps/app-1/remove`,
      { method: 'POST', headers: { authorization: `Bearer ${bob}` } },
    );
    assert.equal(removed.status, 200);
    await waitFor(
      () =>
        Promise.resolve(
          service.log().includes('admin change by bob: POST /api/shuffle/apps/app-1/remove'),
        ),
      'the change logged with its principal',
    );

    writeFileSync(credentials, 'bob not-a-hash\n');
    process.kill(service.pid, 'SIGHUP');
    await waitFor(
      () => Promise.resolve(service.log().includes('the admin credentials did not reload')),
      'the failed reload logged',
    );
    assert.equal(await statusOf(service, '/metrics', `Bearer ${bob}`), 200, 'bob still in');
  });

  it('sparkplane gateway: credentials on the admin port and a gateway-only dashboard', async () => {
    writeFileSync(credentials, `${tokenFileLine('alice', alice)}\n`);
    running = await startService('gateway', [
      '--host=127.0.0.1',
      `--port=${String(await freePort())}`,
      '--admin-port=0',
      `--admin-auth-file=${credentials}`,
    ]);
    const service = running;
    assert.equal(await statusOf(service, '/'), 401);
    const page = await fetch(`http://127.0.0.1:${String(service.adminPort)}/`, {
      headers: { authorization: basic('alice', alice) },
    });
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.match(text, /<h2>Gateway · Spark Connect servers<\/h2>/);
    assert.doesNotMatch(text, /id="shuffle"/, 'no shuffle section in a gateway-only process');
    assert.match(service.log(), /admin credentials required/);
  });

  it('sparkplane shuffle refuses --admin-auth-file without an admin port, saying why', async () => {
    writeFileSync(credentials, `${tokenFileLine('alice', alice)}\n`);
    const run = await runSparkplane([
      'shuffle',
      `--allowed-root=${dir}`,
      `--admin-auth-file=${credentials}`,
    ]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /--admin-auth-file protects the admin port, which is off; give --metrics-port/,
    );
  });

  it('refuses to start on a malformed credentials file, naming the line', async () => {
    writeFileSync(credentials, `# admins\nalice sha256:abc\n`);
    const run = await runSparkplane([
      'gateway',
      '--host=127.0.0.1',
      `--port=${String(await freePort())}`,
      '--admin-port=0',
      `--admin-auth-file=${credentials}`,
    ]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, new RegExp(`${credentials} line 2: expected "PRINCIPAL sha256:HEX"`));
  });
});
