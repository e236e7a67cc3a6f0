// The one place where a failed connect becomes a doctor reason: Node's errno (or our own timer)
// and the time it took, read as the lab showed them (spec §2.1). Node cannot tell a TCP reset from
// an ICMP port-unreachable, so both are `refused`; silence until our timer is `filtered`.
import type { Reason } from '../model.ts';

export interface ConnectFailure {
  readonly reason: Extract<
    Reason,
    'refused' | 'filtered' | 'unreachable' | 'no-route' | 'reset-after-connect'
  >;
  /** What happened, for a sentence that begins "<host:port>: …". */
  readonly summary: string;
}

/** Linux answers an absent host on a routed subnet after ARP gives up, about 3 s. */
const ARP_TIMEOUT_MS = 2500;

/** Classifies a connect error by its errno (`undefined` = our timer fired first). */
export function classifyConnectError(errno: string | undefined, elapsedMs: number): ConnectFailure {
  switch (errno) {
    case undefined:
      return {
        reason: 'filtered',
        summary: `no answer to the connection request within ${ms(elapsedMs)}: something on the path drops it silently (security group, NSG, network ACL, firewall), or the answer never comes back`,
      };
    case 'ETIMEDOUT':
      return {
        reason: 'filtered',
        summary: `the kernel gave up connecting after ${ms(elapsedMs)} without an answer (ETIMEDOUT): the connection request or its answer is dropped silently`,
      };
    case 'ECONNREFUSED':
      return {
        reason: 'refused',
        summary: `refused in ${ms(elapsedMs)} (ECONNREFUSED): the host, or a firewall rejecting with a reset or ICMP port-unreachable, answered that nothing accepts connections on this port`,
      };
    case 'EHOSTUNREACH':
      return {
        reason: 'unreachable',
        summary:
          elapsedMs >= ARP_TIMEOUT_MS
            ? `host unreachable after ${ms(elapsedMs)} (EHOSTUNREACH): the last router could not find the host (ARP failed); the address is not in use or the host is down`
            : `host unreachable in ${ms(elapsedMs)} (EHOSTUNREACH): a router or firewall answered with ICMP host-unreachable or administratively-prohibited`,
      };
    case 'ENETUNREACH':
      return {
        reason: 'no-route',
        summary: `network unreachable in ${ms(elapsedMs)} (ENETUNREACH): there is no route to this address, in this machine's routing table or at a router (ICMP net-unreachable)`,
      };
    case 'EADDRNOTAVAIL':
      return {
        reason: 'no-route',
        summary: `this machine has no usable source address or port for this destination (EADDRNOTAVAIL): a bad local address, or ephemeral ports exhausted`,
      };
    case 'EPERM':
    case 'EACCES':
      return {
        reason: 'filtered',
        summary: `this machine refused to send the connection request (${errno}): a local firewall rule (OUTPUT chain) or security policy blocks it`,
      };
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
      return {
        reason: 'reset-after-connect',
        summary: `the connection was accepted and reset at once (${errno}, ${ms(elapsedMs)}): typically a proxy or sidecar that intercepts the port and has nothing behind it`,
      };
    default:
      return {
        reason: 'unreachable',
        summary: `the connection failed after ${ms(elapsedMs)} (${errno})`,
      };
  }
}

/** The resolver's answer as a sentence. */
export function describeDnsError(errno: string): string {
  switch (errno) {
    case 'ENOTFOUND':
      return 'the name does not exist or has no address (ENOTFOUND)';
    case 'EAI_AGAIN':
      return 'the resolver did not answer or failed temporarily (EAI_AGAIN)';
    case 'ENODATA':
      return 'the name exists but has no address records (ENODATA)';
    case 'ESERVFAIL':
      return 'the DNS server failed to answer (ESERVFAIL)';
    case 'ETIMEOUT':
      return 'no answer from the resolver in time';
    default:
      return `the lookup failed (${errno})`;
  }
}

export function ms(value: number): string {
  return `${String(Math.round(value))} ms`;
}
