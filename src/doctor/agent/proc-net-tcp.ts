// Reading the kernel's TCP tables, /proc/net/tcp and /proc/net/tcp6, for the half-open
// connections (SYN_RECV: our SYN-ACK went out, the final ACK never came back) and unanswered
// connects (SYN_SENT) that prove a return-path drop from both ends. Addresses are hex, each
// 32-bit word in host (little-endian) order; ports are hex in network order.
import { readFile } from 'node:fs/promises';
import type { AddressPort } from './messages.ts';

/** The states the return-path proof needs, by their /proc code. */
export const TCP_STATES = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '0A': 'LISTEN',
} as const;
export type TcpStateName = (typeof TCP_STATES)[keyof typeof TCP_STATES] | 'OTHER';

export interface TcpEntry {
  readonly local: AddressPort;
  readonly remote: AddressPort;
  readonly state: TcpStateName;
}

/** Both tables' text; the doctor and the agent read them through this so tests can feed lines. */
export type ReadTcpTables = () => Promise<string>;

export const readProcTcpTables: ReadTcpTables = async () => {
  const parts = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => '')),
  );
  return parts.join('\n');
};

/** Every connection line of the tables; headers and lines of another shape are passed over. */
export function parseTcpTable(text: string): TcpEntry[] {
  const entries: TcpEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || !/^\d+:$/.test(fields[0] ?? '')) continue;
    const local = decodeEndpoint(fields[1] ?? '');
    const remote = decodeEndpoint(fields[2] ?? '');
    if (local === undefined || remote === undefined) continue;
    const code = (fields[3] ?? '').toUpperCase();
    const state: TcpStateName =
      code in TCP_STATES ? TCP_STATES[code as keyof typeof TCP_STATES] : 'OTHER';
    entries.push({ local, remote, state });
  }
  return entries;
}

/** `0100007F:1CA9` → 127.0.0.1:7337; 32 hex digits for IPv6. */
export function decodeEndpoint(text: string): AddressPort | undefined {
  const match = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):([0-9A-Fa-f]{4})$/.exec(text);
  if (match === null) return undefined;
  const hex = match[1] ?? '';
  const port = Number.parseInt(match[2] ?? '', 16);
  return { address: hex.length === 8 ? decodeIpv4(hex) : decodeIpv6(hex), port };
}

function wordBytes(hex: string): number[] {
  // One 32-bit word stored little-endian: its first byte in memory is the last hex pair.
  const bytes: number[] = [];
  for (let index = 6; index >= 0; index -= 2)
    bytes.push(Number.parseInt(hex.slice(index, index + 2), 16));
  return bytes;
}

function decodeIpv4(hex: string): string {
  return wordBytes(hex).join('.');
}

function decodeIpv6(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < 4; word += 1)
    bytes.push(...wordBytes(hex.slice(word * 8, word * 8 + 8)));
  // An IPv4 client of a dual-stack listener: ::ffff:a.b.c.d, written the way Node writes it.
  if (bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff)
    return `::ffff:${bytes.slice(12).join('.')}`;
  const groups: string[] = [];
  for (let index = 0; index < 16; index += 2)
    groups.push((((bytes[index] ?? 0) << 8) | (bytes[index + 1] ?? 0)).toString(16));
  return compressIpv6(groups);
}

/** The longest run of two or more zero groups becomes `::` (RFC 5952). */
function compressIpv6(groups: readonly string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < groups.length;) {
    if (groups[start] !== '0') {
      start += 1;
      continue;
    }
    let end = start;
    while (end < groups.length && groups[end] === '0') end += 1;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  if (bestStart === -1) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** An address as Node reports it for the same peer: IPv4-mapped IPv6 reads as plain IPv4. */
export function plainAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

export function sameEndpoint(a: AddressPort, b: AddressPort): boolean {
  return a.port === b.port && plainAddress(a.address) === plainAddress(b.address);
}
