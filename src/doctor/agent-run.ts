// What a doctor run adds when agents are among its targets: the callback listener that agents'
// half-open reports reach for the length of the run, and the opt-in idle-survival probe, which
// runs after the normal budget because it is slow by design.
import { startCallbackListener, type CallbackListener } from './agent/callback.ts';
import { idleCheck, IDLE_CHECK_ID, runIdleProbe } from './idle-probe.ts';
import type { Check } from './model.ts';
import { makeCheck, skipped } from './probes/check.ts';
import type { Target } from './targets.ts';

export const CALLBACK_CHECK_ID = 'return-path.callback';

export interface CallbackOpening {
  readonly listener?: CallbackListener;
  /** Present when the listener could not start: a warning, and the run goes on without it. */
  readonly check?: Check;
}

/** Listens on `port` on every address (IPv6 and IPv4, or IPv4 alone where IPv6 is off). */
export async function openCallback(port: number): Promise<CallbackOpening> {
  let problem: unknown;
  for (const host of ['::', '0.0.0.0']) {
    try {
      return { listener: await startCallbackListener(host, port) };
    } catch (error) {
      problem = error;
    }
  }
  return {
    check: makeCheck(
      { host: '', port, service: 'agent' },
      {
        id: CALLBACK_CHECK_ID,
        layer: 'return-path',
        status: 'warn',
        reason: 'not-checked',
        summary: `cannot listen for agents' half-open reports on port ${String(port)}: ${problem instanceof Error ? problem.message : String(problem)}; a return-path drop will show only as filtered`,
        evidence: { callbackPort: port },
        fix: {
          summary:
            'Free the port or pick another with --callback-port (agents must use the same: sparkplane doctor agent --callback-port PORT).',
        },
      },
    ),
  };
}

/** The idle probe against every agent target whose connect opened; one check each. */
export async function idleProbeAgents(
  targets: readonly Target[],
  checks: readonly Check[],
  idleMs: number,
  signal?: AbortSignal,
): Promise<Check[]> {
  const agents = targets.filter((target) => target.service === 'agent');
  return Promise.all(
    agents.map(async (target) => {
      const open = checks.find(
        (check) =>
          check.id === 'transport.connect' &&
          check.status === 'pass' &&
          check.target.host === target.host &&
          check.target.port === target.port,
      );
      const remote = open?.evidence.remoteAddress;
      if (typeof remote !== 'string')
        return skipped(target, IDLE_CHECK_ID, 'session', 'the agent did not accept a connection');
      const address = remote.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      const result = await runIdleProbe({ address, port: target.port }, idleMs, signal);
      return idleCheck(target, idleMs, result);
    }),
  );
}
