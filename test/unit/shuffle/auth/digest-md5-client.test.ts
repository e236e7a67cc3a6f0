// Our DIGEST-MD5 client against our server with every kind of secret, and the client's refusals:
// a challenge it cannot answer as the JDK would, or an rspauth from a server without the secret.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createDigestMd5Client,
  createDigestMd5Server,
  type DigestMd5Client,
} from '../../../../src/shuffle/auth/digest-md5.ts';
import {
  CHALLENGE,
  OTHER_SECRET,
  SECRET,
  authError,
  challengedServer,
  fixedBytes,
  responseWith,
  rspauthFor,
} from './digest-md5-helpers.ts';

describe('our client against our server', () => {
  for (const secret of [SECRET, 's€cret ünïcødé', 'x'.repeat(300), '']) {
    it(`authenticates both ways with a ${secret.length}-character secret`, () => {
      const server = createDigestMd5Server({ secret });
      const client = createDigestMd5Client({ secret });
      assert.equal(client.start().length, 0);
      const rspauth = server.respond(client.evaluate(server.challenge()));
      assert.equal(server.complete, true);
      assert.equal(client.complete, false);
      client.verify(rspauth);
      assert.equal(client.complete, true);
    });
  }

  it('offers only qop="auth", in the JDK layout, with a fresh 40-character nonce each time', () => {
    const first = createDigestMd5Server({ secret: SECRET }).challenge().toString();
    const second = createDigestMd5Server({ secret: SECRET }).challenge().toString();
    const layout =
      /^realm="default",nonce="([A-Za-z0-9+/]{40})",qop="auth",charset=utf-8,algorithm=md5-sess$/;
    assert.match(first, layout);
    assert.notEqual(layout.exec(first)?.[1], layout.exec(second)?.[1]);
  });

  it('honours the realm and server name options', () => {
    const server = createDigestMd5Server({ secret: SECRET, realm: 'r', serverName: 'host' });
    const client = createDigestMd5Client({ secret: SECRET, serverName: 'host' });
    const response = client.evaluate(server.challenge()).toString();
    assert.match(response, /realm="r",.*digest-uri="null\/host"/);
    client.verify(server.respond(Buffer.from(response)));
  });

  it('needs start() only once and lets evaluate() come first', () => {
    const server = createDigestMd5Server({ secret: SECRET });
    const client = createDigestMd5Client({ secret: SECRET });
    client.verify(server.respond(client.evaluate(server.challenge())));
    assert.throws(
      () => client.start(),
      authError(/start\(\) was called on a client that is complete/),
    );
  });
});

/** An rspauth token that repeats the digest the client sent in `responseWith()`. */
function rspauthEcho(): Buffer {
  const sent = /response=([0-9a-f]{32})/.exec(responseWith().toString())?.[1];
  assert.ok(sent !== undefined);
  return Buffer.from(`rspauth=${sent}`);
}

