// The doctor's per-target probes against real servers on 127.0.0.1: a closed port, a plain TCP
// server, TLS where plaintext is expected, a mesh-style mTLS server with a SPIFFE identity, a
// server that resets on accept, an Envoy-like HTTP server on a binary port, sparkplane's own
// shuffle service with and without authentication, a Spark Connect server and an HTTP/1 server
// on its port, HiveServer2 stand-ins with and without SASL, and a whole profile of closed and
// black-holed ports under one deadline.
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Check, Layer } from '../../../src/doctor/model.ts';
import { probeTarget } from '../../../src/doctor/probe-target.ts';
import type { ServiceName, Target } from '../../../src/doctor/targets.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import { startFakeSparkConnect, type FakeSparkConnect } from '../../support/fake-spark-connect.ts';
import { activeResources, assertNothingLeaked } from '../../support/leaks.ts';
import { makeTestCertificate, type TestCertificate } from '../../support/tls-cert.ts';
import { removeRoot, startServer, tempRoot } from '../shuffle/fixtures.ts';
import { startFakeHiveServer, type FakeHiveServer } from './fake-hive-server.ts';

const HOST = '127.0.0.1';
const SPIFFE_ID = 'spiffe://cluster.local/ns/default/sa/spark';

function target(port: number, service: ServiceName, host = HOST): Target {
  return { host, port, service };
}

function probe(forTarget: Target, budgetMs = 4000): Promise<Check[]> {
  return probeTarget(forTarget, { deadline: Date.now() + budgetMs });
}

function layer(checks: readonly Check[], name: Layer): Check {
  const found = checks.find((check) => check.layer === name);
  assert.ok(found, `no ${name} check in ${JSON.stringify(checks, null, 2)}`);
  return found;
}

function assertLaterSkipped(checks: readonly Check[], after: Layer): void {
  const order: Layer[] = ['dns', 'transport', 'tls', 'protocol'];
  for (const later of order.slice(order.indexOf(after) + 1)) {
    const check = layer(checks, later);
    assert.equal(check.status, 'skip', `${later} should be skipped after ${after}`);
    assert.equal(check.reason, 'not-checked');
  }
}

function assertFixed(check: Check): void {
  assert.ok(check.fix !== undefined && check.fix.summary.length > 20, `${check.id} has a fix`);
}

async function listen(server: Server | HttpServer | TlsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  return (server.address() as AddressInfo).port;
}

