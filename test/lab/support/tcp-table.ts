// /proc/net/tcp as a namespace sees it: the kernel's TCP sockets with their states, read to prove
// what a peer saw (a SYN_RECV for the client's 4-tuple is a return-path drop, spec §3.1).
// Addresses are hex of the 32-bit word in host (little-endian) order; ports are big-endian hex.
import type { Lab } from './lab.ts';

export const TCP_STATES: Readonly<Record<string, string>> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

export interface TcpEntry {
  readonly local: string;
  readonly remote: string;
  readonly state: string;
}

function endpoint(hex: string): string {
  const [address = '', port = ''] = hex.split(':');
  const octets = [6, 4, 2, 0].map((at) => parseInt(address.slice(at, at + 2), 16));
  return `${octets.join('.')}:${String(parseInt(port, 16))}`;
}

export function parseTcpTable(text: string): TcpEntry[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 3)
    .map((fields) => ({
      local: endpoint(fields[1] ?? ''),
      remote: endpoint(fields[2] ?? ''),
      state: TCP_STATES[fields[3] ?? ''] ?? `0x${fields[3] ?? '?'}`,
    }));
}

export async function tcpTable(lab: Lab, namespace: string): Promise<TcpEntry[]> {
  const { stdout } = await lab.run(namespace, ['cat', '/proc/net/tcp']);
  return parseTcpTable(stdout);
}
