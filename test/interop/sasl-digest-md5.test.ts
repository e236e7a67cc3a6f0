// SASL DIGEST-MD5 against real JVMs, both ways: the JDK's SaslClient and SaslServer built with
// Spark's parameters (test/interop/java/SparkSaslClient.java; needs only Java 17+), then Spark's
// own SparkSaslClient and SparkSaslServer from each installed Spark version's jars.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { directivesByName, parseDirectives } from '../../src/shuffle/auth/digest-md5-directives.ts';
import { digestResponseAuth } from '../../src/shuffle/auth/digest-md5-digest.ts';
import {
  SPARK_SASL_USER,
  createDigestMd5Client,
  createDigestMd5Server,
  sparkSaslPassword,
  type DigestMd5Client,
} from '../../src/shuffle/auth/digest-md5.ts';
import { ShuffleError } from '../../src/shuffle/errors.ts';
import { forEachSparkVersion } from './harness/run.ts';
import { javaMajorVersion } from './harness/spark-install.ts';
import {
  javaCommand,
  processGone,
  startJvmSaslPeer,
  type JvmSaslMode,
  type JvmSaslPeer,
} from './java/jvm-sasl-peer.ts';

// Secrets as Spark generates them: 256 random bits in hex.
const SECRET = randomBytes(32).toString('hex');
const WRONG_SECRET = randomBytes(32).toString('hex');
const PASSWORD_SECRETS = [SECRET, 'x'.repeat(57), 'x'.repeat(114), 's€cret ünïcødé '.repeat(9)];

const SERVER_CHALLENGE =
  /^realm="default",nonce="[A-Za-z0-9+/]{40}",qop="auth",charset=utf-8,algorithm=md5-sess$/;
const SPARK_SERVER_CHALLENGE =
  /^realm="default",nonce="[A-Za-z0-9+/]{40}",qop="auth-conf,auth",charset=utf-8,cipher="3des,rc4,des,rc4-56,rc4-40",algorithm=md5-sess$/;
const CLIENT_RESPONSE =
  /^charset=utf-8,username="c3BhcmtTYXNsVXNlcg==",realm="default",nonce="([A-Za-z0-9+/]{40})",nc=00000001,cnonce="[A-Za-z0-9+/]{40}",digest-uri="null\/default",maxbuf=65536,response=[0-9a-f]{32},qop=auth$/;

const started: number[] = [];

after(() => {
  const left = started.filter((pid) => !processGone(pid));
  assert.deepEqual(left, [], `JVMs left running: ${left.join(', ')}`);
});

function startPeer(mode: JvmSaslMode, secrets: readonly string[], classPath?: string): JvmSaslPeer {
  const peer = startJvmSaslPeer(mode, secrets, classPath === undefined ? {} : { classPath });
  started.push(peer.pid);
  return peer;
}

interface ToOurServer {
  readonly challenge: Buffer;
  readonly response: string;
  readonly serverError?: unknown;
  readonly serverComplete: boolean;
  readonly jvm: { readonly lines: readonly string[]; readonly code: number | null };
}

/** A JVM client (JDK or Spark) with `clientSecret` authenticates to our server. */
async function jvmClientToOurServer(
  mode: '--client' | '--spark-client',
  clientSecret: string,
  serverSecret: string,
  classPath?: string,
): Promise<ToOurServer> {
  const peer = startPeer(mode, [clientSecret], classPath);
  try {
    const server = createDigestMd5Server({ secret: serverSecret });
    assert.equal((await peer.readToken()).length, 0, 'DIGEST-MD5 starts with an empty token');
    const challenge = server.challenge();
    peer.send(challenge);
    const response = await peer.readToken();
    let rspauth: Buffer;
    try {
      rspauth = server.respond(response);
    } catch (serverError) {
      // Spark's server would answer with an RpcFailure; the JVM just sees the exchange end.
      peer.closeInput();
      const jvm = await peer.finish();
      return { challenge, response: response.toString(), serverError, serverComplete: false, jvm };
    }
    peer.send(rspauth);
    const jvm = await peer.finish();
    return { challenge, response: response.toString(), serverComplete: server.complete, jvm };
  } finally {
    await peer.stop();
  }
}

