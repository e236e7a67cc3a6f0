// The MTU ladder (spec §2.9): growing transfers both ways on one agent connection. Handshakes and
// small requests pass a path MTU blackhole; the first transfer bigger than a hop carries stalls,
// because the ICMP "fragmentation needed" that would shrink it is dropped. Node cannot set DF or
// read IP_MTU, so what the kernel knows comes from /sys/class/net and `ip route get`.
import { networkInterfaces } from 'node:os';
import { fixMtuBlackhole } from './agent-fixes.ts';
import type { AgentSession, Transfer } from './agent/agent-client.ts';
import { interfaceMtu } from './agent/doctor-agent.ts';
import { plainAddress } from './agent/proc-net-tcp.ts';
import type { Check } from './model.ts';
import type { Budget } from './probes/budget.ts';
import { cutShort, hostPort, makeCheck, type Evidence } from './probes/check.ts';
import { ms } from './probes/connect-errors.ts';
import { parseRouteGet, routeGetArgs, runIp } from './probes/route.ts';
import type { Target } from './targets.ts';

export const MTU_CHECK_ID = 'path-mtu.ladder';
/** Below one segment, around common MTUs (1280 IPv6 minimum, 1500 Ethernet), jumbo, many segments. */
export const LADDER_SIZES = [100, 1200, 1400, 8000, 65_536] as const;
/** A healthy path moves 64 KiB well within this; a blackhole never does. */
const STEP_LIMIT_MS = 4000;
/** A stall shorter than this, cut by the deadline, proves nothing. */
const CONCLUSIVE_STALL_MS = 1000;

export type Direction = 'to-agent' | 'from-agent';

export interface LadderStep {
  readonly size: number;
  readonly direction: Direction;
  readonly result: Transfer;
  readonly limitMs: number;
}

export interface PathFacts {
  readonly interface: string | null;
  readonly interfaceMtu: number | null;
  /** `ip route get`'s cached path MTU towards the agent, when the kernel learned one. */
  readonly routeMtu: number | null;
}

/** Runs the ladder until the first step that does not complete. */
export async function runMtuLadder(
  session: AgentSession,
  budget: Budget,
  sizes: readonly number[] = LADDER_SIZES,
): Promise<LadderStep[]> {
  const steps: LadderStep[] = [];
  for (const size of sizes) {
    for (const direction of ['to-agent', 'from-agent'] as const) {
      const limitMs = Math.min(STEP_LIMIT_MS, budget.remainingMs());
      if (limitMs <= 0) return steps;
      const result =
        direction === 'to-agent'
          ? await session.sink(size, limitMs)
          : await session.source(size, limitMs);
      steps.push({ size, direction, result, limitMs });
      if (result.kind !== 'done') return steps;
    }
  }
  return steps;
}

/** Pure: the verdict on a ladder. */
export function mtuCheck(target: Target, steps: readonly LadderStep[], facts: PathFacts): Check {
  const peer = hostPort(target.host, target.port);
  const passed = steps.filter((step) => step.result.kind === 'done');
  const last = steps.at(-1);
  const evidence: Evidence = {
    passed: passed.map((step) => `${String(step.size)} ${step.direction}`).join(', '),
    interface: facts.interface,
    interfaceMtu: facts.interfaceMtu,
    routeMtu: facts.routeMtu,
  };
  if (last === undefined)
    return makeCheck(target, {
      id: MTU_CHECK_ID,
      layer: 'path-mtu',
      status: 'skip',
      reason: 'not-checked',
      summary: 'not checked: the time budget was used up before the MTU ladder',
      evidence,
    });
  const result = last.result;
  if (result.kind === 'done')
    return makeCheck(target, {
      id: MTU_CHECK_ID,
      layer: 'path-mtu',
      status: 'pass',
      reason: 'mtu-ok',
      summary: `transfers of ${LADDER_SIZES.join(', ')} bytes both ways to the agent on ${peer} completed: no MTU blackhole`,
      evidence,
    });
  const what = `${String(last.size)} bytes ${last.direction === 'to-agent' ? 'to' : 'from'} the agent on ${peer}`;
  if (result.kind === 'timeout') {
    if (last.limitMs < CONCLUSIVE_STALL_MS)
      return cutShort(
        target,
        MTU_CHECK_ID,
        'path-mtu',
        `the MTU ladder (${what})`,
        { end: 'deadline', waitedMs: result.waitedMs },
        evidence,
      );
    const lastOk = passed.filter((step) => step.size < last.size).at(-1)?.size;
    return makeCheck(target, {
      id: MTU_CHECK_ID,
      layer: 'path-mtu',
      status: 'fail',
      reason: 'mtu-blackhole',
      summary:
        `${what} stalled (nothing completed in ${ms(result.waitedMs)})` +
        (lastOk === undefined ? '' : ` after ${String(lastOk)} bytes passed`) +
        ': packets bigger than a hop carries are dropped silently, a path MTU blackhole' +
        (lastOk === undefined || last.size > 1500
          ? ''
          : `; the path MTU lies between ${String(lastOk + 40)} and ${String(last.size + 40)} bytes`),
      evidence: {
        ...evidence,
        stalledSize: last.size,
        stalledDirection: last.direction,
        waitedMs: Math.round(result.waitedMs),
      },
      fix: fixMtuBlackhole(lastOk, last.size),
    });
  }
  return makeCheck(target, {
    id: MTU_CHECK_ID,
    layer: 'path-mtu',
    status: 'warn',
    reason: 'no-answer',
    summary:
      result.kind === 'refused'
        ? `the agent on ${peer} refused the ladder step (${result.message})`
        : `the connection to the agent on ${peer} ended (${result.how}${result.errno === null ? '' : ` ${result.errno}`}) during ${what}`,
    evidence: { ...evidence, failedSize: last.size, failedDirection: last.direction },
    fix: {
      summary: `Run the doctor again; if it repeats, look at the agent's log on ${target.host} and at whatever sits between (a proxy that closes long transfers).`,
    },
  });
}

/**
 * The local interface and MTUs for the path to `remote`, read after the ladder so a path MTU the
 * kernel learned from it shows; every part null when unreadable.
 */
export async function pathFacts(localAddress: string, remote: string): Promise<PathFacts> {
  const answer = await runIp(routeGetArgs(plainAddress(remote)));
  const route = answer.ran && answer.code === 0 ? parseRouteGet(answer.stdout) : undefined;
  const local = plainAddress(localAddress);
  const name =
    route?.device ??
    Object.entries(networkInterfaces()).find(([, entries]) =>
      (entries ?? []).some((entry) => plainAddress(entry.address) === local),
    )?.[0] ??
    null;
  return {
    interface: name,
    interfaceMtu: name === null ? null : ((await interfaceMtu(name)) ?? (await linkMtu(name))),
    routeMtu: route?.mtu ?? null,
  };
}

/**
 * The MTU `ip link` reports: /sys/class/net shows the interfaces of the namespace /sys was
 * mounted in, which inside a container or a fresh network namespace is not this one.
 */
async function linkMtu(name: string): Promise<number | null> {
  const answer = await runIp(['link', 'show', 'dev', name]);
  if (!answer.ran || answer.code !== 0) return null;
  const match = /\bmtu (\d+)/.exec(answer.stdout);
  return match === null ? null : Number(match[1]);
}
