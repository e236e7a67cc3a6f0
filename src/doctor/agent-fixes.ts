// The fixes for what only an agent on the far end can prove (spec §5.3): NAT on a path that should
// keep private addresses, a return path that drops the answers, a path MTU blackhole. Angle
// brackets hold what the doctor cannot know (ACL ids, route tables, CIDRs).
import type { Fix } from './model.ts';

export function fixNat(ourAddress: string, seenAddress: string, peer: string): Fix {
  return {
    summary:
      `The agent on ${peer} sees ${seenAddress} instead of ${ourAddress}: the traffic leaves through a NAT ` +
      'gateway or a masquerading router instead of the private route. Route the peer network through ' +
      'the VPC peering or Transit Gateway attachment (both keep private addresses), or allow the NAT ' +
      "address wherever the peer's rules name this node's address.",
    snippets: [
      {
        platform: 'aws-cli',
        text:
          'aws ec2 describe-route-tables --filters Name=association.subnet-id,Values=<source-subnet-id>\n' +
          'aws ec2 create-route --route-table-id <source-route-table-id> --destination-cidr-block <peer-cidr> --vpc-peering-connection-id <pcx-id>\n' +
          '# or via a Transit Gateway: --transit-gateway-id <tgw-id>',
      },
      {
        platform: 'shell',
        text: `ip route get ${peer.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')}`,
      },
    ],
  };
}

export function fixReturnPath(peer: string, ourAddress: string): Fix {
  return {
    summary:
      `The agent on ${peer} received the SYN and answered; the answer never came back to ${ourAddress}. ` +
      'A stateless ACL (AWS network ACLs, some on-premises or NVA ACLs) drops return traffic to ' +
      'ephemeral ports, or the route back goes another way (asymmetric routing). Allow TCP 1024–65535 ' +
      "outbound on the destination subnet's ACL towards this address, and inbound on this subnet's ACL; " +
      "check that the destination's route back to this network uses the same path.",
    snippets: [
      {
        platform: 'aws-cli',
        text:
          `aws ec2 create-network-acl-entry --network-acl-id <destination-subnet-acl-id> --rule-number 120 --egress --protocol tcp --port-range From=1024,To=65535 --cidr-block ${ourAddress}/32 --rule-action allow\n` +
          `aws ec2 create-network-acl-entry --network-acl-id <source-subnet-acl-id> --rule-number 120 --ingress --protocol tcp --port-range From=1024,To=65535 --cidr-block <destination-cidr> --rule-action allow`,
      },
      {
        platform: 'shell',
        text: 'ss -tn state syn-recv    # on the destination: the stuck handshakes\nss -tn state syn-sent    # here, at the same time',
      },
    ],
  };
}

export function fixMtuBlackhole(lastOk: number | undefined, stalled: number): Fix {
  const around =
    lastOk === undefined
      ? `${String(stalled)} bytes`
      : `${String(lastOk)}–${String(stalled)} bytes`;
  return {
    summary:
      `Transfers above ${around} stall: packets too big for a hop are dropped and the ICMP "fragmentation ` +
      'needed" that would tell the sender is blocked, so Path MTU discovery fails. Allow ICMP type 3 code 4 ' +
      'in both directions in network ACLs and firewalls; or clamp the TCP MSS on the router, lower the ' +
      'interface MTU to what the path carries (1500 across internet gateways, VPN and inter-region ' +
      'peering; 8500 through a Transit Gateway), or let Linux find it with tcp_mtu_probing=1.',
    snippets: [
      {
        platform: 'aws-cli',
        text:
          'aws ec2 create-network-acl-entry --network-acl-id <acl-id> --rule-number 90 --ingress --protocol icmp --icmp-type-code Type=3,Code=4 --cidr-block <peer-cidr> --rule-action allow\n' +
          'aws ec2 create-network-acl-entry --network-acl-id <acl-id> --rule-number 90 --egress --protocol icmp --icmp-type-code Type=3,Code=4 --cidr-block <peer-cidr> --rule-action allow',
      },
      {
        platform: 'sysctl',
        text: 'sysctl -w net.ipv4.tcp_mtu_probing=1\nip link set dev <interface> mtu 1500',
      },
      {
        platform: 'shell',
        text: 'iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu',
      },
    ],
  };
}
