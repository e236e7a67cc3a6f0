// The two-ended return-path proof (spec §3.1). A connect to an agent that times out is, from this
// end alone, just "filtered". While it waits, this side watches its own kernel table for the
// SYN_SENT it is stuck in; the agent, if the SYN reached it, sees the same 4-tuple stuck in
// SYN_RECV and reports it to our callback port. Both together prove the SYN got there and the
// SYN-ACK did not come back.
import type { ReceivedReport } from './agent/callback.ts';
import type { AddressPort } from './agent/messages.ts';
import {
  parseTcpTable,
  plainAddress,
  sameEndpoint,
  type ReadTcpTables,
} from './agent/proc-net-tcp.ts';
import { fixReturnPath } from './agent-fixes.ts';
import type { Check } from './model.ts';
import { hostPort, makeCheck } from './probes/check.ts';
import type { Target } from './targets.ts';

export const RETURN_PATH_CHECK_ID = 'return-path.half-open';
const POLL_MS = 200;

export interface SynSentSighting {
  readonly local: AddressPort;
  readonly remote: AddressPort;
  readonly firstSeen: number;
  lastSeen: number;
}

export interface SynSentWatch {
  /** The connects seen stuck in SYN_SENT so far. */
  current(): SynSentSighting[];
  /** Stops watching; the connects seen stuck in SYN_SENT, each once. */
  stop(): Promise<SynSentSighting[]>;
}

/** A second connect from a port below Linux's ephemeral range, made once the first is proven stuck. */
export interface LowPortRetry {
  readonly localPort: number;
  readonly outcome: string;
  readonly errno: string | null;
  readonly elapsedMs: number;
}

/** Polls this machine's TCP tables for connects to `remotes` still waiting for a SYN-ACK. */
export function watchSynSent(
  remotes: readonly AddressPort[],
  read: ReadTcpTables,
  pollMs = POLL_MS,
): SynSentWatch {
  const seen = new Map<string, SynSentSighting>();
  let reading: Promise<void> | undefined;
  const look = async (): Promise<void> => {
    const text = await read().catch(() => '');
    const at = Date.now();
    for (const entry of parseTcpTable(text)) {
      if (
        entry.state !== 'SYN_SENT' ||
        !remotes.some((remote) => sameEndpoint(remote, entry.remote))
      )
        continue;
      const key = `${plainAddress(entry.local.address)}|${String(entry.local.port)}`;
      const known = seen.get(key);
      if (known === undefined)
        seen.set(key, {
          local: { address: plainAddress(entry.local.address), port: entry.local.port },
          remote: { address: plainAddress(entry.remote.address), port: entry.remote.port },
          firstSeen: at,
          lastSeen: at,
        });
      else known.lastSeen = at;
    }
  };
  const timer = setInterval(() => {
    reading ??= look().finally(() => {
      reading = undefined;
    });
  }, pollMs);
  return {
    current: () => [...seen.values()],
    async stop() {
      clearInterval(timer);
      await reading;
      return [...seen.values()];
    },
  };
}

export type ReportMatch = 'tuple' | 'agent';

/**
 * Whether a report is about our connect: its SYN source is one of our SYN_SENT tuples (both ends
 * saw the same 4-tuple), or, where our table was unreadable, it came from the agent we dialled
 * and names the port we dialled.
 */
export function reportMatch(
  report: ReceivedReport,
  target: Target,
  endpoints: readonly AddressPort[],
  sightings: readonly SynSentSighting[],
): ReportMatch | undefined {
  if (report.entry.local.port !== target.port) return undefined;
  if (sightings.some((sighting) => sameEndpoint(sighting.local, report.entry.remote)))
    return 'tuple';
  const fromAgent = endpoints.some(
    (endpoint) => plainAddress(endpoint.address) === plainAddress(report.from.address),
  );
  return sightings.length === 0 && fromAgent ? 'agent' : undefined;
}

/** Pure: the return-path verdict from both ends' evidence. */
export function returnPathCheck(
  target: Target,
  sightings: readonly SynSentSighting[],
  found: { readonly report: ReceivedReport; readonly match: ReportMatch } | undefined,
  callbackPort: number,
  retry?: LowPortRetry,
): Check {
  const ours = sightings
    .map(
      (sighting) =>
        `SYN_SENT ${hostPort(sighting.local.address, sighting.local.port)} → ${hostPort(sighting.remote.address, sighting.remote.port)} for ${String(sighting.lastSeen - sighting.firstSeen)} ms`,
    )
    .join('; ');
  if (found === undefined)
    return makeCheck(target, {
      id: RETURN_PATH_CHECK_ID,
      layer: 'return-path',
      status: 'skip',
      reason: 'not-checked',
      summary:
        `no half-open report from the agent within the budget: the SYN may never have reached it (a forward-path drop, see transport), ` +
        `or its report could not reach this machine's callback port ${String(callbackPort)}`,
      evidence: { ourSynSent: ours === '' ? null : ours, callbackPort },
    });
  const { entry, agent } = found.report;
  const theirs = `SYN_RECV ${hostPort(entry.local.address, entry.local.port)} ← ${hostPort(entry.remote.address, entry.remote.port)} for ${String(entry.ageMs)} ms`;
  const peer = hostPort(target.host, target.port);
  return makeCheck(target, {
    id: RETURN_PATH_CHECK_ID,
    layer: 'return-path',
    status: 'fail',
    reason: 'return-path-blocked',
    summary:
      `the agent "${agent}" on ${peer} received this machine's SYN and answered, but the answer never came back: ` +
      `its connection stayed half-open (SYN_RECV) while ours waited in SYN_SENT — the return path drops the SYN-ACKs` +
      retrySummary(retry),
    evidence: {
      ourSynSent: ours === '' ? null : ours,
      theirSynRecv: theirs,
      agent,
      confidence:
        found.match === 'tuple'
          ? 'high (the same 4-tuple at both ends)'
          : 'medium (the agent named the port; our table was not readable)',
      lowPortRetry:
        retry === undefined
          ? null
          : `from source port ${String(retry.localPort)}: ${retry.outcome}${retry.errno === null ? '' : ` (${retry.errno})`} in ${String(Math.round(retry.elapsedMs))} ms`,
    },
    fix: fixReturnPath(peer, entry.remote.address),
  });
}

function retrySummary(retry: LowPortRetry | undefined): string {
  if (retry?.outcome !== 'connected') return '';
  return (
    `; a retry from source port ${String(retry.localPort)}, below Linux's ephemeral range, connected in ` +
    `${String(Math.round(retry.elapsedMs))} ms: the return rule allows only part of the ephemeral ports ` +
    '(AWS network ACLs must allow 1024–65535; Linux clients use 32768–60999)'
  );
}
