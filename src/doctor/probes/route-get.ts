// What `ip route get ADDR` says, read: the route the kernel would use (type, next hop, device,
// source address, a cached path MTU), or the kernel's refusal when it has no route or the route's
// type refuses. Pure functions over iproute2's text form, which BusyBox and older iproute2 print
// too (they have no `-json`).

/** A route `ip route get` printed. */
export interface RouteFacts {
  /** `unicast` unless the line starts with another type (`local`, `broadcast`, …). */
  readonly type: string;
  readonly destination: string;
  readonly gateway?: string;
  readonly device?: string;
  readonly source?: string;
  readonly table?: string;
  /** A path MTU the kernel learned (ICMP frag-needed) or a route's `mtu`, from the cache line. */
  readonly mtu?: number;
}

/** A lookup the kernel answered with an error: no route, or a route whose type refuses. */
export interface RefusingRoute {
  readonly routeType: 'none' | 'unreachable' | 'prohibit' | 'blackhole';
  readonly errno: string;
  /** The kernel's words, e.g. `Network is unreachable`. */
  readonly message: string;
}

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'prohibit',
  'blackhole',
  'throw',
  'nat',
]);
/** Keywords followed by one value; the rest (`uid 0`, `metric 256`) are read the same way. */
const WITH_VALUE = new Set([
  'via',
  'dev',
  'src',
  'from',
  'table',
  'mtu',
  'uid',
  'proto',
  'metric',
  'pref',
  'expires',
  'iif',
  'oif',
  'realms',
  'scope',
]);

/**
 * Reads `ip route get` output, e.g. `10.1.2.3 via 10.1.1.1 dev eth0 src 10.1.1.2 uid 0` and a
 * `cache mtu 1280` line. `via inet6 ADDR` (an IPv6 next hop for IPv4) is read too.
 */
export function parseRouteGet(output: string): RouteFacts | undefined {
  const words = output
    .replace(/<[^>]*>/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
  if (words.length === 0) return undefined;
  const first = words[0] ?? '';
  const typed = ROUTE_TYPES.has(first);
  const destination = typed ? words[1] : first;
  if (destination === undefined || !/^[0-9a-f.:]+$/i.test(destination)) return undefined;
  const values = new Map<string, string>();
  for (let index = typed ? 2 : 1; index < words.length; index += 1) {
    const word = words[index] ?? '';
    if (!WITH_VALUE.has(word)) continue;
    let value = words[index + 1];
    if (word === 'via' && (value === 'inet' || value === 'inet6')) {
      index += 1;
      value = words[index + 1];
    }
    if (value === undefined) break;
    // The first `mtu` may sit in the route's metrics or the cache line; both mean the same here.
    if (!values.has(word)) values.set(word, value);
    index += 1;
  }
  const mtu = Number(values.get('mtu'));
  const named = (key: string, name: keyof RouteFacts): Partial<RouteFacts> => {
    const value = values.get(key);
    return value === undefined ? {} : { [name]: value };
  };
  return {
    type: typed ? first : 'unicast',
    destination,
    ...named('via', 'gateway'),
    ...named('dev', 'device'),
    ...named('src', 'source'),
    ...named('table', 'table'),
    ...(Number.isInteger(mtu) && mtu > 0 ? { mtu } : {}),
  };
}

/** The kernel's refusal, as iproute2 prints it (`RTNETLINK answers: …` or `Error: …`). */
const REFUSALS: readonly [RegExp, RefusingRoute['routeType'], string][] = [
  [/Network is unreachable/i, 'none', 'ENETUNREACH'],
  [/No route to host/i, 'unreachable', 'EHOSTUNREACH'],
  [/Permission denied|Operation not permitted/i, 'prohibit', 'EACCES'],
  [/Invalid argument/i, 'blackhole', 'EINVAL'],
];

export function parseRouteError(stderr: string): RefusingRoute | undefined {
  const line = stderr
    .split('\n')
    .map((text) => text.trim())
    .find((text) => text !== '');
  if (line === undefined) return undefined;
  const message = line.replace(/^(RTNETLINK answers|Error):\s*/, '');
  for (const [pattern, routeType, errno] of REFUSALS)
    if (pattern.test(message)) return { routeType, errno, message };
  return undefined;
}
