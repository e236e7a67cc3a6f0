// The dashboard over HTTP on a real admin server in front of a real gateway and shuffle service:
// what it shows, that hostile values stay text, its CSP, the capped tables, and the drain form
// with its anti-forgery token. The browser test (dashboard-browser.test.ts) clicks through it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { startDashboardRig, type DashboardRig } from './dashboard-rig.ts';

const basic = (user: string, token: string): string =>
  `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms: ${what}`);
    await sleep(20);
  }
}

/** The page with the whitespace between and around tags gone, so markup layout does not matter. */
function squash(page: string): string {
  return page
    .replace(/>\s+/g, '>')
    .replace(/\s+</g, '<')
    .replace(/\s+(\/?>)/g, '$1')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The drain or undrain form of a backend on the page: its action path and token. */
function formOf(page: string, backendId: string): { action: string; csrf: string } {
  const row = page.split('<tr data-backend=').find((part) => part.startsWith(`"${backendId}"`));
  const match =
    /<form method="post" action="([^"]+)"><input type="hidden" name="csrf" value="([^"]+)" ?\/?>/.exec(
      row ?? '',
    );
  if (match?.[1] === undefined || match[2] === undefined)
    assert.fail(`no form for ${backendId} on the page`);
  return { action: match[1], csrf: match[2] };
}

describe('dashboard over HTTP', () => {
  let baseline: ResourceCounts = new Map();
  let rig: DashboardRig;
  let auth = '';
  let backendIds: string[] = [];
  const get = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${rig.base}${path}`, { headers: { authorization: auth, ...headers } });
  const text = async (reply: Response | Promise<Response>): Promise<string> =>
    squash(await (await reply).text());

  before(async () => {
    baseline = activeResources();
    rig = await startDashboardRig();
    auth = basic('alice', rig.aliceToken);
    backendIds = rig.fakes.map((fake) => `127.0.0.1:${String(fake.port)}`);
  });

  after(async () => {
    await rig.close();
    await assertNothingLeaked(baseline, 'the dashboard HTTP tests');
  });

  it('asks for a login at / and /dashboard and shows the page once given one', async () => {
    for (const path of ['/', '/dashboard', '/dashboard/']) {
      const refused = await fetch(`${rig.base}${path}`, { headers: { accept: 'text/html' } });
      assert.equal(refused.status, 401, path);
      assert.match(await refused.text(), /Login required/);
      const reply = await get(path);
      assert.equal(reply.status, 200, path);
      assert.equal(reply.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(
        await text(reply),
        /signed in as ?<strong data-testid="principal">alice<\/strong>/,
      );
    }
  });

  it('shows servers, sessions and what the shuffle service served', async () => {
    await rig.openSession('carol');
    await rig.openSession('dave');
    await rig.serveShuffle('app-20261121000000-0001', 4, 1000);
    const page = await text(get('/dashboard'));
    for (const id of backendIds) assert.match(page, new RegExp(`<tr data-backend="${id}">`));
    assert.equal(page.match(/data-testid="health">up</g)?.length, 2);
    assert.equal(page.match(/data-testid="state">serving</g)?.length, 2);
    assert.match(page, /<td>carol<\/td><td>carol<\/td>/, 'user and principal of a session');
    assert.match(page, /<td>dave<\/td>/);
    assert.match(page, /data-testid="shuffle-apps">1</);
    assert.match(page, /data-testid="shuffle-executors">1</);
    assert.match(page, /data-testid="shuffle-blocks">4</);
    assert.match(page, /data-testid="shuffle-bytes">3\.9 KiB</);
    assert.match(page, /<tr data-app="app-20261121000000-0001">/);
  });

  it('allows only its own nonce-tagged script and style, and loads nothing from elsewhere', async () => {
    const reply = await get('/dashboard');
    const csp = reply.headers.get('content-security-policy') ?? '';
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce !== undefined, csp);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /form-action 'self'/);
    const page = await reply.text();
    assert.equal(page.match(/<script/g)?.length, 1);
    assert.match(page, new RegExp(`<script nonce="${nonce.replace(/[+/]/g, '\\$&')}">`));
    assert.match(page, new RegExp(`<style nonce="${nonce.replace(/[+/]/g, '\\$&')}">`));
    assert.doesNotMatch(page, /(src|href)="(https?:)?\/\//, 'no external asset');
    assert.equal(reply.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(reply.headers.get('cache-control'), 'no-store');
    const second = (await get('/dashboard')).headers.get('content-security-policy');
    assert.notEqual(second, csp, 'a fresh nonce per page');
  });

  it('shows what users and servers send as text, never as markup', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    await rig.openSession(hostile);
    const [first] = rig.fakes;
    assert.ok(first !== undefined);
    first.failWith = { status: 14, message: '<script>alert("down")</script>' };
    try {
      await waitUntil(
        () => rig.gateway.pool.get(backendIds[0] ?? '')?.health === 'down',
        'the first server marked down',
      );
      const page = await text(get('/dashboard'));
      assert.ok(!page.includes(hostile), 'the user name is escaped');
      assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'));
      assert.ok(!page.includes('<script>alert'), 'the down reason is escaped');
      assert.match(page, /&lt;script&gt;alert\(&quot;down&quot;\)&lt;\/script&gt;/);
      assert.match(page, /data-testid="health">down</);
    } finally {
      first.failWith = undefined;
    }
    await waitUntil(
      () => rig.gateway.pool.get(backendIds[0] ?? '')?.health === 'up',
      'the first server back up',
    );
  });

  it('serves the live fragment alone for the refresh script', async () => {
    const reply = await get('/dashboard/live');
    assert.equal(reply.status, 200);
    const fragment = await text(reply);
    assert.match(fragment, /^<section id="gateway"/);
    assert.doesNotMatch(fragment, /<html|<script/);
    assert.match(reply.headers.get('content-security-policy') ?? '', /script-src 'none'/);
  });

  it('drains and undrains from the form, then shows what happened; the API agrees', async () => {
    const id = backendIds[1] ?? '';
    const page = await text(get('/dashboard'));
    const { action, csrf } = formOf(page, id);
    assert.equal(action, `/dashboard/backends/${encodeURIComponent(id)}/drain`);
    const posted = await fetch(`${rig.base}${action}`, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        authorization: auth,
        origin: rig.base,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ csrf }).toString(),
    });
    assert.equal(posted.status, 303);
    const location = posted.headers.get('location') ?? '';
    assert.match(location, /^\/dashboard\?notice=[\w-]+$/);
    const after = await text(get(location));
    assert.match(after, /data-testid="notice">127\.0\.0\.1:\d+ (drained|draining) by alice/);
    const api = (await (await get('/api/gateway/backends')).json()) as {
      backends: { id: string; draining: boolean }[];
    };
    assert.equal(api.backends.find((backend) => backend.id === id)?.draining, true);
    const undrain = formOf(after, id);
    assert.match(undrain.action, /\/undrain$/);
    const back = await fetch(`${rig.base}${undrain.action}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: undrain.csrf }).toString(),
    });
    assert.equal(back.status, 303);
    assert.equal(rig.gateway.pool.get(id)?.draining, false);
    const other = await text(get(back.headers.get('location') ?? ''));
    assert.match(other, /undrained by alice: new sessions may be placed on it again/);
  });

  it('changes nothing for a form without the right token', async () => {
    const id = backendIds[1] ?? '';
    for (const body of ['', 'csrf=forged', `csrf=${'x'.repeat(5000)}`]) {
      const reply = await fetch(`${rig.base}/dashboard/backends/${encodeURIComponent(id)}/drain`, {
        method: 'POST',
        redirect: 'manual',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      assert.ok(
        reply.status === 403 || reply.status === 413,
        `${String(reply.status)} for ${body.slice(0, 20)}`,
      );
      assert.match(await reply.text(), /nothing changed/);
    }
    assert.equal(rig.gateway.pool.get(id)?.draining, false);
  });
});