interface ToJvmServer {
  readonly challenge: string;
  readonly client: DigestMd5Client;
  readonly jvm: { readonly lines: readonly string[]; readonly code: number | null };
}

/** Our client with `clientSecret` authenticates to a JVM server (JDK or Spark). */
async function ourClientToJvmServer(
  mode: '--server' | '--spark-server',
  clientSecret: string,
  serverSecret: string,
  classPath?: string,
): Promise<ToJvmServer> {
  const peer = startPeer(mode, [serverSecret], classPath);
  try {
    const client = createDigestMd5Client({ secret: clientSecret });
    peer.send(client.start());
    const challenge = await peer.readToken();
    peer.send(client.evaluate(challenge));
    const answer = await peer.readLine();
    if (answer.startsWith('ERROR')) {
      const jvm = await peer.finish();
      return {
        challenge: challenge.toString(),
        client,
        jvm: { ...jvm, lines: [answer, ...jvm.lines] },
      };
    }
    client.verify(Buffer.from(answer, 'hex'));
    return { challenge: challenge.toString(), client, jvm: await peer.finish() };
  } finally {
    await peer.stop();
  }
}

function assertOursRefused(result: ToOurServer): void {
  assert.ok(
    result.serverError instanceof ShuffleError,
    `no refusal: ${String(result.serverError)}`,
  );
  assert.equal(result.serverError.code, 'ESS_AUTH');
  assert.match(result.serverError.message, /does not know the secret.*spark\.authenticate\.secret/);
  assert.equal(result.serverComplete, false);
  assert.equal(result.jvm.code, 1);
  assert.ok(!result.jvm.lines.some((line) => line.startsWith('OK')), result.jvm.lines.join('\n'));
}

function javaProblem(): string | undefined {
  const install =
    'install a JDK 17 or newer (e.g. apt-get install openjdk-17-jdk-headless) or set JAVA_HOME';
  const major = javaMajorVersion();
  if (major === undefined)
    return `Java 17+ is missing (\`${javaCommand()} -version\` failed): ${install}`;
  if (major < 17) return `Java ${major} is too old, Java 17+ is needed: ${install}`;
  return undefined;
}

const TITLE = "DIGEST-MD5 against the JDK's SASL classes with Spark's parameters";
const problem = javaProblem();
if (problem === undefined) {
  describe(TITLE, { timeout: 300_000 }, () => {
    it('a JDK client authenticates to our server', async () => {
      const result = await jvmClientToOurServer('--client', SECRET, SECRET);
      assert.match(result.challenge.toString(), SERVER_CHALLENGE);
      const nonce = CLIENT_RESPONSE.exec(result.response)?.[1];
      assert.ok(result.challenge.toString().includes(`nonce="${nonce ?? '?'}"`), result.response);
      assert.equal(result.serverError, undefined);
      assert.equal(result.serverComplete, true);
      assert.deepEqual(result.jvm, { lines: ['OK qop=auth authzid=-'], code: 0 });
    });

    it('our server refuses a JDK client with another secret', async () => {
      assertOursRefused(await jvmClientToOurServer('--client', WRONG_SECRET, SECRET));
    });

    it('the JDK client checks our rspauth and refuses one made with another secret', async () => {
      const peer = startPeer('--client', [SECRET]);
      try {
        await peer.readToken();
        const server = createDigestMd5Server({ secret: SECRET });
        peer.send(server.challenge());
        const response = await peer.readToken();
        assert.match(server.respond(response).toString(), /^rspauth=[0-9a-f]{32}$/);
        const fields = directivesByName(parseDirectives(response, 'response'), 'response');
        const forged = digestResponseAuth({
          username: SPARK_SASL_USER,
          realm: 'default',
          password: sparkSaslPassword(WRONG_SECRET),
          nonce: fields.get('nonce')?.[0] ?? Buffer.alloc(0),
          cnonce: fields.get('cnonce')?.[0] ?? Buffer.alloc(0),
          nonceCount: '00000001',
          qop: 'auth',
          digestUri: 'null/default',
        });
        peer.send(Buffer.from(`rspauth=${forged}`));
        const jvm = await peer.finish();
        assert.equal(jvm.code, 1);
        assert.match(jvm.lines.join('\n'), /^ERROR javax\.security\.sasl\.SaslException: .*/);
      } finally {
        await peer.stop();
      }
    });

    it('our client authenticates to a JDK server', async () => {
      const result = await ourClientToJvmServer('--server', SECRET, SECRET);
      assert.match(result.challenge, SERVER_CHALLENGE);
      assert.equal(result.client.complete, true);
      assert.deepEqual(result.jvm, {
        lines: [`OK qop=auth authzid=${SPARK_SASL_USER}`],
        code: 0,
      });
    });

    it('a JDK server refuses our client with another secret', async () => {
      const result = await ourClientToJvmServer('--server', WRONG_SECRET, SECRET);
      assert.equal(result.client.complete, false);
      assert.equal(result.jvm.code, 1);
      assert.match(
        result.jvm.lines[0] ?? '',
        /^ERROR javax\.security\.sasl\.SaslException: DIGEST-MD5: .*Mismatched response/,
      );
    });

    it("our password is the JDK's MIME base64 of the secret with a '\\n' every 76 characters", async () => {
      const peer = startPeer('--password', PASSWORD_SECRETS);
      try {
        const { lines, code } = await peer.finish();
        assert.equal(code, 0);
        assert.deepEqual(
          lines.map((line) => Buffer.from(line, 'hex').toString('utf8')),
          PASSWORD_SECRETS.map(sparkSaslPassword),
        );
      } finally {
        await peer.stop();
      }
    });
  });
} else if (process.env.CI === 'true') {
  it(TITLE, () => {
    assert.fail(
      `the DIGEST-MD5 interop test needs Java, and CI=true makes that a failure: ${problem}`,
    );
  });
} else {
  it(TITLE, { skip: problem }, () => undefined);
}

