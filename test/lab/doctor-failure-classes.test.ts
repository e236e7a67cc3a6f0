// Every failure class of `sparkplane doctor` made real in network namespaces and asserted through
// the CLI's --json and exit code, run in the client namespace: a router that drops, rejects with a
// reset or with each ICMP type; missing and refusing routes; a name the resolver cannot find; a
// mesh sidecar demanding mutual TLS; TLS on a plaintext port; a redirecting sidecar with nothing
// behind it; an Envoy HTTP listener on the shuffle port. One topology serves every case (each has
// its own port or address).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.ts';
import {
  layerCheck,
  outline,
  runDoctor,
  targetChecks,
  type DoctorRun,
} from './support/doctor-cli.ts';
import { labTestOptions } from './support/lab-host.ts';
import { createLab, type Lab } from './support/lab.ts';
import {
  buildThreeNamespaces,
  LAB_ADDRESSES as A,
  SERVER_NAME,
  startLabServers,
  type ThreeNamespaces,
} from './support/three-namespaces.ts';

/** Router verdicts by port: the server listens on every one, so the rule alone decides. */
const ROUTER_RULES: readonly [number, string][] = [
  [7002, 'drop'],
  [7003, 'reject with tcp reset'],
  [7004, 'reject with icmp type host-unreachable'],
  [7005, 'reject with icmp type admin-prohibited'],
  [7006, 'reject with icmp type net-unreachable'],
  [7007, 'reject with icmp type port-unreachable'],
];
const SPIFFE_ID = 'spiffe://cluster.local/ns/spark/sa/shuffle';
/** Client routes whose type refuses: no traffic leaves for these. */
const REFUSING_ROUTES = {
  unreachable: '10.233.0.9',
  prohibit: '10.234.0.9',
  blackhole: '10.235.0.9',
} as const;
const routeCovering = (address: string): string =>
  `${address.split('.').slice(0, 2).join('.')}.0.0/16`;

