// TCP connect to one resolved address: open, refused, filtered (silence), unreachable or no route
// (ICMP), with the errno, the time it took and both ends' addresses. An open connection is held
// a moment longer, because a redirecting sidecar with nothing behind it accepts and then resets.
import { systemErrorCode } from '../../core/system-errors.ts';
import type { Check } from '../model.ts';
import type { Target } from '../targets.ts';
import { waitFor, type Budget, type TimedOut } from './budget.ts';
import { cutShort, hostPort, makeCheck, type Evidence } from './check.ts';
import { classifyConnectError, ms } from './connect-errors.ts';
import { connectSocket, type Endpoint } from './connection.ts';
import { describeAnswer, hexPrefix, identifyAnswer, printable } from './wire/fingerprint.ts';
import {
  fixFiltered,
  fixNoRoute,
  fixRefused,
  fixResetAfterConnect,
  fixUnreachable,
} from './fixes.ts';

export const CONNECT_CHECK_ID = 'transport.connect';

/** Silence this long is a verdict (filtered); the kernel alone would wait about 127 s. */
const CONNECT_LIMIT_MS = 10_000;
/** A wait the deadline cut shorter than this proves nothing. */
const CONCLUSIVE_SILENCE_MS = 1000;
/** How long an open connection is watched for a reset: a few round trips, within bounds. */
const SETTLE_MIN_MS = 100;
const SETTLE_MAX_MS = 500;

export interface ConnectResult {
  readonly check: Check;
  readonly endpoint: Endpoint;
  readonly open: boolean;
}

export type ConnectOutcome =
  | { readonly kind: 'failed'; readonly errno: string; readonly elapsedMs: number }
  | { readonly kind: 'silent'; readonly timedOut: TimedOut }
  | {
      readonly kind: 'open';
      readonly connectMs: number;
      readonly local: string;
      readonly banner?: Buffer;
    }
  | {
      readonly kind: 'closed-after-connect';
      readonly connectMs: number;
      readonly local: string;
      readonly how: 'reset' | 'fin';
      readonly errno?: string;
      readonly afterMs: number;
    };

export function settleMs(connectMs: number): number {
  return Math.min(SETTLE_MAX_MS, Math.max(SETTLE_MIN_MS, 4 * connectMs));
}

function connectOnce(endpoint: Endpoint, budget: Budget): Promise<ConnectOutcome> {
  const began = performance.now();
  let connected: { connectMs: number; local: string } | undefined;
  return waitFor<ConnectOutcome>(
    budget,
    CONNECT_LIMIT_MS,
    (finish) => {
      const socket = connectSocket(endpoint, undefined);
      let settle: NodeJS.Timeout | undefined;
      const closed = (how: 'reset' | 'fin', errno?: string): void => {
        if (connected === undefined) return;
        finish({
          kind: 'closed-after-connect',
          ...connected,
          how,
          ...(errno === undefined ? {} : { errno }),
          afterMs: performance.now() - began - connected.connectMs,
        });
      };
      socket.once('connect', () => {
        const state = {
          connectMs: performance.now() - began,
          local: `${socket.localAddress ?? '?'}:${String(socket.localPort ?? 0)}`,
        };
        connected = state;
        settle = setTimeout(() => {
          finish({ kind: 'open', ...state });
        }, settleMs(state.connectMs));
      });
      socket.on('data', (chunk: Buffer) => {
        if (connected !== undefined) finish({ kind: 'open', ...connected, banner: chunk });
      });
      socket.on('error', (error) => {
        const errno = systemErrorCode(error);
        if (connected === undefined)
          finish({ kind: 'failed', errno, elapsedMs: performance.now() - began });
        else closed(errno === 'ECONNRESET' ? 'reset' : 'fin', errno);
      });
      socket.once('end', () => {
        closed('fin');
      });
      socket.once('close', () => {
        closed('fin');
      });
      return () => {
        if (settle !== undefined) clearTimeout(settle);
        socket.destroy();
      };
    },
    (timedOut) =>
      connected === undefined ? { kind: 'silent', timedOut } : { kind: 'open', ...connected },
  );
}

export async function probeConnect(
  target: Target,
  endpoint: Endpoint,
  budget: Budget,
): Promise<ConnectResult> {
  const outcome = await connectOnce(endpoint, budget);
  return {
    check: connectCheck(target, endpoint, outcome),
    endpoint,
    open: outcome.kind === 'open',
  };
}

/** The transport check for one connect outcome. */
export function connectCheck(target: Target, endpoint: Endpoint, outcome: ConnectOutcome): Check {
  const remote = hostPort(endpoint.address, endpoint.port);
  const base = { id: CONNECT_CHECK_ID, layer: 'transport' as const };
  const evidence: Evidence = { remoteAddress: remote };
  switch (outcome.kind) {
    case 'open': {
      const banner =
        outcome.banner === undefined
          ? {}
          : { bannerHex: hexPrefix(outcome.banner), bannerText: printable(outcome.banner) };
      return makeCheck(target, {
        ...base,
        status: 'pass',
        reason: 'open',
        summary: `${remote} accepts connections (connected in ${ms(outcome.connectMs)})${
          outcome.banner === undefined
            ? ''
            : `; it speaks first: ${describeAnswer(identifyAnswer(outcome.banner).answer)}`
        }`,
        evidence: {
          ...evidence,
          localAddress: outcome.local,
          elapsedMs: Math.round(outcome.connectMs),
          ...banner,
        },
      });
    }
    case 'closed-after-connect':
      return makeCheck(target, {
        ...base,
        status: 'fail',
        reason: 'reset-after-connect',
        summary: `${remote} accepted the connection, then ${outcome.how === 'reset' ? 'reset' : 'closed'} it ${ms(outcome.afterMs)} later without a word: a proxy or sidecar intercepts the port and has nothing behind it, or the server turns this client away`,
        evidence: {
          ...evidence,
          localAddress: outcome.local,
          elapsedMs: Math.round(outcome.connectMs),
          closedAfterMs: Math.round(outcome.afterMs),
          closedBy: outcome.how,
          errno: outcome.errno ?? null,
        },
        fix: fixResetAfterConnect(target),
      });
    case 'silent':
      if (outcome.timedOut.end !== 'limit' && outcome.timedOut.waitedMs < CONCLUSIVE_SILENCE_MS)
        return cutShort(
          target,
          base.id,
          base.layer,
          `connecting to ${remote}`,
          outcome.timedOut,
          evidence,
        );
      return failure(target, endpoint, undefined, outcome.timedOut.waitedMs);
    case 'failed':
      return failure(target, endpoint, outcome.errno, outcome.elapsedMs);
  }
}

function failure(
  target: Target,
  endpoint: Endpoint,
  errno: string | undefined,
  elapsedMs: number,
): Check {
  const remote = hostPort(endpoint.address, endpoint.port);
  const classified = classifyConnectError(errno, elapsedMs);
  const fixes = {
    refused: fixRefused,
    filtered: fixFiltered,
    unreachable: fixUnreachable,
    'no-route': fixNoRoute,
    'reset-after-connect': fixResetAfterConnect,
  } as const;
  return makeCheck(target, {
    id: CONNECT_CHECK_ID,
    layer: 'transport',
    status: 'fail',
    reason: classified.reason,
    summary: `${remote}: ${classified.summary}`,
    evidence: {
      remoteAddress: remote,
      errno: errno ?? 'no answer (doctor timer)',
      elapsedMs: Math.round(elapsedMs),
    },
    fix: fixes[classified.reason](target),
  });
}
