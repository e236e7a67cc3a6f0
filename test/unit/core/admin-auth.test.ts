// Admin credentials: Bearer and Basic against a tokens file, the reasons a request is refused,
// and a reload that keeps the old credentials when the new file is broken.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  ADMIN_CHALLENGE,
  createAdminAuthenticator,
  openAdminAuth,
  type AdminCredentialCheck,
} from '../../../src/core/admin-auth.ts';
import { crossSiteProblem, mayChange, setRequestPrincipal } from '../../../src/core/admin-http.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { newToken, tokenFileLine } from '../../../src/core/tokens-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'sparkplane-admin-auth-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const alice = newToken();
const bob = newToken();

function credentialsFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const basic = (user: string, password: string): { authorization: string } => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

function refusal(check: AdminCredentialCheck): string {
  if (check.ok)
    assert.fail(`the request should have been refused, not let in as ${check.principal}`);
  return check.why;
}

describe('admin credentials', () => {
  const file = credentialsFile(
    'admins',
    `# operators\n${tokenFileLine('alice', alice)}\n\n${tokenFileLine('bob', bob)}\n`,
  );
  const auth = createAdminAuthenticator(file);

  it('accepts a Bearer token and names its principal', () => {
    assert.deepEqual(auth.check({ authorization: `Bearer ${alice}` }), {
      ok: true,
      principal: 'alice',
    });
    assert.deepEqual(auth.check({ authorization: `bearer ${bob}` }), {
      ok: true,
      principal: 'bob',
    });
  });

  it('accepts Basic with the principal as user and the token as password', () => {
    assert.deepEqual(auth.check(basic('bob', bob)), { ok: true, principal: 'bob' });
  });

  it('refuses Basic whose user is another principal than the token’s', () => {
    assert.match(refusal(auth.check(basic('alice', bob))), /user name is not the principal/);
  });

  it('refuses a missing, unknown or malformed credential, saying what to send', () => {
    assert.match(refusal(auth.check({})), /carries none; send "Authorization: Bearer TOKEN"/);
    assert.match(
      refusal(auth.check({ authorization: `Bearer ${newToken()}` })),
      /not one of the admin port's credentials; 'sparkplane gateway token NAME'/,
    );
    assert.match(refusal(auth.check(basic('alice', 'guess'))), /Basic token is not one/);
    assert.match(refusal(auth.check({ authorization: 'Digest x=1' })), /neither "Bearer TOKEN"/);
    assert.match(
      refusal(auth.check({ authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` })),
      /not "user:password"/,
    );
  });

  it('counts principals for the startup log', () => {
    assert.deepEqual(auth.describe(), { principals: 2, file });
  });

  it('is off without a file', () => {
    assert.equal(openAdminAuth(undefined), undefined);
    assert.notEqual(openAdminAuth(file), undefined);
  });

  it('challenges browsers for Basic in the sparkplane admin realm', () => {
    assert.equal(ADMIN_CHALLENGE, 'Basic realm="sparkplane admin", charset="UTF-8"');
  });
});

describe('admin credentials file', () => {
  it('refuses to start on a malformed line, naming file and line', () => {
    const file = credentialsFile('broken', `${tokenFileLine('alice', alice)}\nalice secret\n`);
    assert.throws(
      () => createAdminAuthenticator(file),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.includes(`${file} line 2: expected "PRINCIPAL sha256:HEX"`),
    );
  });

  it('reloads: new principals count, removed ones stop, a broken file keeps the old', () => {
    const file = credentialsFile('reloaded', `${tokenFileLine('alice', alice)}\n`);
    const auth = createAdminAuthenticator(file);
    assert.equal(auth.check(basic('bob', bob)).ok, false);
    writeFileSync(file, `${tokenFileLine('bob', bob)}\n`);
    auth.reload();
    assert.deepEqual(auth.check(basic('bob', bob)), { ok: true, principal: 'bob' });
    assert.equal(auth.check(basic('alice', alice)).ok, false);
    writeFileSync(file, 'bob sha256:nothex\n');
    assert.throws(() => {
      auth.reload();
    }, ConfigError);
    assert.deepEqual(auth.check(basic('bob', bob)), { ok: true, principal: 'bob' });
  });
});

function fakeRequest(remoteAddress: string, headers: IncomingHttpHeaders = {}): IncomingMessage {
  return { socket: { remoteAddress }, headers } as unknown as IncomingMessage;
}

describe('who may change state on the admin port', () => {
  it('from loopback anyone; from elsewhere only an authenticated principal', () => {
    for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'])
      assert.equal(mayChange(fakeRequest(address)), true, address);
    for (const address of ['10.1.2.3', '::ffff:10.1.2.3', '2001:db8::1'])
      assert.equal(mayChange(fakeRequest(address)), false, address);
    const authenticated = fakeRequest('10.1.2.3');
    setRequestPrincipal(authenticated, 'alice');
    assert.equal(mayChange(authenticated), true);
  });

  it('refuses requests another site made the browser send, and lets its own page and scripts in', () => {
    const host = '127.0.0.1:15080';
    assert.equal(crossSiteProblem(fakeRequest('127.0.0.1', { host })), undefined);
    assert.equal(
      crossSiteProblem(fakeRequest('127.0.0.1', { host, origin: `http://${host}` })),
      undefined,
    );
    // Behind a proxy that rewrites Host the browser's own word counts.
    assert.equal(
      crossSiteProblem(
        fakeRequest('127.0.0.1', {
          host,
          origin: 'https://admin.example',
          'sec-fetch-site': 'same-origin',
        }),
      ),
      undefined,
    );
    for (const headers of [
      { origin: 'http://127.0.0.1:9999' },
      { origin: 'null' },
      { origin: 'not a url' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ])
      assert.notEqual(
        crossSiteProblem(fakeRequest('127.0.0.1', { host, ...headers })),
        undefined,
        JSON.stringify(headers),
      );
  });
});
