// The idle-survival probe (spec §2.8): two connections to an agent, one without keepalive and one
// with keepalive at a third of the idle time, both left silent for the given duration, then both
// asked again. A NAT or firewall whose idle timer is shorter forgets the first flow: the next
// request is met with silence (Azure and GCP style) or a reset (AWS NAT gateway style), while the
// second, kept warm, survives — proof that keepalive is the fix. Slow by design, so opt-in.
import { setTimeout as sleep } from 'node:timers/promises';
import { openAgentSession, type Answer, type OpenResult } from './agent/agent-client.ts';
import type { AddressPort, Hello } from './agent/messages.ts';
import { plainAddress } from './agent/proc-net-tcp.ts';
import type { Check } from './model.ts';
import { hostPort, makeCheck } from './probes/check.ts';
import { ms } from './probes/connect-errors.ts';
import { keepaliveFix, natIdleEvidence } from './session-checks.ts';
import type { Target } from './targets.ts';

export const IDLE_CHECK_ID = 'session.idle';
/** How long an answer may take after the idle time; a live flow answers in a round trip. */
const ANSWER_LIMIT_MS = 5000;
const OPEN_LIMIT_MS = 5000;

export type IdleFate = 'answered' | 'silent' | 'reset' | 'closed' | 'not-opened';

export interface IdleLeg {
  readonly fate: IdleFate;
  readonly seenBefore: AddressPort | null;
  readonly errno: string | null;
  /** From the request after the idle time to its end. */
  readonly afterMs: number;
}

export function fateOf(answer: Answer): IdleFate {
  switch (answer.kind) {
    case 'answer':
    case 'refused':
      return 'answered';
    case 'timeout':
      return 'silent';
    case 'closed':
      return answer.how === 'reset' || answer.errno === 'ECONNRESET' ? 'reset' : 'closed';
  }
}

/** Opens both connections, waits `idleMs` without a byte, then asks each once. */
export async function runIdleProbe(
  endpoint: AddressPort,
  idleMs: number,
  signal?: AbortSignal,
  answerLimitMs = ANSWER_LIMIT_MS,
): Promise<{ plain: IdleLeg; keptAlive: IdleLeg; keepAliveMs: number }> {
  const keepAliveMs = Math.max(1000, Math.floor(idleMs / 3));
  const [plain, keptAlive] = await Promise.all([
    openAgentSession(endpoint, { timeoutMs: OPEN_LIMIT_MS }),
    openAgentSession(endpoint, { timeoutMs: OPEN_LIMIT_MS, keepAliveMs }),
  ]);
  const leg = async (opened: OpenResult): Promise<IdleLeg> => {
    if (opened.kind === 'failed')
      return { fate: 'not-opened', seenBefore: null, errno: opened.errno, afterMs: 0 };
    const { session } = opened;
    try {
      const hello = await session.request({ op: 'hello' }, OPEN_LIMIT_MS);
      const seen =
        hello.kind === 'answer' ? ((hello.body.hello as Hello | undefined)?.seen ?? null) : null;
      await sleep(idleMs, undefined, { signal }).catch(() => undefined);
      const began = performance.now();
      const answer = await session.request({ op: 'ping' }, answerLimitMs);
      return {
        fate: fateOf(answer),
        seenBefore: seen,
        errno: answer.kind === 'closed' ? answer.errno : null,
        afterMs: performance.now() - began,
      };
    } finally {
      session.close();
    }
  };
  const [plainLeg, keptLeg] = await Promise.all([leg(plain), leg(keptAlive)]);
  return { plain: plainLeg, keptAlive: keptLeg, keepAliveMs };
}

/** Pure: the verdict on both legs. */
export function idleCheck(
  target: Target,
  idleMs: number,
  result: { plain: IdleLeg; keptAlive: IdleLeg; keepAliveMs: number },
): Check {
  const peer = hostPort(target.host, target.port);
  const { plain, keptAlive, keepAliveMs } = result;
  const seen =
    plain.seenBefore === null
      ? null
      : hostPort(plainAddress(plain.seenBefore.address), plain.seenBefore.port);
  const evidence = {
    idleMs,
    withoutKeepalive: plain.fate,
    withoutKeepaliveErrno: plain.errno,
    withKeepalive: keptAlive.fate,
    keepaliveIdleMs: keepAliveMs,
    peerSeenAddress: seen,
    answerWaitedMs: Math.round(plain.afterMs),
    ...natIdleEvidence(),
  };
  const base = { id: IDLE_CHECK_ID, layer: 'session' as const, evidence };
  if (plain.fate === 'not-opened' || keptAlive.fate === 'not-opened')
    return makeCheck(target, {
      ...base,
      status: 'skip',
      reason: 'not-checked',
      summary: `the idle probe could not open its connections to the agent on ${peer}`,
    });
  if (plain.fate === 'answered')
    return makeCheck(target, {
      ...base,
      status: 'pass',
      reason: 'idle-ok',
      summary: `a connection to the agent on ${peer} left idle for ${ms(idleMs)} without keepalive still answered: nothing on the path expires flows that fast`,
    });
  const how =
    plain.fate === 'silent'
      ? `idle flow expired, silent (Azure/GCP style): no answer in ${ms(plain.afterMs)}`
      : plain.fate === 'reset'
        ? 'idle flow expired with a reset (AWS style)'
        : 'idle flow closed by the peer or a middlebox';
  const kept =
    keptAlive.fate === 'answered'
      ? `the same flow with keepalive every ${ms(keepAliveMs)} survived, so keepalive fixes it`
      : `the flow with keepalive every ${ms(keepAliveMs)} died too (${keptAlive.fate}): something closes idle connections regardless of keepalive, such as a proxy's idle timeout`;
  return makeCheck(target, {
    ...base,
    status: 'fail',
    reason: 'idle-timeout',
    summary: `after ${ms(idleMs)} idle, the connection to the agent on ${peer}: ${how}; ${kept}`,
    fix:
      keptAlive.fate === 'answered'
        ? keepaliveFix('the TCP keepalive time of Spark and BI clients')
        : {
            summary:
              "Find what closes idle connections on the path (a proxy's or load balancer's idle timeout) and raise it, or have the application send its own heartbeats more often than the idle time.",
          },
  });
}
