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
import {
  parseRouteError,
  parseRouteGet,
  type RefusingRoute,
  type RouteFacts,
} from './route-get.ts';

export {
  parseRouteError,
  parseRouteGet,
  type RefusingRoute,
  type RouteFacts,
} from './route-get.ts';

export const ROUTE_CHECK_ID = 'route.lookup';

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
