// Host and port as Spark's logs print them: Java's InetSocketAddress (`name/10.0.1.23:7337`,
// `/10.0.1.23:7337`, `name/<unresolved>:7337`, `/[::1]:7337`), plain `host:port`, and Spark's
// own `BlockManagerId(1, 10.0.1.23, 7337, None)`.

export interface LogAddress {
  /** The IP when the text has one, else the name. */
  readonly host: string;
  /** The host name when Java printed one in front of the IP. */
  readonly name?: string;
  readonly port: number;
  /** As the log wrote it. */
  readonly text: string;
}

// A host is a dotted IPv4, a bracketed IPv6 or a name starting with a letter, not glued to what
// comes before (so `05:23:48` or `…21T05:24` in a timestamp is no address); the port must not run
// on into more digits or dots (`ipv4:127.0.0.1:43359` yields the IP, not `ipv4:127`).
const ADDRESS =
  /(?<![A-Za-z0-9.-])(?:([A-Za-z0-9][A-Za-z0-9.-]*)?\/)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.%]+\]|<unresolved>|[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*):(\d{1,5})(?![\d.])/g;
const SOURCE_FILE = /\.(java|scala|py|kt|groovy|js|ts)$/i;

/** Every address in a line, in order; stack frames (`at x(Foo.java:42)`) have none. */
export function addressesIn(line: string): LogAddress[] {
  if (/^\s+at\s/.test(line)) return [];
  const found: LogAddress[] = [];
  for (const match of line.matchAll(ADDRESS)) {
    const address = fromMatch(match);
    if (address !== undefined) found.push(address);
  }
  return found;
}

/** The first address in `text`, or undefined. */
export function firstAddress(text: string): LogAddress | undefined {
  return addressesIn(text)[0];
}

function fromMatch(match: RegExpMatchArray): LogAddress | undefined {
  const [text, prefixName, hostText = '', portText = ''] = match;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  if (SOURCE_FILE.test(hostText)) return undefined;
  const name = prefixName !== undefined && prefixName !== '' ? prefixName : undefined;
  const host =
    hostText === '<unresolved>' ? (name ?? '') : hostText.replace(/^\[/, '').replace(/\]$/, '');
  if (host === '') return undefined;
  return name === undefined || name === host ? { host, port, text } : { host, name, port, text };
}

/** `BlockManagerId(execId, host, port, topologyInfo)`. */
export function blockManagerIn(
  line: string,
): { executorId: string; address: LogAddress } | undefined {
  const match = /BlockManagerId\(([^,()]+),\s*([^,()\s]+),\s*(\d{1,5})\s*,/.exec(line);
  if (match === null) return undefined;
  const [text = '', executorId = '', host = '', port = ''] = match;
  return { executorId: executorId.trim(), address: { host, port: Number(port), text } };
}

/** Linux hands out ephemeral ports from 32768 up; such a port identifies a connection, not a service. */
export function isEphemeralPort(port: number): boolean {
  return port >= 32768;
}
