// Anti-forgery tokens for the dashboard's forms. A browser sends remembered Basic credentials with
// any request to this origin, including a form another site submits, so every change also needs a
// token only a page rendered by this process for this principal carries: an HMAC of the principal
// under a key made at start-up (a restart invalidates open pages; reloading them fixes that).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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
