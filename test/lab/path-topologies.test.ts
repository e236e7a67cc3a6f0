// The lab topologies behind the doctor's two-ended verdicts, each proven at the packet level:
// a stateless ACL on the router that drops the server's answers to ephemeral ports (the server
// holds SYN_RECV for the very 4-tuple the client has in SYN_SENT; a low source port gets
// through), masquerade NAT (the server sees the router's address), a NAT whose conntrack entries
// expire after a few idle seconds (a silent flow dies, keepalive saves it), and an MTU blackhole
// (a 1280-byte hop whose ICMP frag-needed is dropped: small writes pass, large ones stall; with the
// ICMP let through, the doctor's route layer shows the path MTU the client learned).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { layerCheck, runDoctor, targetChecks } from './support/doctor-cli.ts';
import { labTestOptions } from './support/lab-host.ts';
import { createLab, type Lab } from './support/lab.ts';
import {
  BLACKHOLE_MTU,
  letFragNeededThrough,
  mtuBlackhole,
  natWithIdleExpiry,
} from './support/router-faults.ts';
import { tcpTable } from './support/tcp-table.ts';
import {
  buildThreeNamespaces,
  LAB_ADDRESSES as A,
  startLabServers,
  type ThreeNamespaces,
} from './support/three-namespaces.ts';

const PORTS = { direct: 7001, returnPath: 7008, nat: 7011, natIdle: 7012, mtu: 7020 } as const;
const CONNTRACK_ESTABLISHED_S = 3;

interface ClientResult {
  readonly ms: number;
  readonly [key: string]: unknown;
}