describe('dashboard tables and sections', () => {
  let baseline: ResourceCounts = new Map();
  before(() => {
    baseline = activeResources();
  });
  after(async () => {
    await assertNothingLeaked(baseline, 'the dashboard section tests');
  });

  it('caps 10,000 sessions at 200 rows and says how many there are', async () => {
    const rig = await startDashboardRig({ auth: false, shuffle: false });
    try {
      const now = Date.now();
      const backend = `127.0.0.1:${String(rig.fakes[0]?.port)}`;
      for (let i = 0; i < 10_000; i++)
        await rig.gateway.sessions.bind({
          principal: `user${String(i)}`,
          userId: `user${String(i)}`,
          sessionId: crypto.randomUUID(),
          backend,
          incarnation: '',
          createdAt: now - i * 1000,
          lastSeenAt: now - i * 1000,
          serverSideSessionId: undefined,
          clientAddress: '127.0.0.1:40000',
        });
      const raw = await (await fetch(`${rig.base}/dashboard`)).text();
      const page = squash(raw);
      assert.equal(page.match(/<tr data-session=/g)?.length, 200);
      assert.match(page, /Showing the first 200 of 10,000 sessions \(most recently active first\)/);
      assert.match(page, /<td>user0<\/td>/, 'the most recent first');
      assert.doesNotMatch(page, /<td>user9999<\/td>/);
      assert.ok(raw.length < 300_000, `the page is ${String(raw.length)} bytes`);
      assert.doesNotMatch(page, /id="shuffle"/, 'no shuffle section without a shuffle service');
      assert.match(page, /no admin auth: read-only except from this machine/);
      assert.match(page, /data-testid="drain"/, 'buttons from loopback without admin auth');
    } finally {
      await rig.close();
    }
  });
});
