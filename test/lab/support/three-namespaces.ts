// The lab's usual topology (spec §4.3): a client and a server namespace joined by a router
// namespace that forwards between two subnets and filters in nftables. Client and server route
// only 10.231.0.0/16 through the router, so nothing can leave the lab; the client's resolver is
// a lab address with nothing listening, so a name that is not in its hosts file fails at once.
//
//   client  c0 10.231.1.2/24 ── r0 10.231.1.1/24  router  r1 10.231.2.1/24 ── s0 10.231.2.2/24  server
//                                                 (ip_forward,              10.231.2.3/24
//                                                  table inet lab)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from './lab.ts';
import type { LabProcess } from './lab-process.ts';

export const LAB_ADDRESSES = {
  client: '10.231.1.2',
  routerClientSide: '10.231.1.1',
  routerServerSide: '10.231.2.1',
  server: '10.231.2.2',
  /** A second server address, for a second listener on the same port. */
  server2: '10.231.2.3',
  /** A subnet nothing in the lab routes to. */
  unrouted: '10.232.0.9',
} as const;

/** The name the client's hosts file gives the server. */
export const SERVER_NAME = 'spark-server.lab';

export interface ThreeNamespaces {
  readonly client: string;
  readonly router: string;
  readonly server: string;
  /** Files to bind over the client's /etc/resolv.conf and /etc/hosts. */
  readonly clientFiles: Readonly<Record<string, string>>;
  /** Adds a rule to the router's forward chain, e.g. `tcp dport 7002 drop`. */
  routerRule(rule: string): Promise<void>;
}

export async function buildThreeNamespaces(lab: Lab): Promise<ThreeNamespaces> {
  const a = LAB_ADDRESSES;
  const client = await lab.namespace('c');
  const router = await lab.namespace('r');
  const server = await lab.namespace('s');
  await lab.veth(
    { namespace: client, name: 'c0', addresses: [`${a.client}/24`] },
    { namespace: router, name: 'r0', addresses: [`${a.routerClientSide}/24`] },
  );
  await lab.veth(
    { namespace: server, name: 's0', addresses: [`${a.server}/24`, `${a.server2}/24`] },
    { namespace: router, name: 'r1', addresses: [`${a.routerServerSide}/24`] },
  );
  await lab.run(client, ['ip', 'route', 'add', '10.231.0.0/16', 'via', a.routerClientSide]);
  await lab.run(server, ['ip', 'route', 'add', '10.231.0.0/16', 'via', a.routerServerSide]);
  // ICMP errors are rate limited per peer by default; the cases send several in a second.
  await lab.sysctl(router, { 'net.ipv4.ip_forward': 1, 'net.ipv4.icmp_ratelimit': 0 });
  // nft: `forward` is a keyword, so the chain has another name.
  await lab.nft(
    router,
    'table inet lab {\n  chain pass_through {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n',
  );

  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-lab-'));
  lab.defer(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const resolv = join(dir, 'resolv.conf');
  const hosts = join(dir, 'hosts');
  writeFileSync(resolv, `nameserver ${a.routerClientSide}\noptions timeout:1 attempts:1\n`);
  writeFileSync(hosts, `127.0.0.1 localhost\n::1 localhost\n${a.server} ${SERVER_NAME}\n`);
  return {
    client,
    router,
    server,
    clientFiles: { '/etc/resolv.conf': resolv, '/etc/hosts': hosts },
    async routerRule(rule) {
      await lab.run(router, ['nft', `add rule inet lab pass_through ${rule}`]);
    },
  };
}

export interface ListenerSpec {
  readonly kind: 'echo' | 'http' | 'envoy' | 'tls' | 'reset';
  readonly host: string;
  readonly port: number;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly requestCert?: boolean;
}

/** Starts the lab servers in a namespace and waits until every listener listens. */
export async function startLabServers(
  lab: Lab,
  namespace: string,
  listeners: readonly ListenerSpec[],
): Promise<LabProcess> {
  const script = new URL('./lab-server.ts', import.meta.url).pathname;
  const started = lab.start(namespace, [process.execPath, script, JSON.stringify(listeners)]);
  await started.waitForLine(/^READY$/);
  return started;
}