describe(
  'lab topologies for two-ended checks, proven at the packet level',
  labTestOptions(),
  () => {
    let lab: Lab | undefined;
    let net: ThreeNamespaces | undefined;

    const built = (): { lab: Lab; net: ThreeNamespaces } => {
      assert.ok(lab !== undefined && net !== undefined, 'the lab was built');
      return { lab, net };
    };

    /** Runs the packet-level client in the client namespace and returns its JSON line. */
    const client = async (request: Record<string, unknown>): Promise<ClientResult> => {
      const { lab, net } = built();
      const script = new URL('./support/lab-client.ts', import.meta.url).pathname;
      const { stdout } = await lab.run(net.client, [
        process.execPath,
        script,
        JSON.stringify(request),
      ]);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      return JSON.parse(last) as ClientResult;
    };

    before(async () => {
      lab = await createLab();
      net = await buildThreeNamespaces(lab);
      await startLabServers(lab, net.server, [
        ...[PORTS.direct, PORTS.returnPath, PORTS.nat, PORTS.natIdle].map((port) => ({
          kind: 'echo' as const,
          host: A.server,
          port,
        })),
        { kind: 'echo', host: A.server2, port: PORTS.mtu },
      ]);
      // A stateless ACL: the server's answers from 7008 to ephemeral ports never pass.
      await net.routerRule(
        `ip saddr ${A.server} tcp sport ${String(PORTS.returnPath)} tcp dport 5001-65535 drop`,
      );
      // NAT for two ports; after its conntrack entry expires, a flow's next packet is INVALID.
      await natWithIdleExpiry(lab, net, [PORTS.nat, PORTS.natIdle], CONNTRACK_ESTABLISHED_S);
      await net.routerRule(`ct state invalid tcp dport ${String(PORTS.natIdle)} drop`);
      await mtuBlackhole(lab, net);
    });

    after(async () => {
      const made = lab;
      if (made === undefined) return;
      await made.teardown();
      assert.deepEqual(await made.leftovers(), [], 'the lab left nothing behind');
    });

    it('return-path drop: the client times out while the server holds SYN_RECV for its 4-tuple; source port 4000 connects', async () => {
      const { lab, net } = built();
      const script = new URL('./support/lab-client.ts', import.meta.url).pathname;
      const pending = lab.start(net.client, [
        process.execPath,
        script,
        JSON.stringify({ op: 'connect', host: A.server, port: PORTS.returnPath, timeoutMs: 2500 }),
      ]);
      const local = (await pending.waitForLine(/^PENDING /)).replace(/^PENDING /, '');
      const [serverSide, clientSide] = await Promise.all([
        tcpTable(lab, net.server),
        tcpTable(lab, net.client),
      ]);
      const remote = `${A.server}:${String(PORTS.returnPath)}`;
      assert.ok(
        serverSide.some(
          (entry) => entry.state === 'SYN_RECV' && entry.remote === local && entry.local === remote,
        ),
        `the server holds SYN_RECV from ${local}: ${JSON.stringify(serverSide)}`,
      );
      assert.ok(
        clientSide.some(
          (entry) => entry.state === 'SYN_SENT' && entry.local === local && entry.remote === remote,
        ),
        `the client is in SYN_SENT from ${local}: ${JSON.stringify(clientSide)}`,
      );
      const outcome = JSON.parse(await pending.waitForLine(/^\{/, 5000)) as ClientResult;
      assert.equal(outcome.outcome, 'timeout');
      await pending.stop();

      const low = await client({
        op: 'connect',
        host: A.server,
        port: PORTS.returnPath,
        timeoutMs: 2500,
        localPort: 4000,
      });
      assert.equal(low.outcome, 'connected', JSON.stringify(low));
      assert.equal(low.local, `${A.client}:4000`);
    });

    it('masquerade NAT: the server sees the router, not the client; without NAT it sees the client', async () => {
      const natted = await client({ op: 'who', host: A.server, port: PORTS.nat });
      assert.equal(
        String(natted.peerSeen).split(':')[0],
        A.routerServerSide,
        JSON.stringify(natted),
      );
      assert.equal(String(natted.local).split(':')[0], A.client);
      const direct = await client({ op: 'who', host: A.server, port: PORTS.direct });
      assert.equal(String(direct.peerSeen).split(':')[0], A.client, JSON.stringify(direct));
    });

    it(`NAT idle timeout (conntrack ${String(CONNTRACK_ESTABLISHED_S)} s): a silent flow dies without a word, keepalive keeps it`, async () => {
      const idle = { op: 'idle', host: A.server, port: PORTS.natIdle, idleMs: 5000, waitMs: 1500 };
      const [silent, kept] = await Promise.all([
        client(idle),
        client({ ...idle, keepAliveMs: 1000 }),
      ]);
      assert.deepEqual(
        [silent.before, silent.after, silent.error],
        [true, false, null],
        JSON.stringify(silent),
      );
      assert.deepEqual([kept.before, kept.after], [true, true], JSON.stringify(kept));
    });

    it('MTU blackhole: 100 and 1200 bytes echo, 1400 stalls; with frag-needed let through, the route layer shows MTU 1280', async () => {
      const { lab, net } = built();
      const blackholed = await client({
        op: 'echo',
        host: A.server2,
        port: PORTS.mtu,
        sizes: [100, 1200, 1400, 8000],
        stepMs: 1500,
      });
      assert.deepEqual(
        (blackholed.steps as { size: number; received: number }[]).map((step) => [
          step.size,
          step.received >= step.size,
        ]),
        [
          [100, true],
          [1200, true],
          [1400, false],
        ],
      );

      await letFragNeededThrough(lab, net);
      const healed = await client({
        op: 'echo',
        host: A.server2,
        port: PORTS.mtu,
        sizes: [100, 1400, 65536],
        stepMs: 3000,
      });
      assert.deepEqual(
        (healed.steps as { size: number; received: number }[]).map(
          (step) => step.received >= step.size,
        ),
        [true, true, true],
        JSON.stringify(healed),
      );
      const run = await runDoctor(lab, net.client, [
        `${A.server2}:${String(PORTS.mtu)}`,
        '--timeout',
        '2s',
      ]);
      const route = layerCheck(targetChecks(run, A.server2, PORTS.mtu), 'route');
      assert.equal(route.evidence.pathMtu, BLACKHOLE_MTU, route.summary);
      assert.match(route.summary, new RegExp(`path MTU of ${String(BLACKHOLE_MTU)}`));
    });
  },
);
