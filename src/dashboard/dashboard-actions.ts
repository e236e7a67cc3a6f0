// What the dashboard's buttons do and what keeps them safe. A browser sends remembered Basic
// credentials with any request to this origin, including a form another site submits, so every
// form carries an anti-forgery token only a page rendered by this process for this principal
// has: an HMAC of the principal under a key made at start-up (a restart invalidates open pages;
// reloading them fixes that). A drain or undrain does exactly what the admin API's POST does, and
// its result is kept as a notice for the page the browser is redirected to (post/redirect/get:
// reloading does not repeat the action). Notices are kept by a random id, for the principal who
// acted only, few and briefly, so the page never echoes text a link could carry.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Gateway } from '../gateway/gateway-server.ts';
import { BACKEND_ACTION_PREFIX } from './gateway-section.ts';
import type { Notice } from './page.ts';

export interface CsrfTokens {
  /** The token pages rendered for `principal` carry (undefined: the admin port has no auth). */
  issue(principal: string | undefined): string;
  verify(principal: string | undefined, token: string | undefined): boolean;
}

export function createCsrfTokens(key: Buffer = randomBytes(32)): CsrfTokens {
  const issue = (principal: string | undefined): string =>
    createHmac('sha256', key)
      .update(principal === undefined ? 'anonymous' : `principal:${principal}`)
      .digest('base64url');
  return {
    issue,
    verify(principal, token) {
      if (token === undefined) return false;
      const expected = Buffer.from(issue(principal));
      const given = Buffer.from(token);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

const NOTICES_KEPT = 64;
const NOTICE_TTL_MS = 5 * 60_000;

interface Kept extends Notice {
  readonly principal: string | undefined;
  readonly at: number;
}

export interface Notices {
  /** Keeps a notice and returns its id for the redirect. */
  add(principal: string | undefined, notice: Notice): string;
  get(id: string | null, principal: string | undefined): Notice | undefined;
}

export function createNotices(now: () => number = Date.now): Notices {
  const kept = new Map<string, Kept>();
  return {
    add(principal, notice) {
      const id = randomBytes(9).toString('base64url');
      kept.set(id, { ...notice, principal, at: now() });
      while (kept.size > NOTICES_KEPT) {
        const oldest = kept.keys().next();
        if (oldest.done === true) break;
        kept.delete(oldest.value);
      }
      return id;
    },
    get(id, principal) {
      if (id === null) return undefined;
      const notice = kept.get(id);
      if (
        notice === undefined ||
        notice.principal !== principal ||
        now() - notice.at > NOTICE_TTL_MS
      )
        return undefined;
      return { ok: notice.ok, text: notice.text };
    },
  };
}

/**
 * The urlencoded form of a POST, or undefined when it is larger than `maxBytes`. An oversize body
 * is left unread (not consumed without bound); the caller answers with `connection: close`.
 */
export function readForm(
  request: IncomingMessage,
  maxBytes: number,
): Promise<URLSearchParams | undefined> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > maxBytes) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      request.off('data', onData);
      request.pause();
      resolve(undefined);
    };
    request.on('data', onData);
    request.once('end', () => {
      resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
    request.once('error', reject);
  });
}

export function backendAction(
  request: IncomingMessage,
  gateway: Gateway | undefined,
  principal: string | undefined,
): Notice {
  const path = new URL(request.url ?? '/', 'http://admin').pathname;
  const [encoded = '', action = '', ...rest] = path.slice(BACKEND_ACTION_PREFIX.length).split('/');
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    return { ok: false, text: `"${encoded}" is not a server id; nothing changed.` };
  }
  if (gateway === undefined || rest.length > 0 || (action !== 'drain' && action !== 'undrain'))
    return { ok: false, text: `The dashboard has no action "${action}"; nothing changed.` };
  const backend = gateway.pool.get(id);
  if (backend === undefined || !gateway.pool.setDraining(id, action === 'drain'))
    return {
      ok: false,
      text: `No server ${id} behind this gateway (removed meanwhile?); nothing changed.`,
    };
  const sessions = gateway.sessions.sessionsPerBackend().get(id) ?? 0;
  const who = principal === undefined ? '' : ` by ${principal}`;
  if (action === 'undrain')
    return { ok: true, text: `${id} undrained${who}: new sessions may be placed on it again.` };
  return {
    ok: true,
    text:
      sessions === 0
        ? `${id} drained${who}: it has no sessions left and takes no new ones; safe to stop.`
        : `${id} draining${who}: it takes no new sessions; ${sessions === 1 ? '1 session keeps' : `${String(sessions)} sessions keep`} running on it until ${sessions === 1 ? 'it ends' : 'they end'}.`,
  };
}
