// The doctor's two-ended verdicts, asserted through `sparkplane doctor … =agent --json` in the
// client namespace against a real `sparkplane doctor agent` in the server namespace (and one in
// the client namespace for the matrix): the return-path drop (part of the ephemeral range and all
// of it) told from a forward drop, NAT, idle expiry behind NAT (silent and with a reset), and the
// MTU blackhole with its healed control. The topologies are the ones path-topologies.test.ts
// proves at the packet level.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Check } from '../../src/doctor/model.ts';
import { layerCheck, runDoctor, targetChecks, type DoctorRun } from './support/doctor-cli.ts';
import { labTestOptions } from './support/lab-host.ts';
import type { LabProcess } from './support/lab-process.ts';
import { createLab, type Lab } from './support/lab.ts';
import {
  BLACKHOLE_MTU,
  letFragNeededThrough,
  mtuBlackhole,
  natWithIdleExpiry,
} from './support/router-faults.ts';
import {
  buildThreeNamespaces,
  LAB_ADDRESSES as A,
  type ThreeNamespaces,
} from './support/three-namespaces.ts';

const SPARKPLANE = fileURLToPath(new URL('../../bin/sparkplane', import.meta.url));
const PORTS = {
  direct: 7001,
  partialReturnDrop: 7008,
  idleSilent: 7011,
  idleReset: 7012,
  matrixAgents: 7013,
  wholeReturnDrop: 7014,
  forwardDrop: 7015,
} as const;
const CONNTRACK_ESTABLISHED_S = 3;

function byId(checks: readonly Check[], id: string): Check {
  const found = checks.find((check) => check.id === id);
  assert.ok(found !== undefined, `no ${id} check in ${JSON.stringify(checks, null, 2)}`);
  return found;
}