describe('sparkplane doctor in a network-namespace lab: failure classes', labTestOptions(), () => {
  let lab: Lab | undefined;
  let net: ThreeNamespaces | undefined;
  const certificates: TestCertificate[] = [];

  const doctor = (...targets: string[]): Promise<DoctorRun> => {
    assert.ok(lab !== undefined && net !== undefined, 'the lab was built');
    return runDoctor(lab, net.client, [...targets, '--timeout', '2s'], net.clientFiles);
  };

  before(async () => {
    lab = await createLab();
    net = await buildThreeNamespaces(lab);
    const mesh = makeTestCertificate({
      extraSubjectAltNames: [`URI:${SPIFFE_ID}`, `IP:${A.server}`],
    });
    const plain = makeTestCertificate({ extraSubjectAltNames: [`IP:${A.server}`] });
    certificates.push(mesh, plain);
    await startLabServers(lab, net.server, [
      ...ROUTER_RULES.map(([port]) => ({ kind: 'echo' as const, host: A.server, port })),
      { kind: 'http', host: A.server, port: 4040 },
      { kind: 'tls', host: A.server, port: 7337, ...files(mesh), requestCert: true },
      { kind: 'tls', host: A.server, port: 7077, ...files(plain) },
      { kind: 'reset', host: A.server, port: 15006 },
      { kind: 'envoy', host: A.server2, port: 7337 },
    ]);
    for (const [port, verdict] of ROUTER_RULES)
      await net.routerRule(`tcp dport ${String(port)} ${verdict}`);
    // The sidecar: the server's own netfilter sends 7400 to a proxy that has nothing behind it.
    await lab.nft(
      net.server,
      'table ip sidecar {\n  chain intercept {\n    type nat hook prerouting priority -100;\n    tcp dport 7400 redirect to :15006\n  }\n}\n',
    );
    for (const [type, address] of Object.entries(REFUSING_ROUTES))
      await lab.run(net.client, ['ip', 'route', 'add', type, routeCovering(address)]);
  });

  after(async () => {
    const built = lab;
    for (const certificate of certificates) certificate.remove();
    if (built === undefined) return;
    await built.teardown();
    assert.deepEqual(await built.leftovers(), [], 'the lab left nothing behind');
  });

  it('an open Spark UI port, by name: every layer passes and the exit code is 0', async () => {
    const run = await doctor(`${SERVER_NAME}:4040=spark-ui`);
    const checks = targetChecks(run, SERVER_NAME, 4040);
    assert.deepEqual(outline(checks), [
      ['dns', 'pass', 'resolved'],
      ['route', 'pass', 'routed'],
      ['transport', 'pass', 'open'],
      ['tls', 'pass', 'plaintext'],
      ['protocol', 'pass', 'protocol-ok'],
    ]);
    const route = layerCheck(checks, 'route');
    assert.equal(route.evidence.gateway, A.routerClientSide);
    assert.equal(route.evidence.device, 'c0');
    assert.equal(route.evidence.sourceAddress, A.client);
    assert.equal(
      layerCheck(checks, 'transport').evidence.localAddress?.toString().split(':')[0],
      A.client,
    );
    assert.equal(run.code, 0, JSON.stringify(run.report.summary));
  });

  it('a router that drops the SYN: filtered after the budget, exit 1', async () => {
    const run = await doctor(`${A.server}:7002`);
    const transport = layerCheck(targetChecks(run, A.server, 7002), 'transport');
    assert.deepEqual([transport.status, transport.reason], ['fail', 'filtered']);
    assert.ok(Number(transport.evidence.elapsedMs) >= 1000, transport.summary);
    assert.equal(run.code, 1);
  });

  it('a router that rejects with a TCP reset: refused at once', async () => {
    const run = await doctor(`${A.server}:7003`);
    const transport = layerCheck(targetChecks(run, A.server, 7003), 'transport');
    assert.deepEqual(
      [transport.status, transport.reason, transport.evidence.errno],
      ['fail', 'refused', 'ECONNREFUSED'],
    );
    assert.ok(Number(transport.evidence.elapsedMs) < 1000, transport.summary);
    assert.equal(run.code, 1);
  });

  it('ICMP rejects: host-unreachable and admin-prohibited are unreachable, net-unreachable no-route, port-unreachable refused', async () => {
    const run = await doctor(
      ...[7004, 7005, 7006, 7007].map((port) => `${A.server}:${String(port)}`),
    );
    const seen = [7004, 7005, 7006, 7007].map((port) => {
      const transport = layerCheck(targetChecks(run, A.server, port), 'transport');
      return [port, transport.reason, transport.evidence.errno];
    });
    assert.deepEqual(seen, [
      [7004, 'unreachable', 'EHOSTUNREACH'],
      [7005, 'unreachable', 'EHOSTUNREACH'],
      [7006, 'no-route', 'ENETUNREACH'],
      [7007, 'refused', 'ECONNREFUSED'],
    ]);
    // The client's own route is fine: the router answered for the network.
    assert.equal(layerCheck(targetChecks(run, A.server, 7006), 'route').reason, 'routed');
    assert.equal(run.code, 1);
  });

  it('no route in the client: no-route at the route layer and at the transport', async () => {
    const run = await doctor(`${A.unrouted}:7001`);
    const checks = targetChecks(run, A.unrouted, 7001);
    assert.deepEqual(outline(checks), [
      ['dns', 'pass', 'resolved'],
      ['route', 'fail', 'no-route'],
      ['transport', 'fail', 'no-route'],
      ['tls', 'skip', 'not-checked'],
      ['protocol', 'skip', 'not-checked'],
    ]);
    assert.equal(layerCheck(checks, 'route').evidence.routeType, 'none');
    assert.equal(layerCheck(checks, 'transport').evidence.errno, 'ENETUNREACH');
    assert.equal(run.code, 1);
  });

  it('unreachable, prohibit and blackhole routes: named at the route layer, with what the connect got', async () => {
    const run = await doctor(...Object.values(REFUSING_ROUTES).map((address) => `${address}:7001`));
    const seen = Object.entries(REFUSING_ROUTES).map(([type, address]) => {
      const checks = targetChecks(run, address, 7001);
      const route = layerCheck(checks, 'route');
      const transport = layerCheck(checks, 'transport');
      return [
        type,
        route.reason,
        route.evidence.routeType,
        transport.reason,
        transport.evidence.errno,
      ];
    });
    // The connect's errno per route type, as Node reports it on Linux 6.18.
    assert.deepEqual(seen, [
      ['unreachable', 'no-route', 'unreachable', 'unreachable', 'EHOSTUNREACH'],
      ['prohibit', 'no-route', 'prohibit', 'filtered', 'EACCES'],
      ['blackhole', 'no-route', 'blackhole', 'unreachable', 'EINVAL'],
    ]);
    assert.equal(run.code, 1);
  });

  it('a name the resolver cannot find: dns-failure, fast, and nothing after it', async () => {
    const run = await doctor('missing.lab:7001');
    const checks = targetChecks(run, 'missing.lab', 7001);
    assert.deepEqual(outline(checks), [
      ['dns', 'fail', 'dns-failure'],
      ['route', 'skip', 'not-checked'],
      ['transport', 'skip', 'not-checked'],
      ['tls', 'skip', 'not-checked'],
      ['protocol', 'skip', 'not-checked'],
    ]);
    const dns = layerCheck(checks, 'dns');
    assert.ok(['EAI_AGAIN', 'ENOTFOUND'].includes(String(dns.evidence.errno)), dns.summary);
    assert.ok(Number(dns.evidence.elapsedMs) < 1500, dns.summary);
    assert.equal(run.code, 1);
  });

  it('a mesh sidecar demanding mutual TLS on the shuffle port: mesh-mtls with its SPIFFE identity', async () => {
    const run = await doctor(`${A.server}:7337=spark-shuffle`);
    const checks = targetChecks(run, A.server, 7337);
    const tls = layerCheck(checks, 'tls');
    assert.deepEqual(
      [layerCheck(checks, 'transport').reason, tls.status, tls.reason],
      ['open', 'fail', 'mesh-mtls'],
    );
    assert.equal(tls.evidence.spiffeId, SPIFFE_ID);
    assert.equal(layerCheck(checks, 'protocol').status, 'skip');
    assert.equal(run.code, 1);
  });

  it('a plain TLS server on the plaintext master port: tls-required', async () => {
    const run = await doctor(`${A.server}:7077=spark-master`);
    const checks = targetChecks(run, A.server, 7077);
    const tls = layerCheck(checks, 'tls');
    assert.deepEqual([tls.status, tls.reason], ['warn', 'tls-required']);
    assert.equal(tls.evidence.spiffeId, undefined);
    // The protocol probe then runs inside TLS and meets a server that never answers Spark RPC.
    const protocol = layerCheck(checks, 'protocol');
    assert.notEqual(protocol.status, 'pass', protocol.summary);
    // `timeout` only when a slow machine leaves the probe less than its conclusive wait.
    assert.ok(['no-answer', 'timeout'].includes(protocol.reason), protocol.summary);
    // A warning alone exits 0; the silent service is a failure.
    assert.equal(run.code, protocol.status === 'fail' ? 1 : 0);
  });

  it('a redirecting sidecar with nothing behind it: reset-after-connect', async () => {
    const run = await doctor(`${A.server}:7400=spark-shuffle`);
    const transport = layerCheck(targetChecks(run, A.server, 7400), 'transport');
    assert.deepEqual([transport.status, transport.reason], ['fail', 'reset-after-connect']);
    assert.equal(transport.evidence.errno, 'ECONNRESET');
    assert.equal(run.code, 1);
  });

  it('an Envoy HTTP listener on the binary shuffle port: wrong-protocol naming HTTP and envoy', async () => {
    const run = await doctor(`${A.server2}:7337=spark-shuffle`);
    const checks = targetChecks(run, A.server2, 7337);
    const protocol = layerCheck(checks, 'protocol');
    assert.deepEqual([protocol.status, protocol.reason], ['fail', 'wrong-protocol']);
    assert.match(protocol.summary, /HTTP/);
    assert.match(protocol.summary, /envoy/);
    assert.equal(layerCheck(checks, 'tls').reason, 'plaintext');
    assert.equal(run.code, 1);
  });
});

function files(certificate: TestCertificate): { certFile: string; keyFile: string } {
  return { certFile: certificate.certFile, keyFile: certificate.keyFile };
}