/** Closes a server and every connection it still holds. */
function closeServer(server: Server | HttpServer | TlsServer, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

function tracked<T extends Server | HttpServer | TlsServer>(server: T, sockets: Set<Socket>): T {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  return server;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('probeTarget against local servers', () => {
  const baseline = activeResources();
  const sockets = new Set<Socket>();
  const servers: (Server | HttpServer | TlsServer)[] = [];
  let plainCert: TestCertificate;
  let meshCert: TestCertificate;
  const ports: Record<string, number> = {};
  let shuffle: ShuffleServer;
  let authShuffle: ShuffleServer;
  let shuffleRoot: string;
  let sparkConnect: FakeSparkConnect;
  let tokenSparkConnect: FakeSparkConnect;
  let grpcTls: Http2SecureServer;
  let saslHive: FakeHiveServer;
  let plainHive: FakeHiveServer;

  before(async () => {
    plainCert = makeTestCertificate();
    meshCert = makeTestCertificate({ extraSubjectAltNames: [`URI:${SPIFFE_ID}`] });

    const plain = tracked(createServer(), sockets);
    servers.push(plain);
    ports.plain = await listen(plain);

    const tlsOnly = tracked(
      createTlsServer({ key: plainCert.key, cert: plainCert.cert }, (socket) => {
        socket.on('error', () => undefined);
      }),
      sockets,
    );
    tlsOnly.on('tlsClientError', () => undefined);
    servers.push(tlsOnly);
    ports.tls = await listen(tlsOnly);

    const mesh = tracked(
      createTlsServer(
        { key: meshCert.key, cert: meshCert.cert, requestCert: true, rejectUnauthorized: true },
        (socket) => {
          socket.on('error', () => undefined);
        },
      ),
      sockets,
    );
    mesh.on('tlsClientError', () => undefined);
    servers.push(mesh);
    ports.mesh = await listen(mesh);

    const resetter = createServer((socket) => {
      socket.resetAndDestroy();
    });
    servers.push(resetter);
    ports.resetter = await listen(resetter);

    // Sends back whatever it receives, as an echo service or a looping port forward does.
    const echo = tracked(
      createServer((socket) => {
        socket.on('error', () => undefined);
        socket.pipe(socket);
      }),
      sockets,
    );
    servers.push(echo);
    ports.echo = await listen(echo);

    // A redirecting sidecar tries its upstream first, then resets the accepted connection.
    const sidecar = createServer((socket) => {
      const timer = setTimeout(() => {
        socket.resetAndDestroy();
      }, 30);
      socket.on('close', () => {
        clearTimeout(timer);
      });
    });
    servers.push(sidecar);
    ports.sidecar = await listen(sidecar);

    // Envoy's HTTP/1 codec answers bytes it cannot parse like this (envoyproxy/envoy#37268).
    const envoy = tracked(
      createHttpServer((_request, response) => response.end('ok')),
      sockets,
    );
    envoy.on('clientError', (_error, socket) => {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n' +
          'date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: envoy\r\nconnection: close\r\n\r\nBad Request',
      );
    });
    servers.push(envoy);
    ports.envoy = await listen(envoy);

    const web = tracked(
      createHttpServer((_request, response) => {
        response.writeHead(302, { location: '/jobs/', server: 'Jetty(9.4.54)' }).end();
      }),
      sockets,
    );
    servers.push(web);
    ports.web = await listen(web);

    shuffleRoot = await tempRoot('doctor');
    ({ server: shuffle, port: ports.shuffle } = await startServer({ allowedRoots: [shuffleRoot] }));
    ({ server: authShuffle, port: ports.authShuffle } = await startServer({
      allowedRoots: [shuffleRoot],
      authSecret: 'a-shared-secret',
    }));
    sparkConnect = await startFakeSparkConnect();
    tokenSparkConnect = await startFakeSparkConnect({ requireToken: 'a-token' });
    // A gRPC server behind TLS that has no Spark Connect service.
    grpcTls = createSecureServer({ key: plainCert.key, cert: plainCert.cert });
    grpcTls.on('stream', (stream) => {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' },
        { endStream: true },
      );
    });
    grpcTls.on('session', (session) => {
      session.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => grpcTls.listen(0, HOST, resolve));
    ports.grpcTls = (grpcTls.address() as AddressInfo).port;

    // Mutual TLS in TLS 1.2, without a mesh identity: the CertificateRequest travels in clear.
    const mutual12 = tracked(
      createTlsServer(
        {
          key: plainCert.key,
          cert: plainCert.cert,
          requestCert: true,
          rejectUnauthorized: true,
          maxVersion: 'TLSv1.2',
        },
        (socket) => {
          socket.on('error', () => undefined);
        },
      ),
      sockets,
    );
    mutual12.on('tlsClientError', () => undefined);
    servers.push(mutual12);
    ports.mutual12 = await listen(mutual12);
    saslHive = await startFakeHiveServer('sasl');
    plainHive = await startFakeHiveServer('nosasl');
    ports.closed = await closedPort();
  });

  after(async () => {
    await Promise.all(servers.map((server) => closeServer(server, sockets)));
    await shuffle.close(1000);
    await authShuffle.close(1000);
    await sparkConnect.close();
    await tokenSparkConnect.close();
    await new Promise<void>((resolve) => {
      grpcTls.close(() => {
        resolve();
      });
    });
    await saslHive.close();
    await plainHive.close();
    await removeRoot(shuffleRoot);
    plainCert.remove();
    meshCert.remove();
    await assertNothingLeaked(baseline, 'the probes and their servers');
  });

  it('reports a closed port as refused, with errno, time and a fix, and skips the rest', async () => {
    const checks = await probe(target(ports.closed ?? 0, 'spark-shuffle'));
    assert.equal(layer(checks, 'dns').reason, 'resolved');
    const transport = layer(checks, 'transport');
    assert.equal(transport.status, 'fail');
    assert.equal(transport.reason, 'refused');
    assert.equal(transport.evidence.errno, 'ECONNREFUSED');
    assert.equal(typeof transport.evidence.elapsedMs, 'number');
    assertFixed(transport);
    assert.match(transport.fix?.snippets?.[0]?.text ?? '', /spark\.shuffle\.service\.enabled/);
    assertLaterSkipped(checks, 'transport');
  });

  it('finds a plain TCP server open and plaintext, with both ends named', async () => {
    const checks = await probe(target(ports.plain ?? 0, 'tcp'));
    const transport = layer(checks, 'transport');
    assert.equal(transport.reason, 'open');
    assert.equal(transport.status, 'pass');
    assert.match(String(transport.evidence.localAddress), /^127\.0\.0\.1:\d+$/);
    assert.equal(transport.evidence.remoteAddress, `${HOST}:${String(ports.plain)}`);
    const tls = layer(checks, 'tls');
    assert.equal(tls.reason, 'plaintext');
    assert.equal(tls.status, 'pass');
    assert.equal(layer(checks, 'protocol').status, 'skip');
  });

  it('says TLS is required where a Spark port is expected to be plaintext', async () => {
    const checks = await probe(target(ports.tls ?? 0, 'spark-shuffle'));
    const tls = layer(checks, 'tls');
    assert.equal(tls.reason, 'tls-required');
    assert.equal(tls.status, 'warn');
    assert.equal(tls.evidence.certSubject, 'CN=localhost');
    assertFixed(tls);
    assert.match(tls.fix?.snippets?.[0]?.text ?? '', /spark\.ssl\.rpc\.enabled=true/);
    // The protocol probe runs inside TLS; this server says nothing back.
    const protocol = layer(checks, 'protocol');
    assert.ok(['no-answer', 'timeout'].includes(protocol.reason), protocol.summary);
  });

  it('accepts TLS on an https port', async () => {
    const checks = await probe(target(ports.tls ?? 0, 'https'), 2500);
    assert.equal(layer(checks, 'tls').reason, 'tls-ok');
    assert.equal(layer(checks, 'tls').status, 'pass');
  });

  it('recognises mesh mTLS by the SPIFFE identity and the client-certificate demand', async () => {
    const checks = await probe(target(ports.mesh ?? 0, 'spark-shuffle'));
    const tls = layer(checks, 'tls');
    assert.equal(tls.reason, 'mesh-mtls', tls.summary);
    assert.equal(tls.status, 'fail');
    assert.equal(tls.evidence.spiffeId, SPIFFE_ID);
    assert.equal(tls.evidence.tlsErrorAfterHandshake, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    assertFixed(tls);
    const snippets = tls.fix?.snippets?.map((snippet) => snippet.text).join('\n') ?? '';
    assert.match(snippets, /PeerAuthentication/);
    assert.match(snippets, /traffic\.sidecar\.istio\.io\/excludeInboundPorts/);
    assertLaterSkipped(checks, 'tls');
  });

  it('does not take its own Spark RPC request, echoed back, for a Spark answer', async () => {
    for (const service of ['spark-master', 'spark-shuffle'] as const) {
      const protocol = layer(await probe(target(ports.echo ?? 0, service)), 'protocol');
      assert.equal(protocol.reason, 'wrong-protocol', `${service}: ${protocol.summary}`);
      assert.equal(protocol.status, 'fail');
      assert.equal(protocol.evidence.echoed, true);
      assert.match(protocol.summary, /sent the .* probe back unchanged: an echo service/);
      assertFixed(protocol);
    }
  });

  it('reports a server that resets right after accept', async () => {
    const checks = await probe(target(ports.resetter ?? 0, 'spark-shuffle'));
    const transport = layer(checks, 'transport');
    assert.equal(transport.reason, 'reset-after-connect', transport.summary);
    assert.equal(transport.status, 'fail');
    assertFixed(transport);
    assertLaterSkipped(checks, 'transport');
  });

  it('reports a sidecar that resets a moment after accepting, with when it did', async () => {
    const checks = await probe(target(ports.sidecar ?? 0, 'spark-connect'));
    const transport = layer(checks, 'transport');
    assert.equal(transport.reason, 'reset-after-connect', transport.summary);
    assert.equal(transport.evidence.closedBy, 'reset');
    assert.ok(Number(transport.evidence.closedAfterMs) >= 20, transport.summary);
    assertLaterSkipped(checks, 'transport');
  });

  it('names the HTTP server (server: envoy) that answers on a binary port', async () => {
    const checks = await probe(target(ports.envoy ?? 0, 'spark-shuffle'));
    assert.equal(layer(checks, 'tls').reason, 'plaintext');
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'wrong-protocol');
    assert.equal(protocol.status, 'fail');
    assert.match(protocol.summary, /answers HTTP \(HTTP\/1\.1 400 Bad Request, server: envoy\)/);
    assert.equal(protocol.evidence.envoy, 'server: envoy');
    assertFixed(protocol);
    assert.match(protocol.fix?.snippets?.[0]?.text ?? '', /appProtocol: tcp/);
  });

  it('probes an HTTP port and sees a Spark-UI-like redirect', async () => {
    const checks = await probe(target(ports.web ?? 0, 'spark-ui'));
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'protocol-ok');
    assert.equal(protocol.status, 'pass');
    assert.equal(protocol.evidence.httpStatus, 302);
    assert.match(protocol.summary, /as the Spark UI does/);
  });

  it("recognises sparkplane's shuffle service without authentication", async () => {
    const checks = await probe(target(ports.shuffle ?? 0, 'spark-shuffle'));
    assert.equal(layer(checks, 'tls').reason, 'plaintext');
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'protocol-ok', protocol.summary);
    assert.equal(protocol.status, 'pass');
    assert.match(String(protocol.evidence.rpcFailure), /Executor is not registered/);
    assert.equal(shuffle.registry.get('x', 'y'), undefined);
  });

  it('says the shuffle service requires spark.authenticate when it does', async () => {
    const checks = await probe(target(ports.authShuffle ?? 0, 'spark-shuffle'));
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'auth-required', protocol.summary);
    assert.equal(protocol.status, 'warn');
    assert.match(String(protocol.evidence.rpcFailure), /Expected SaslMessage/);
    assertFixed(protocol);
    assert.match(protocol.fix?.snippets?.[0]?.text ?? '', /spark\.authenticate=true/);
  });

  it('calls a Spark Connect server and releases the session it used', async () => {
    const checks = await probe(target(sparkConnect.port, 'spark-connect'));
    assert.equal(layer(checks, 'tls').reason, 'plaintext');
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'protocol-ok', protocol.summary);
    assert.equal(protocol.status, 'pass');
    assert.equal(protocol.evidence.appId, sparkConnect.appId);
    assert.equal(protocol.evidence.releaseStatus, 'OK');
    assert.equal(sparkConnect.sessions.size, 0, 'the probe session was released');
  });

  it('names an HTTP/1 server on the Spark Connect port', async () => {
    const checks = await probe(target(ports.envoy ?? 0, 'spark-connect'));
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'wrong-protocol', protocol.summary);
    assert.match(protocol.summary, /HTTP\/1\.1 400 Bad Request, server: envoy/);
  });

  it('sees the Spark Connect port from the shuffle probe as the wrong protocol', async () => {
    const checks = await probe(target(sparkConnect.port, 'spark-shuffle'));
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'wrong-protocol', protocol.summary);
    assert.match(protocol.summary, /HTTP\/2/);
  });

  it('tells HiveServer2 over SASL from HiveServer2 without SASL', async () => {
    const sasl = layer(await probe(target(saslHive.port, 'hive-thrift')), 'protocol');
    assert.equal(sasl.reason, 'protocol-ok', sasl.summary);
    assert.equal(sasl.evidence.transport, 'sasl');
    assert.match(sasl.summary, /Unsupported mechanism type SPARKPLANE-DOCTOR|Invalid status -128/);

    const plain = layer(await probe(target(plainHive.port, 'hive-thrift')), 'protocol');
    assert.equal(plain.reason, 'protocol-ok', plain.summary);
    assert.equal(plain.evidence.transport, 'binary');
    assert.match(plain.summary, /Invalid method name: 'sparkplane_doctor_probe'/);
    assert.match(plain.summary, /auth=noSasl/);
  });

  it('reads a SASL-only metastore as requiring Kerberos, a plain one as fine', async () => {
    const sasl = layer(await probe(target(saslHive.port, 'hive-metastore')), 'protocol');
    assert.equal(sasl.reason, 'auth-required', sasl.summary);
    assertFixed(sasl);
    const plain = layer(await probe(target(plainHive.port, 'hive-metastore')), 'protocol');
    assert.equal(plain.reason, 'protocol-ok', plain.summary);
  });

  it('names the Spark shuffle service answering on the HiveServer2 port', async () => {
    const protocol = layer(await probe(target(ports.shuffle ?? 0, 'hive-thrift')), 'protocol');
    assert.ok(['wrong-protocol', 'no-answer'].includes(protocol.reason), protocol.summary);
    assert.equal(protocol.status, 'fail');
  });

  it('says a Spark Connect server wants a token', async () => {
    const protocol = layer(
      await probe(target(tokenSparkConnect.port, 'spark-connect')),
      'protocol',
    );
    assert.equal(protocol.reason, 'auth-required', protocol.summary);
    assert.equal(protocol.evidence.grpcStatus, 16);
    assert.match(protocol.fix?.snippets?.[0]?.text ?? '', /;token=/);
  });

  it('speaks gRPC inside TLS when the port wants TLS, and names a non-Spark gRPC server', async () => {
    const checks = await probe(target(ports.grpcTls ?? 0, 'spark-connect'));
    const tls = layer(checks, 'tls');
    assert.equal(tls.reason, 'tls-required');
    assert.equal(tls.evidence.alpn, 'h2');
    assert.match(tls.fix?.snippets?.[0]?.text ?? '', /use_ssl=true/);
    const protocol = layer(checks, 'protocol');
    assert.equal(protocol.reason, 'wrong-protocol', protocol.summary);
    assert.match(protocol.summary, /UNIMPLEMENTED/);
  });

  it('names Spark RPC when a Spark Connect probe reaches a shuffle port', async () => {
    const protocol = layer(await probe(target(ports.shuffle ?? 0, 'spark-connect')), 'protocol');
    assert.equal(protocol.reason, 'wrong-protocol', protocol.summary);
    assert.match(protocol.summary, /speaks Spark RPC .* not Spark Connect/);
    assert.match(String(protocol.evidence.sparkRpcAnswer), /^Rpc(Response|Failure)$/);
  });

  it('tells a shuffle service on the master port, and one that requires auth', async () => {
    const shuffleThere = layer(await probe(target(ports.shuffle ?? 0, 'spark-master')), 'protocol');
    assert.equal(shuffleThere.reason, 'wrong-protocol', shuffleThere.summary);
    assert.match(String(shuffleThere.evidence.rpcFailure), /Unknown message type: 127/);
    const auth = layer(await probe(target(ports.authShuffle ?? 0, 'spark-master')), 'protocol');
    assert.equal(auth.reason, 'auth-required', auth.summary);
  });

  it('sees a TLS 1.2 client-certificate demand in clear, without a mesh identity', async () => {
    const checks = await probe(target(ports.mutual12 ?? 0, 'hive-thrift'));
    const tls = layer(checks, 'tls');
    assert.equal(tls.reason, 'client-cert-required', tls.summary);
    assert.equal(tls.evidence.certSubject, 'CN=localhost');
    assert.match(String(tls.evidence.tlsError), /HANDSHAKE_FAILURE/);
    assertLaterSkipped(checks, 'tls');
  });

  it('stops at once when the caller aborts, and still reports every layer', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const pending = probeTarget(target(ports.plain ?? 0, 'hive-thrift'), {
      deadline: Date.now() + 10_000,
      signal: controller.signal,
    });
    setTimeout(() => {
      controller.abort();
    }, 300);
    const checks = await pending;
    assert.ok(Date.now() - started < 2000, 'ended soon after the abort');
    assert.deepEqual(
      checks.map((check) => check.layer),
      ['dns', 'route', 'transport', 'tls', 'protocol'],
    );
    assert.equal(layer(checks, 'tls').reason, 'timeout');
    assert.equal(layer(checks, 'protocol').status, 'skip');
  });

  it('reports every layer as not checked when the deadline has already passed', async () => {
    const checks = await probeTarget(target(ports.plain ?? 0, 'spark-shuffle'), {
      deadline: Date.now() - 1,
    });
    assert.deepEqual(
      checks.map((check) => [check.layer, check.reason]),
      [
        ['dns', 'not-checked'],
        ['route', 'not-checked'],
        ['transport', 'not-checked'],
        ['tls', 'not-checked'],
        ['protocol', 'not-checked'],
      ],
    );
    assert.match(layer(checks, 'dns').summary, /time budget was used up/);
  });

  it('probes an IPv6 address, brackets and all', async () => {
    const server = tracked(
      createHttpServer((_request, response) => response.end('ok')),
      sockets,
    );
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const checks = await probe(target(port, 'http', '::1'));
      assert.equal(layer(checks, 'transport').evidence.remoteAddress, `[::1]:${String(port)}`);
      assert.equal(layer(checks, 'protocol').reason, 'protocol-ok');
      assert.match(layer(checks, 'protocol').summary, /answers HTTP \(HTTP\/1\.1 200 OK\)/);
    } finally {
      await closeServer(server, sockets);
    }
  });

  it('resolves localhost and probes every address it gets', async () => {
    const checks = await probe(target(ports.plain ?? 0, 'tcp', 'localhost'));
    const dns = layer(checks, 'dns');
    assert.equal(dns.reason, 'resolved');
    const transports = checks.filter((check) => check.layer === 'transport');
    assert.equal(transports.length, Number(dns.evidence.count));
    assert.ok(transports.some((check) => check.reason === 'open'));
  });
});