describe('sparkplane doctor with agents in a network-namespace lab', labTestOptions(), () => {
  let lab: Lab | undefined;
  let net: ThreeNamespaces | undefined;
  let serverAgent: LabProcess | undefined;

  const built = (): { lab: Lab; net: ThreeNamespaces } => {
    assert.ok(lab !== undefined && net !== undefined, 'the lab was built');
    return { lab, net };
  };
  const doctor = (...args: string[]): Promise<DoctorRun> => {
    const { lab, net } = built();
    return runDoctor(lab, net.client, args);
  };
  const startAgent = async (
    namespace: string,
    name: string,
    ports: number[],
  ): Promise<LabProcess> => {
    const { lab } = built();
    const agent = lab.start(namespace, [
      SPARKPLANE,
      'doctor',
      'agent',
      '--listen',
      ports.join(','),
      '--name',
      name,
      '--log-format',
      'json',
    ]);
    await agent.waitForLine(/"msg":"doctor agent /, 20_000);
    return agent;
  };

  before(async () => {
    lab = await createLab();
    net = await buildThreeNamespaces(lab);
    const server = A.server;
    await net.routerRule(
      `ip saddr ${server} tcp sport ${String(PORTS.partialReturnDrop)} tcp dport 5001-65535 drop`,
    );
    await net.routerRule(`ip saddr ${server} tcp sport ${String(PORTS.wholeReturnDrop)} drop`);
    await net.routerRule(`tcp dport ${String(PORTS.forwardDrop)} drop`);
    await net.routerRule(`ct state invalid tcp dport ${String(PORTS.idleSilent)} drop`);
    await net.routerRule(
      `ct state invalid tcp dport ${String(PORTS.idleReset)} reject with tcp reset`,
    );
    await natWithIdleExpiry(lab, net, [PORTS.idleSilent, PORTS.idleReset], CONNTRACK_ESTABLISHED_S);
    await mtuBlackhole(lab, net);
    serverAgent = await startAgent(net.server, 'lab-s', Object.values(PORTS));
  });

  after(async () => {
    const made = lab;
    if (made === undefined) return;
    await made.teardown();
    assert.deepEqual(await made.leftovers(), [], 'the lab left nothing behind');
  });

  it('a clear path: protocol-ok, no NAT, the MTU ladder passes, exit 0', async () => {
    const run = await doctor(`${A.server}:${String(PORTS.direct)}=agent`, '--timeout', '4s');
    const checks = targetChecks(run, A.server, PORTS.direct);
    assert.equal(byId(checks, 'protocol.agent').reason, 'protocol-ok');
    assert.deepEqual(
      [byId(checks, 'route.nat').status, byId(checks, 'route.nat').reason],
      ['pass', 'no-nat'],
    );
    assert.deepEqual(
      [byId(checks, 'path-mtu.ladder').status, byId(checks, 'path-mtu.ladder').reason],
      ['pass', 'mtu-ok'],
    );
    assert.equal(run.code, 0, JSON.stringify(run.report.summary));
  });

  it('a stateless return drop of ports 5001-65535: return-path-blocked, both ends on one 4-tuple, a low source port connects', async () => {
    const port = PORTS.partialReturnDrop;
    const run = await doctor(`${A.server}:${String(port)}=agent`, '--timeout', '4s');
    const checks = targetChecks(run, A.server, port);
    assert.equal(layerCheck(checks, 'transport').reason, 'filtered');
    const proof = byId(checks, 'return-path.half-open');
    assert.deepEqual([proof.status, proof.reason], ['fail', 'return-path-blocked'], proof.summary);
    const theirs = String(proof.evidence.theirSynRecv);
    assert.ok(theirs.startsWith(`SYN_RECV ${A.server}:${String(port)} ← ${A.client}:`), theirs);
    const clientPort = /← [\d.]+:(\d+)/.exec(theirs)?.[1];
    assert.ok(
      String(proof.evidence.ourSynSent).includes(
        `SYN_SENT ${A.client}:${String(clientPort)} → ${A.server}:${String(port)}`,
      ),
      String(proof.evidence.ourSynSent),
    );
    assert.match(String(proof.evidence.confidence), /^high/);
    assert.match(String(proof.evidence.lowPortRetry), /^from source port \d+: connected/);
    assert.match(proof.summary, /only part of the ephemeral ports/);
    assert.match(
      serverAgent?.output() ?? '',
      new RegExp(
        `half-open connection from ${A.client.replaceAll('.', '\\.')}:${String(clientPort)}`,
      ),
    );
    assert.equal(run.code, 1);
  });

  it('a return drop of every port: return-path-blocked, and the low source port times out too', async () => {
    const port = PORTS.wholeReturnDrop;
    const run = await doctor(`${A.server}:${String(port)}=agent`, '--timeout', '4s');
    const proof = byId(targetChecks(run, A.server, port), 'return-path.half-open');
    assert.deepEqual([proof.status, proof.reason], ['fail', 'return-path-blocked'], proof.summary);
    assert.match(String(proof.evidence.lowPortRetry), /: timeout in/);
    assert.equal(run.code, 1);
  });

  it('a forward drop: filtered, and no half-open report, so the return-path proof is skipped', async () => {
    const port = PORTS.forwardDrop;
    const run = await doctor(`${A.server}:${String(port)}=agent`, '--timeout', '4s');
    const checks = targetChecks(run, A.server, port);
    assert.equal(layerCheck(checks, 'transport').reason, 'filtered');
    assert.equal(byId(checks, 'return-path.half-open').status, 'skip');
    assert.equal(run.code, 1);
  });

  it(`masquerade NAT whose flows expire after ${String(CONNTRACK_ESTABLISHED_S)} s idle: nat-detected, idle-timeout silent and with a reset, keepalive saves both`, async () => {
    const run = await doctor(
      `${A.server}:${String(PORTS.idleSilent)}=agent`,
      `${A.server}:${String(PORTS.idleReset)}=agent`,
      '--timeout',
      '4s',
      '--idle-probe',
      '5s',
    );
    const expected = [
      [PORTS.idleSilent, 'silent', /silent \(Azure\/GCP style\)/],
      [PORTS.idleReset, 'reset', /reset \(AWS style\)/],
    ] as const;
    for (const [port, fate, words] of expected) {
      const checks = targetChecks(run, A.server, port);
      const nat = byId(checks, 'route.nat');
      assert.deepEqual(
        [nat.status, nat.reason, nat.evidence.translation],
        ['warn', 'nat-detected', 'nat'],
        nat.summary,
      );
      assert.ok(String(nat.evidence.localAddress).startsWith(`${A.client}:`));
      assert.ok(String(nat.evidence.peerSeenAddress).startsWith(`${A.routerServerSide}:`));
      const idle = byId(checks, 'session.idle');
      assert.deepEqual([idle.status, idle.reason], ['fail', 'idle-timeout'], idle.summary);
      assert.equal(idle.evidence.withoutKeepalive, fate);
      assert.equal(idle.evidence.withKeepalive, 'answered');
      assert.match(idle.summary, words);
    }
    assert.equal(run.code, 1);
  });

  it('an MTU blackhole (1280-byte hop, frag-needed dropped): mtu-blackhole at 1400 bytes; with the ICMP let through, mtu-ok at 1280', async () => {
    const { lab, net } = built();
    const target = `${A.server2}:${String(PORTS.direct)}=agent`;
    const run = await doctor(target, '--timeout', '10s');
    const ladder = byId(targetChecks(run, A.server2, PORTS.direct), 'path-mtu.ladder');
    assert.deepEqual([ladder.status, ladder.reason], ['fail', 'mtu-blackhole'], ladder.summary);
    assert.equal(ladder.evidence.stalledSize, 1400);
    assert.equal(ladder.evidence.stalledDirection, 'to-agent');
    assert.match(String(ladder.evidence.passed), /1200 from-agent$/);
    assert.equal(run.code, 1);

    await letFragNeededThrough(lab, net);
    const healed = await doctor(target, '--timeout', '10s');
    const passed = byId(targetChecks(healed, A.server2, PORTS.direct), 'path-mtu.ladder');
    assert.deepEqual([passed.status, passed.reason], ['pass', 'mtu-ok'], passed.summary);
    assert.equal(passed.evidence.routeMtu, BLACKHOLE_MTU);
  });

  it('the matrix of two agents: the client row shows R towards the server, every other pair is clear', async () => {
    const { net } = built();
    await startAgent(net.client, 'lab-c', [PORTS.partialReturnDrop, PORTS.matrixAgents]);
    const run = await doctor(
      'matrix',
      '--nodes',
      `${A.client},${A.server}`,
      '--port',
      String(PORTS.partialReturnDrop),
      '--agent-port',
      String(PORTS.matrixAgents),
    );
    const matrix = run.report.matrix;
    assert.deepEqual(matrix?.rows, ['.R', '..'], JSON.stringify(run.report, null, 2));
    const pair = run.report.checks.find(
      (check) =>
        check.id === 'matrix.probe' &&
        check.source?.file === A.client &&
        check.target.host === A.server,
    );
    assert.equal(pair?.reason, 'return-path-blocked', JSON.stringify(pair));
    assert.equal(run.code, 1);
  });
});
