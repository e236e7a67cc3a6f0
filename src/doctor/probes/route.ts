// The route layer, between DNS and TCP: what this machine's kernel would do with a packet to each
// resolved address, as `ip route get` tells it (source address, device, next hop, a cached path
// MTU), or that it has no route, or a route that refuses (unreachable, prohibit, blackhole). The
// TCP connect still runs after it: policy routing by port or mark can make the kernel choose
// differently for a real socket, so this layer is evidence, not a gate.
import { execFile } from 'node:child_process';
import type { Check, Fix } from '../model.ts';
import type { Target } from '../targets.ts';
import { waitFor, type Budget } from './budget.ts';
import { makeCheck } from './check.ts';
import { fixNoRoute } from './fixes.ts';

export const ROUTE_CHECK_ID = 'route.lookup';

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

/** `ip route get` answers in a few milliseconds; past this something is wrong with the machine. */
const ROUTE_LIMIT_MS = 1000;

/** What running `ip route get ADDR` gave: its output, or why it could not run. */
export type IpAnswer =
  | { readonly ran: true; readonly code: number; readonly stdout: string; readonly stderr: string }
  | { readonly ran: false; readonly why: string };

export type RunIp = (args: readonly string[]) => Promise<IpAnswer>;

const IP_MISSING = '`ip` (iproute2) is not installed here; install iproute2 to see the route';

/** Runs `ip`, bounded in time; the same lookups asked at once (many ports, one host) share a run. */
const inFlight = new Map<string, Promise<IpAnswer>>();
export const runIp: RunIp = (args) => {
  const key = args.join(' ');
  const running = inFlight.get(key);
  if (running !== undefined) return running;
  const started = new Promise<IpAnswer>((resolve) => {
    execFile(
      'ip',
      [...args],
      { timeout: ROUTE_LIMIT_MS, killSignal: 'SIGKILL', env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ ran: true, code: 0, stdout, stderr });
          return;
        }
        if (error.code === 'ENOENT') resolve({ ran: false, why: IP_MISSING });
        else if (typeof error.code === 'number')
          resolve({ ran: true, code: error.code, stdout, stderr });
        else
          resolve({
            ran: false,
            why:
              error.killed === true
                ? `\`ip route get\` did not answer within ${String(ROUTE_LIMIT_MS)} ms`
                : `\`ip route get\` could not run (${error.message})`,
          });
      },
    );
  }).finally(() => inFlight.delete(key));
  inFlight.set(key, started);
  return started;
};

/** `ip route get` arguments for an address; a link-local IPv6 scope (`fe80::1%eth0`) names the device. */
export function routeGetArgs(address: string): string[] {
  const [bare = address, scope] = address.split('%');
  return scope === undefined ? ['route', 'get', bare] : ['route', 'get', bare, 'oif', scope];
}

export async function probeRoute(
  target: Target,
  address: string,
  budget: Budget,
  run: RunIp = runIp,
  platform: NodeJS.Platform = process.platform,
): Promise<Check> {
  const base = { id: ROUTE_CHECK_ID, layer: 'route' as const };
  const notChecked = (why: string, evidence: Record<string, string> = {}): Check =>
    makeCheck(target, {
      ...base,
      status: 'skip',
      reason: 'not-checked',
      summary: `not checked: ${why}`,
      evidence: { address, ...evidence },
    });
  if (platform !== 'linux')
    return notChecked(`the route is read with Linux's \`ip route get\`; this is ${platform}`);

  // `ip` cannot be cancelled usefully (it answers in milliseconds); a late answer is ignored.
  const answer = await waitFor<IpAnswer | undefined>(
    budget,
    ROUTE_LIMIT_MS,
    (finish) => {
      void run(routeGetArgs(address)).then(finish);
      return () => undefined;
    },
    () => undefined,
  );
  if (answer === undefined)
    return notChecked('the time budget ended before `ip route get` answered');
  if (!answer.ran) return notChecked(answer.why);
  const command = `ip ${routeGetArgs(address).join(' ')}`;
  if (answer.code === 0) {
    const route = parseRouteGet(answer.stdout);
    if (route !== undefined) return routeFound(target, address, route, command);
    return notChecked('`ip route get` printed a route this doctor cannot read', {
      output: answer.stdout.trim(),
    });
  }
  const refusing = parseRouteError(answer.stderr);
  if (refusing !== undefined) return routeRefused(target, address, refusing, command);
  return notChecked(
    `\`${command}\` failed: ${answer.stderr.trim() || `exit ${String(answer.code)}`}`,
  );
}

function routeFound(target: Target, address: string, route: RouteFacts, command: string): Check {
  const how =
    route.type === 'local'
      ? `${address} is this machine's own address (device ${route.device ?? 'lo'})`
      : `${address} is routed ${route.gateway === undefined ? 'directly' : `via ${route.gateway}`} out of ${route.device ?? 'an unnamed device'}${route.source === undefined ? '' : ` from ${route.source}`}`;
  return makeCheck(target, {
    id: ROUTE_CHECK_ID,
    layer: 'route',
    status: 'pass',
    reason: 'routed',
    summary: `${how}${route.mtu === undefined ? '' : `; the kernel holds a path MTU of ${String(route.mtu)} for it`}`,
    evidence: {
      address,
      routeType: route.type,
      device: route.device ?? null,
      sourceAddress: route.source ?? null,
      gateway: route.gateway ?? null,
      ...(route.table === undefined ? {} : { table: route.table }),
      ...(route.mtu === undefined ? {} : { pathMtu: route.mtu }),
      command,
    },
  });
}

const REFUSAL_WORDS: Readonly<Record<RefusingRoute['routeType'], string>> = {
  none: 'this machine has no route to it: the kernel would not send a packet at all (ENETUNREACH)',
  unreachable:
    'an "unreachable" route covers it: the kernel answers "no route to host" at once (EHOSTUNREACH)',
  prohibit:
    'a "prohibit" route covers it: the kernel refuses with "permission denied" (EACCES), administratively',
  blackhole:
    'a "blackhole" route covers it: the kernel discards every packet to it without a word (EINVAL)',
};

function routeRefused(
  target: Target,
  address: string,
  refusing: RefusingRoute,
  command: string,
): Check {
  return makeCheck(target, {
    id: ROUTE_CHECK_ID,
    layer: 'route',
    status: 'fail',
    reason: 'no-route',
    summary: `${address}: ${REFUSAL_WORDS[refusing.routeType]}`,
    evidence: {
      address,
      routeType: refusing.routeType,
      errno: refusing.errno,
      message: refusing.message,
      command,
    },
    fix: refusing.routeType === 'none' ? fixNoRoute(target) : fixRefusingRoute(address, refusing),
  });
}

function fixRefusingRoute(address: string, refusing: RefusingRoute): Fix {
  return {
    summary: `A ${refusing.routeType} route on this machine covers ${address} on purpose or by mistake: find the rule or route that installs it (network manager, CNI plugin, VPN client, a hardening script) and remove it, or route the destination network properly.`,
    snippets: [
      {
        platform: 'shell',
        text: `ip route show table all type ${refusing.routeType}\nip rule show\nsudo ip route del ${refusing.routeType} <destination-cidr>`,
      },
    ],
  };
}
