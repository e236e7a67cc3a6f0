// The dashboard page: one HTML document with its stylesheet and a small refresh script inline,
// both allowed by a per-response nonce in a Content-Security-Policy that allows nothing else (no
// external assets, no framing, forms only to this origin). The script re-fetches the live
// fragment every 2 s; without JavaScript the page is the same, refreshed by hand.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { VERSION } from '../core/version.ts';
import { markup, toText, trusted, type Html } from './html.ts';

export const LIVE_PATH = '/dashboard/live';
export const REFRESH_MS = 2000;

export interface Notice {
  readonly ok: boolean;
  readonly text: string;
}

const STYLE = `
:root { color-scheme: light; --fg:#1b1f24; --muted:#5f6b7a; --line:#d5dbe3; --bg:#f6f8fa;
  --ok:#1a7f37; --bad:#c62828; --warn:#9a6700; --accent:#0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: baseline; padding: .8rem 1.5rem; background: #11243b; color: #fff; }
header h1 { margin: 0; font-size: 1.25rem; }
header a { color: #cfe3ff; }
header .who, header .live { color: #b8c7d9; font-size: .9rem; }
main { padding: 0 1.5rem 2rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 1.2rem 0; padding: .4rem 1.2rem 1rem; }
h2 { font-size: 1.1rem; margin: .6rem 0; }
h3 { font-size: .95rem; margin: 1rem 0 .4rem; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num { font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .85rem; }
.muted { color: var(--muted); }
.bad { color: var(--bad); }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 999px; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.badge.up, .badge.serving { color: var(--ok); }
.badge.down { color: var(--bad); }
.badge.checking, .badge.draining { color: var(--warn); }
.badge.drained { color: var(--muted); }
.tiles { display: flex; flex-wrap: wrap; gap: .8rem; margin: .6rem 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .9rem; min-width: 8.5rem; }
.tile dt { color: var(--muted); font-size: .8rem; }
.tile dd { margin: 0; font-size: 1.3rem; font-weight: 600; font-variant-numeric: tabular-nums; }
button { font: inherit; padding: .15rem .8rem; border-radius: 4px; border: 1px solid var(--accent); background: #fff; color: var(--accent); cursor: pointer; }
button.drain { border-color: var(--warn); color: var(--warn); }
.notice { margin: 1rem 0 0; padding: .6rem 1rem; border-radius: 6px; border: 1px solid; }
.notice.ok { color: var(--ok); background: #eef9f0; }
.notice.bad { color: var(--bad); background: #fdeeee; }
.cap, .empty { color: var(--muted); font-style: italic; }
`;

// Replaces the live fragment in place; a failed refresh says so and the next one tries again.
const SCRIPT = `
(() => {
  const live = document.getElementById('live');
  const state = document.getElementById('live-state');
  let busy = false;
  let refreshes = 0;
  state.textContent = 'live · updates every ' + ${String(REFRESH_MS / 1000)} + ' s';
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch(${JSON.stringify(LIVE_PATH)}, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'text/html' } });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      live.innerHTML = await response.text();
      refreshes += 1;
      state.dataset.refreshes = String(refreshes);
      state.textContent = 'live · updated ' + new Date().toLocaleTimeString();
    } catch (error) {
      state.textContent = 'not refreshing: ' + error.message + ' (retrying)';
    } finally {
      busy = false;
    }
  };
  setInterval(refresh, ${String(REFRESH_MS)});
})();
`;

export interface PageOptions {
  readonly title: string;
  readonly principal: string | undefined;
  readonly notice: Notice | undefined;
  readonly live: Html;
}

export function sendPage(response: ServerResponse, options: PageOptions, status = 200): void {
  const nonce = randomBytes(16).toString('base64');
  const who =
    options.principal === undefined
      ? 'no admin auth: read-only except from this machine'
      : markup`signed in as <strong data-testid="principal">${options.principal}</strong>`;
  const page = markup`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${options.title}</title>
        <style nonce="${nonce}">
          ${trusted(STYLE)}
        </style>
      </head>
      <body>
        <header>
          <h1>${options.title}</h1>
          <span class="who">${who}</span>
          <span class="live" id="live-state" aria-live="polite"
            >refresh the page to update (live updates need JavaScript)</span
          >
          <a href="/dashboard">Refresh</a>
          <span class="who">v${VERSION}</span>
        </header>
        <main>
          ${options.notice === undefined ? '' : markup`<p class="notice ${options.notice.ok ? 'ok' : 'bad'}" role="status" data-testid="notice">${options.notice.text}</p>`}
          <div id="live">${options.live}</div>
        </main>
        <script nonce="${nonce}">
          ${trusted(SCRIPT)};
        </script>
      </body>
    </html> `;
  response.writeHead(status, {
    ...securityHeaders(),
    'content-security-policy': contentSecurityPolicy(nonce),
  });
  response.end(toText(page));
}

/** The live fragment alone, for the refresh script. */
export function sendFragment(response: ServerResponse, live: Html): void {
  response.writeHead(200, {
    ...securityHeaders(),
    'content-security-policy': contentSecurityPolicy(undefined),
  });
  response.end(toText(live));
}

export function contentSecurityPolicy(nonce: string | undefined): string {
  const inline = nonce === undefined ? "'none'" : `'nonce-${nonce}'`;
  return [
    "default-src 'none'",
    `script-src ${inline}`,
    `style-src ${inline}`,
    "connect-src 'self'",
    "img-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

function securityHeaders(): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Not no-referrer: under it a browser sends `Origin: null` with form posts, and the admin
    // server refuses those as cross-site.
    'referrer-policy': 'same-origin',
    'x-frame-options': 'DENY',
  };
}