describe('the client', () => {
  /** A client that has answered CHALLENGE with `responseWith()`. */
  function respondedClient(): DigestMd5Client {
    const client = createDigestMd5Client({ secret: SECRET, randomBytes: fixedBytes(2) });
    client.start();
    client.evaluate(Buffer.from(CHALLENGE));
    return client;
  }

  it('answers exactly as the response the server tests build on', () => {
    const client = createDigestMd5Client({ secret: SECRET, randomBytes: fixedBytes(2) });
    client.start();
    assert.equal(client.evaluate(Buffer.from(CHALLENGE)).toString(), responseWith().toString());
  });

  it("verifies the server's rspauth", () => {
    const client = respondedClient();
    client.verify(challengedServer().respond(responseWith()));
    assert.equal(client.complete, true);
  });

  it('picks qop=auth from Spark\'s "auth-conf,auth" offer and ignores the cipher list', () => {
    const client = createDigestMd5Client({ secret: SECRET, randomBytes: fixedBytes(2) });
    const offer = CHALLENGE.replace('qop="auth"', 'qop="auth-conf,auth"') + ',cipher="3des,rc4"';
    assert.match(client.evaluate(Buffer.from(offer)).toString(), /,qop=auth$/);
  });

  it('takes the first of several realms, and the empty realm when none is offered', () => {
    const several = createDigestMd5Client({ secret: SECRET });
    const twoRealms = `realm="first",${CHALLENGE.replace('realm="default"', 'realm="second"')}`;
    assert.match(several.evaluate(Buffer.from(twoRealms)).toString(), /,realm="first",/);
    const none = createDigestMd5Client({ secret: SECRET });
    const noRealm = CHALLENGE.replace('realm="default",', '');
    assert.match(none.evaluate(Buffer.from(noRealm)).toString(), /,realm="",/);
  });

  it('leaves charset out when the server does not offer utf-8', () => {
    const client = createDigestMd5Client({ secret: SECRET });
    const response = client.evaluate(Buffer.from(CHALLENGE.replace(',charset=utf-8', '')));
    assert.match(response.toString(), /^username=/);
  });

  const challengeRefusals: [string, string, RegExp][] = [
    ['no nonce', CHALLENGE.replace(/nonce="[^"]*",/, ''), /has no nonce/],
    [
      'no algorithm',
      CHALLENGE.replace(',algorithm=md5-sess', ''),
      /algorithm \(none\); DIGEST-MD5 requires md5-sess/,
    ],
    ['algorithm=md5', CHALLENGE.replace('md5-sess', 'md5'), /algorithm md5;/],
    [
      'only qop=auth-conf',
      CHALLENGE.replace('qop="auth"', 'qop="auth-conf"'),
      /offers only qop=auth-conf .* supports only qop=auth/,
    ],
    ['charset=iso-8859-1', CHALLENGE.replace('utf-8', 'iso-8859-1'), /charset iso-8859-1/],
    ['two nonces', `${CHALLENGE},nonce="again"`, /"nonce" appears more than once/],
    ['an empty challenge', '', /digest-challenge is empty/],
    ['a malformed challenge', 'realm="default', /malformed/],
    [
      '2049 bytes',
      `${CHALLENGE},x="${'a'.repeat(2049 - CHALLENGE.length - 5)}"`,
      /2049 bytes, more than the 2048/,
    ],
  ];
  for (const [name, challenge, message] of challengeRefusals) {
    it(`refuses a challenge with ${name}`, () => {
      const client = createDigestMd5Client({ secret: SECRET });
      assert.throws(() => client.evaluate(Buffer.from(challenge)), authError(message));
      assert.throws(
        () => {
          client.verify(Buffer.from('rspauth=0'));
        },
        authError(/client that is failed/),
      );
    });
  }

  const rspauthRefusals: [string, () => Buffer, RegExp][] = [
    [
      'from a server with another secret',
      () => rspauthFor(OTHER_SECRET),
      /does not know the secret/,
    ],
    [
      'with one digit changed',
      () => {
        const good = rspauthFor(SECRET).toString();
        return Buffer.from(good.slice(0, -1) + (good.endsWith('0') ? '1' : '0'));
      },
      /server does not know the secret/,
    ],
    // The client's own response is the one digest a server without the secret has seen.
    ["that echoes the client's own response", () => rspauthEcho(), /does not know the secret/],
    ['without rspauth', () => Buffer.from('something=else'), /has no rspauth/],
    ['malformed', () => Buffer.from('rspauth="'), /malformed/],
    ['huge', () => Buffer.alloc(1 << 20, 0x61), /1048576 bytes/],
  ];
  for (const [name, rspauth, message] of rspauthRefusals) {
    it(`refuses an rspauth ${name}`, () => {
      const client = respondedClient();
      assert.throws(() => {
        client.verify(rspauth());
      }, authError(message));
      assert.equal(client.complete, false);
    });
  }

  it('accepts the rspauth of a server with the same secret (the refusals above can fail)', () => {
    const client = respondedClient();
    client.verify(rspauthFor(SECRET));
    assert.equal(client.complete, true);
  });

  it('refuses rspauth before a challenge, and a second challenge', () => {
    const fresh = createDigestMd5Client({ secret: SECRET });
    assert.throws(
      () => {
        fresh.verify(Buffer.from('rspauth=0'));
      },
      authError(/client that is new/),
    );
    const client = respondedClient();
    assert.throws(
      () => client.evaluate(Buffer.from(CHALLENGE)),
      authError(/client that is responded/),
    );
  });
});
