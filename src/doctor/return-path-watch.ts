// The return-path proof as it runs beside an agent target's connect: this side's SYN_SENT watched
// from the start, the agent's half-open report matched the moment it arrives, and then — while
// the first connect still hangs, so within the budget — one more connect from a low source port
// (1024–5000, below Linux's 32768–60999) that tells a return rule covering only part of the
// ephemeral range from one that blocks it all.
import { openAgentSession } from './agent/agent-client.ts';
import type { CallbackListener, ReceivedReport } from './agent/callback.ts';
import type { AddressPort } from './agent/messages.ts';
import type { ReadTcpTables } from './agent/proc-net-tcp.ts';
import type { Check } from './model.ts';
import type { Budget } from './probes/budget.ts';
import {
  reportMatch,
  returnPathCheck,
  watchSynSent,
  type LowPortRetry,
  type ReportMatch,
} from './return-path.ts';
import type { Target } from './targets.ts';

const LOW_PORTS = { from: 1024, to: 5000 } as const;
/** Ports tried when the first is taken. */
const LOW_PORT_TRIES = 3;

export interface ReturnPathWatch {
  /** Ends the watch; the return-path check when the connect stayed silent, else undefined. */
  finish(silent: boolean): Promise<Check | undefined>;
}

export function startReturnPathWatch(
  target: Target,
  dialled: readonly AddressPort[],
  callback: CallbackListener,
  read: ReadTcpTables,
  budget: Budget,
): ReturnPathWatch {
  const synSent = watchSynSent(dialled, read);
  const stop = new AbortController();
  const signals = [stop.signal, ...(budget.signal === undefined ? [] : [budget.signal])];
  const matchNow = (report: ReceivedReport): ReportMatch | undefined =>
    reportMatch(report, target, dialled, synSent.current());
  const reported = callback.waitFor(
    (report) => matchNow(report) !== undefined,
    budget.deadline,
    AbortSignal.any(signals),
  );
  const retried = reported.then((report) => {
    const endpoint = dialled[0];
    if (report === undefined || endpoint === undefined || stop.signal.aborted) return undefined;
    return retryFromLowPort(endpoint, budget);
  });

  return {
    async finish(silent) {
      const sightings = await synSent.stop();
      if (!silent) {
        stop.abort();
        await Promise.all([reported, retried]);
        return undefined;
      }
      // A report that came before our table showed the SYN_SENT is matched again now.
      const report =
        (await reported) ??
        callback.reports().find((candidate) => reportMatch(candidate, target, dialled, sightings));
      const retry = await retried;
      const match =
        report === undefined ? undefined : reportMatch(report, target, dialled, sightings);
      return returnPathCheck(
        target,
        sightings,
        report === undefined || match === undefined ? undefined : { report, match },
        callback.port,
        retry,
      );
    },
  };
}

async function retryFromLowPort(
  endpoint: AddressPort,
  budget: Budget,
): Promise<LowPortRetry | undefined> {
  for (let attempt = 0; attempt < LOW_PORT_TRIES; attempt += 1) {
    const timeoutMs = budget.remainingMs();
    if (timeoutMs <= 0) return undefined;
    const localPort = LOW_PORTS.from + Math.floor(Math.random() * (LOW_PORTS.to - LOW_PORTS.from));
    const opened = await openAgentSession(endpoint, { timeoutMs, localPort });
    if (opened.kind === 'open') {
      opened.session.close();
      return { localPort, outcome: 'connected', errno: null, elapsedMs: opened.session.connectMs };
    }
    if (opened.errno === 'EADDRINUSE') continue;
    return { localPort, outcome: opened.outcome, errno: opened.errno, elapsedMs: opened.elapsedMs };
  }
  return undefined;
}