forEachSparkVersion(
  "DIGEST-MD5 against Spark's own SparkSaslClient and SparkSaslServer",
  (install) => {
    const classPath = join(install.sparkHome, 'jars', '*');

    it("Spark's SparkSaslClient authenticates to our server", { timeout: 120_000 }, async () => {
      const result = await jvmClientToOurServer('--spark-client', SECRET, SECRET, classPath);
      assert.match(result.response, CLIENT_RESPONSE);
      assert.equal(result.serverComplete, true);
      assert.deepEqual(result.jvm, { lines: ['OK qop=auth authzid=-'], code: 0 });
    });

    it(
      "our server refuses Spark's SparkSaslClient with another secret",
      { timeout: 120_000 },
      async () => {
        assertOursRefused(
          await jvmClientToOurServer('--spark-client', WRONG_SECRET, SECRET, classPath),
        );
      },
    );

    it("our client authenticates to Spark's SparkSaslServer", { timeout: 120_000 }, async () => {
      const result = await ourClientToJvmServer('--spark-server', SECRET, SECRET, classPath);
      assert.match(result.challenge, SPARK_SERVER_CHALLENGE);
      assert.equal(result.client.complete, true);
      assert.deepEqual(result.jvm, { lines: ['OK qop=auth authzid=-'], code: 0 });
    });

    it(
      "Spark's SparkSaslServer refuses our client with another secret",
      { timeout: 120_000 },
      async () => {
        const result = await ourClientToJvmServer(
          '--spark-server',
          WRONG_SECRET,
          SECRET,
          classPath,
        );
        assert.equal(result.client.complete, false);
        assert.equal(result.jvm.code, 1);
        assert.match(
          result.jvm.lines[0] ?? '',
          /^ERROR java\.lang\.RuntimeException: javax\.security\.sasl\.SaslException: DIGEST-MD5: .*Mismatched response/,
        );
      },
    );

    it(
      "our password is Spark's SparkSaslServer.encodePassword (Netty's Base64)",
      { timeout: 120_000 },
      async () => {
        const peer = startPeer('--spark-password', PASSWORD_SECRETS, classPath);
        try {
          const { lines, code } = await peer.finish();
          assert.equal(code, 0);
          assert.deepEqual(
            lines.map((line) => Buffer.from(line, 'hex').toString('utf8')),
            PASSWORD_SECRETS.map(sparkSaslPassword),
          );
        } finally {
          await peer.stop();
        }
      },
    );
  },
);
