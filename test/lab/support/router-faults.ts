// Faults on the three-namespace router that the doctor's two-ended checks are built against: a
// masquerading NAT whose flows expire when idle, and an MTU blackhole. The packet-level proofs
// (path-topologies.test.ts) and the doctor's verdicts (doctor-agent.test.ts) stand on the same
// faults, so a verdict test that passes is about the topology the proofs describe.
import type { Lab } from './lab.ts';
import { LAB_ADDRESSES, type ThreeNamespaces } from './three-namespaces.ts';

/** The hop MTU of the blackhole towards LAB_ADDRESSES.server2. */
export const BLACKHOLE_MTU = 1280;

/**
 * Masquerades the client's connections to `ports` on the router and lets an established flow's
 * conntrack entry expire after `idleSeconds`. Loose pickup is off, so the next packet of an expired
 * flow is INVALID (what the caller's `ct state invalid` rules drop or reset) instead of being
 * adopted as a new flow.
 */
export async function natWithIdleExpiry(
  lab: Lab,
  net: ThreeNamespaces,
  ports: readonly number[],
  idleSeconds: number,
): Promise<void> {
  const list = ports.map(String).join(', ');
  await lab.nft(
    net.router,
    `table ip lab_nat {\n  chain out_nat {\n    type nat hook postrouting priority 100;\n    oifname "r1" tcp dport { ${list} } masquerade\n  }\n}\n`,
  );
  await lab.sysctl(net.router, {
    'net.netfilter.nf_conntrack_tcp_timeout_established': idleSeconds,
    'net.netfilter.nf_conntrack_tcp_loose': 0,
  });
}

/**
 * A BLACKHOLE_MTU-byte hop from the router to the second server address whose ICMP frag-needed
 * never leaves the router: small writes pass, large ones stall.
 */
export async function mtuBlackhole(lab: Lab, net: ThreeNamespaces): Promise<void> {
  await lab.run(net.router, [
    'ip',
    'route',
    'replace',
    `${LAB_ADDRESSES.server2}/32`,
    'dev',
    'r1',
    'mtu',
    String(BLACKHOLE_MTU),
  ]);
  await lab.nft(
    net.router,
    'table inet lab_icmp {\n  chain icmp_out {\n    type filter hook output priority 0;\n    icmp type destination-unreachable icmp code frag-needed drop\n  }\n}\n',
  );
}

/** Heals the blackhole's ICMP: frag-needed reaches the client, which learns the path MTU. */
export async function letFragNeededThrough(lab: Lab, net: ThreeNamespaces): Promise<void> {
  await lab.run(net.router, ['nft', 'delete table inet lab_icmp']);
}
