// Headless Chromium for the dashboard's browser tests: Debian's `chromium` package driven by
// playwright-core, which never downloads a browser. Where chromium is missing the tests skip
// saying how to install it; with CI=true they fail with that message instead. Each launch gets
// Playwright's fresh temporary profile (removed on close), and the browser process is checked gone.
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserServer } from 'playwright-core';
import { prerequisiteOptions } from '../../support/prerequisite.ts';
import { isRunning } from '../../support/process-alive.ts';

export const CHROMIUM_PATH = process.env.SPARKPLANE_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let missingReason: string | undefined | null = null;

/** Why the browser tests cannot run here, or undefined when they can. */
export function chromiumMissing(): string | undefined {
  if (missingReason === null) {
    const probe = spawnSync(CHROMIUM_PATH, ['--version'], { stdio: 'ignore', timeout: 20_000 });
    missingReason =
      probe.error === undefined && probe.status === 0
        ? undefined
        : `${CHROMIUM_PATH} is missing or does not run: the dashboard browser tests need it (Debian/Ubuntu: apt-get update && apt-get install -y chromium; or point SPARKPLANE_CHROMIUM at a Chromium binary)`;
  }
  return missingReason;
}

/** node:test options: skipped when chromium is missing, except under CI=true (then it fails). */
export function chromiumTestOptions(): { skip?: string } {
  return prerequisiteOptions(chromiumMissing());
}

export interface Chromium {
  readonly browser: Browser;
  /** Closes the browser and waits until its process has exited. */
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Chromium> {
  const missing = chromiumMissing();
  if (missing !== undefined) throw new Error(missing);
  const server: BrowserServer = await chromium.launchServer({
    executablePath: CHROMIUM_PATH,
    args: ARGS,
    headless: true,
    timeout: 30_000,
  });
  const pid = server.process().pid;
  let browser: Browser;
  try {
    browser = await chromium.connect(server.wsEndpoint(), { timeout: 30_000 });
  } catch (error) {
    await server.close();
    throw error;
  }
  return {
    browser,
    async close() {
      await browser.close();
      await server.close();
      if (pid === undefined) return;
      const deadline = Date.now() + 5000;
      while (isRunning(pid)) {
        if (Date.now() > deadline) {
          process.kill(pid, 'SIGKILL');
          throw new Error(`chromium (pid ${String(pid)}) was still running after close; killed`);
        }
        await sleep(50);
      }
    },
  };
}
