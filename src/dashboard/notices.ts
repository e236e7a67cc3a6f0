// The result of a dashboard action, shown on the page the browser is redirected to after it
// (post/redirect/get: reloading that page does not repeat the action). Notices are kept by a
// random id, for the principal who acted only, few and briefly, so the page never echoes text a
// link could carry.
import { randomBytes } from 'node:crypto';
import type { Notice } from './page.ts';

const KEEP = 64;
const TTL_MS = 5 * 60_000;

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
      while (kept.size > KEEP) {
        const oldest = kept.keys().next();
        if (oldest.done === true) break;
        kept.delete(oldest.value);
      }
      return id;
    },
    get(id, principal) {
      if (id === null) return undefined;
      const notice = kept.get(id);
      if (notice === undefined || notice.principal !== principal || now() - notice.at > TTL_MS)
        return undefined;
      return { ok: notice.ok, text: notice.text };
    },
  };
}
