// DIGEST-MD5 tokens captured from real JVMs (the JDK's SASL classes with Spark's parameters, and
// Spark's own SparkSaslClient/SparkSaslServer), replayed through our arithmetic, client and server
// byte for byte. fixtures/jdk-digest-md5-transcripts.json says how they were captured.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  digestResponse,
  digestResponseAuth,
  type DigestMd5Inputs,
} from '../../../../src/shuffle/auth/digest-md5-digest.ts';
import {
  SPARK_SASL_USER,
  createDigestMd5Client,
  createDigestMd5Server,
  sparkSaslPassword,
} from '../../../../src/shuffle/auth/digest-md5.ts';
import fixtures from './fixtures/jdk-digest-md5-transcripts.json' with { type: 'json' };
import { SECRET, replaying } from './digest-md5-helpers.ts';

describe('tokens captured from real JVMs', () => {
  assert.equal(fixtures.secret, SECRET);
  for (const transcript of fixtures.transcripts) {
    describe(`${transcript.name} (${transcript.java})`, () => {
      it('the arithmetic gives the captured response and rspauth', () => {
        const inputs: DigestMd5Inputs = {
          username: SPARK_SASL_USER,
          realm: 'default',
          password: sparkSaslPassword(SECRET),
          nonce: Buffer.from(transcript.nonce),
          cnonce: Buffer.from(transcript.cnonce),
          nonceCount: '00000001',
          qop: 'auth',
          digestUri: 'null/default',
        };
        assert.ok(transcript.response.includes(`response=${digestResponse(inputs)},`));
        assert.equal(transcript.rspauth, `rspauth=${digestResponseAuth(inputs)}`);
      });

      it('our client answers the captured challenge exactly as the JVM did', () => {
        const client = createDigestMd5Client({
          secret: SECRET,
          randomBytes: replaying(transcript.cnonce),
        });
        assert.deepEqual(client.start(), Buffer.alloc(0));
        assert.equal(
          client.evaluate(Buffer.from(transcript.challenge)).toString(),
          transcript.response,
        );
        client.verify(Buffer.from(transcript.rspauth));
        assert.equal(client.complete, true);
      });

      if (transcript.challenge.includes('qop="auth"')) {
        it('our server challenges, accepts and answers exactly as the JVM did', () => {
          const server = createDigestMd5Server({
            secret: SECRET,
            randomBytes: replaying(transcript.nonce),
          });
          assert.equal(server.challenge().toString(), transcript.challenge);
          assert.equal(
            server.respond(Buffer.from(transcript.response)).toString(),
            transcript.rspauth,
          );
          assert.equal(server.complete, true);
        });
      }
    });
  }
});
