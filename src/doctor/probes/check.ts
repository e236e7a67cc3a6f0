// Building checks: the fields every probe fills the same way, a skipped layer, and a layer the
// deadline cut short.
import type { Check, Fix, Layer, Reason, Status } from '../model.ts';
import type { Target } from '../targets.ts';
import type { TimedOut } from './budget.ts';
import { ms } from './connect-errors.ts';
import { fixForMoreTime } from './fixes.ts';

export type Evidence = Record<string, string | number | boolean | null>;

export interface CheckFields {
  readonly id: string;
  readonly layer: Layer;
  readonly status: Status;
  readonly reason: Reason;
  readonly summary: string;
  readonly evidence?: Evidence;
  readonly fix?: Fix | undefined;
}

export function makeCheck(target: Target, fields: CheckFields): Check {
  const check: Check = {
    id: fields.id,
    target: { host: target.host, port: target.port, service: target.service },
    layer: fields.layer,
    status: fields.status,
    reason: fields.reason,
    summary: fields.summary,
    evidence: fields.evidence ?? {},
  };
  // A fix belongs to warnings and failures only.
  return fields.fix === undefined || fields.status === 'pass' || fields.status === 'skip'
    ? check
    : { ...check, fix: fields.fix };
}

/** A layer not run because an earlier one failed or time ran out. */
export function skipped(target: Target, id: string, layer: Layer, because: string): Check {
  return makeCheck(target, {
    id,
    layer,
    status: 'skip',
    reason: 'not-checked',
    summary: `not checked: ${because}`,
  });
}

/** A layer whose wait the doctor's deadline (or the caller) ended before it could conclude. */
export function cutShort(
  target: Target,
  id: string,
  layer: Layer,
  what: string,
  timedOut: TimedOut,
  evidence: Evidence = {},
): Check {
  const why =
    timedOut.end === 'aborted' ? 'the doctor was stopped' : "the doctor's time budget ran out";
  return makeCheck(target, {
    id,
    layer,
    status: 'warn',
    reason: 'timeout',
    summary: `${what} did not finish: ${why} after ${ms(timedOut.waitedMs)}`,
    evidence: { ...evidence, waitedMs: Math.round(timedOut.waitedMs), endedBy: timedOut.end },
    fix: fixForMoreTime(),
  });
}

/** `host:port`, with brackets around an IPv6 address. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${String(port)}` : `${host}:${String(port)}`;
}
