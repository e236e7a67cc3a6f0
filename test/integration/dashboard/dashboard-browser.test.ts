// The dashboard in headless Chromium, in front of a real gateway (two in-repo Spark Connect
// servers, live sessions) and a real shuffle service: log in with Basic credentials, read the
// tables, drain and undrain a server with its button, watch a new session appear without a
// reload, get the 401 page for wrong credentials, and use it with JavaScript off. Screenshots go
// to test-artifacts/dashboard/ (git-ignored).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';
import { chromiumTestOptions, launchChromium, type Chromium } from './chromium.ts';
import { startDashboardRig, type DashboardRig } from './dashboard-rig.ts';

const ARTIFACTS = join(import.meta.dirname, '..', '..', '..', 'test-artifacts', 'dashboard');
const ACTION_TIMEOUT_MS = 10_000;

describe('dashboard in Chromium', chromiumTestOptions(), () => {
  let baseline: ResourceCounts = new Map();
  let rig: DashboardRig | undefined;
  let chrome: Chromium | undefined;
  const contexts: BrowserContext[] = [];
  /** Content-Security-Policy violations and script errors seen on any page. */
  const pageErrors: string[] = [];

  const open = async (options: {
    readonly user?: string;
    readonly password?: string;
    readonly javaScript?: boolean;
  }): Promise<Page> => {
    assert.ok(chrome !== undefined && rig !== undefined);
    const context = await chrome.browser.newContext({
      viewport: { width: 1360, height: 900 },
      javaScriptEnabled: options.javaScript ?? true,
      ...(options.user === undefined
        ? {}
        : { httpCredentials: { username: options.user, password: options.password ?? '' } }),
    });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (message) => {
      // 401 and 403 answers are logged as errors too; they are asserted where they are expected.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        pageErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return page;
  };

  const apiBackend = async (id: string): Promise<{ draining: boolean; sessions: number }> => {
    assert.ok(rig !== undefined);
    const reply = await fetch(`${rig.base}/api/gateway/backends`, {
      headers: { authorization: `Bearer ${rig.aliceToken}` },
    });
    const { backends } = (await reply.json()) as {
      backends: { id: string; draining: boolean; sessions: number }[];
    };
    const found = backends.find((backend) => backend.id === id);
    assert.ok(found !== undefined, `${id} not in the admin API`);
    return found;
  };

  before(async () => {
    baseline = activeResources();
    mkdirSync(ARTIFACTS, { recursive: true });
    rig = await startDashboardRig();
    await rig.openSession('carol');
    await rig.openSession('dave');
    await rig.serveShuffle('app-20261121074500-0000', 6, 64 * 1024);
    chrome = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await chrome?.close();
    await rig?.close();
    await assertNothingLeaked(baseline, 'the dashboard browser tests');
  });

  it('logs in with Basic credentials and shows servers, sessions and shuffle stats', async () => {
    assert.ok(rig !== undefined);
    const page = await open({ user: 'alice', password: rig.aliceToken });
    const response = await page.goto(`${rig.base}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.getByTestId('principal').textContent(), 'alice');
    const rows = page.locator('#backends tbody tr');
    assert.equal(await rows.count(), 2);
    for (const fake of rig.fakes) {
      const row = page.locator(`tr[data-backend="127.0.0.1:${String(fake.port)}"]`);
      assert.equal(await row.getByTestId('health').textContent(), 'up');
      assert.equal(await row.getByTestId('state').textContent(), 'serving');
    }
    const users = await page.locator('#sessions tbody tr td:first-child').allTextContents();
    assert.deepEqual(users.map((user) => user.trim()).sort(), ['carol', 'dave']);
    assert.equal((await page.getByTestId('shuffle-apps').textContent())?.trim(), '1');
    assert.equal((await page.getByTestId('shuffle-blocks').textContent())?.trim(), '6');
    assert.equal((await page.getByTestId('shuffle-bytes').textContent())?.trim(), '384 KiB');
    await page.screenshot({ path: join(ARTIFACTS, 'overview.png'), fullPage: true });
  });

  it('drains a server with its button, shows the result, and undrains it', async () => {
    assert.ok(rig !== undefined);
    const page = await open({ user: 'alice', password: rig.aliceToken });
    await page.goto(`${rig.base}/dashboard`);
    const id = `127.0.0.1:${String(rig.fakes[1]?.port)}`;
    const row = page.locator(`tr[data-backend="${id}"]`);
    await row.getByTestId('drain').click();
    await page.waitForURL(/\/dashboard\?notice=/);
    assert.match(
      (await page.getByTestId('notice').textContent()) ?? '',
      new RegExp(`${id.replace(/\./g, '\\.')} (drained|draining) by alice`),
    );
    assert.match((await row.getByTestId('state').textContent()) ?? '', /^draining|drained$/);
    assert.equal((await apiBackend(id)).draining, true, 'the admin API agrees');
    await page.screenshot({ path: join(ARTIFACTS, 'drained.png'), fullPage: true });
    await row.getByTestId('undrain').click();
    await row.getByTestId('drain').waitFor();
    assert.match((await page.getByTestId('notice').textContent()) ?? '', /undrained by alice/);
    assert.equal(await row.getByTestId('state').textContent(), 'serving');
    assert.equal((await apiBackend(id)).draining, false, 'the admin API agrees');
  });

  it('shows a new session on its own, without a reload', async () => {
    assert.ok(rig !== undefined);
    const page = await open({ user: 'alice', password: rig.aliceToken });
    await page.goto(`${rig.base}/dashboard`);
    let navigations = 0;
    page.on('framenavigated', () => (navigations += 1));
    const erin = page.locator('#sessions tbody tr', { hasText: 'erin' });
    assert.equal(await erin.count(), 0);
    await rig.openSession('erin');
    await erin.waitFor({ timeout: 6000 });
    assert.equal(navigations, 0, 'the page was not reloaded');
    assert.match((await page.locator('#live-state').textContent()) ?? '', /^live · updated /);
  });

  it('answers wrong or missing credentials with the 401 page', async () => {
    assert.ok(rig !== undefined);
    const url = `${rig.base}/dashboard`;
    const outcomeOf = (page: Page): Promise<string> =>
      page.goto(url).then(
        (response) => `HTTP ${String(response?.status())}`,
        (error: unknown) => String(error),
      );
    // Refused credentials end either on the 401 page or, when Chromium abandons the challenge
    // (it does for some attempts, measured: always without credentials), in
    // ERR_INVALID_AUTH_CREDENTIALS; never on the dashboard and never in a login loop.
    const refusedOutcome = /HTTP 401|ERR_INVALID_AUTH_CREDENTIALS/;
    const wrong = await open({ user: 'alice', password: 'not-the-token' });
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 3 && !outcomes.includes('HTTP 401'); attempt++)
      outcomes.push(await outcomeOf(wrong));
    for (const outcome of outcomes) assert.match(outcome, refusedOutcome);
    assert.ok(outcomes.includes('HTTP 401'), `never shown the 401 page: ${outcomes.join('; ')}`);
    assert.equal(await wrong.locator('h1').textContent(), 'Login required');
    assert.match(
      (await wrong.locator('p').first().textContent()) ?? '',
      /Basic token is not one of the admin port's credentials/,
    );
    await wrong.screenshot({ path: join(ARTIFACTS, 'unauthorized.png') });
    assert.match(await outcomeOf(await open({})), refusedOutcome);
  });

  it('works with JavaScript off: the tables, and drain as a plain form post', async () => {
    assert.ok(rig !== undefined);
    const page = await open({ user: 'alice', password: rig.aliceToken, javaScript: false });
    await page.goto(`${rig.base}/dashboard`);
    assert.match((await page.locator('#live-state').textContent()) ?? '', /refresh the page/);
    const id = `127.0.0.1:${String(rig.fakes[0]?.port)}`;
    const row = page.locator(`tr[data-backend="${id}"]`);
    await row.getByTestId('drain').click();
    await page.waitForURL(/notice=/);
    assert.equal((await apiBackend(id)).draining, true);
    await row.getByTestId('undrain').click();
    await page.waitForURL(/notice=/);
    assert.equal((await apiBackend(id)).draining, false);
  });

  it('ran its script under the CSP without a violation or script error', () => {
    assert.deepEqual(pageErrors, []);
  });
});
