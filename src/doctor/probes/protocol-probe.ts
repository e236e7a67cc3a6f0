// What every protocol probe shares: its context (one target, one open address, inside TLS or
// not, the budget), its time limits, and the verdict when the answer is not the protocol it asked
// for — HTTP where Spark RPC was expected, silence, a reset — so that wording is the same for all.
import type { Check } from '../model.ts';
import type { Target } from '../targets.ts';
import type { Budget } from './budget.ts';
import { cutShort, hostPort, makeCheck, type Evidence } from './check.ts';
import { classifyConnectError, ms } from './connect-errors.ts';
import type { Endpoint, ExchangeResult, TlsOptions } from './connection.ts';
import {
  fixNoAnswer,
  fixProxyUpstream,
  fixResetAfterConnect,
  fixTlsRequired,
  fixWrongProtocol,
} from './fixes.ts';
import { SERVICE_FACTS } from './service-facts.ts';
import { PROBE_ALPN, serverNameOf } from './tls.ts';
import {
  describeAnswer,
  hexPrefix,
  identifyAnswer,
  printable,
  type Answer,
} from './wire/fingerprint.ts';
import { envoyMarks } from './wire/http1.ts';

export interface ProtocolContext {
  readonly target: Target;
  readonly endpoint: Endpoint;
  /** The TLS layer found TLS: speak the protocol inside it. */
  readonly secure: boolean;
  readonly budget: Budget;
}

export type ProtocolProbe = (context: ProtocolContext) => Promise<Check>;

/** The longest a protocol probe waits for its answer (the deadline usually ends it sooner). */
export const PROTOCOL_LIMIT_MS = 5000;
/** Silence shorter than this, cut by the deadline, proves nothing. */
const CONCLUSIVE_SILENCE_MS = 1000;

export function protocolCheckId(target: Target): string {
  return `protocol.${target.service}`;
}

export function tlsOptionsFor(
  context: ProtocolContext,
  alpn: readonly string[] = PROBE_ALPN,
): TlsOptions | undefined {
  if (!context.secure) return undefined;
  const servername = serverNameOf(context.target.host);
  return servername === undefined ? { alpn } : { servername, alpn };
}

/** Whether the bytes so far are a whole answer of any known shape. */
export function answerIsComplete(bytes: Buffer): boolean {
  return identifyAnswer(bytes).complete;
}

export function remoteOf(context: ProtocolContext): string {
  return hostPort(context.endpoint.address, context.endpoint.port);
}

/** Evidence every protocol check carries about its exchange. */
export function exchangeEvidence(result: ExchangeResult): Evidence {
  const evidence: Evidence = {
    elapsedMs: Math.round(result.elapsedMs),
    bytesReceived: result.bytes.length,
    ended: result.end,
  };
  if (result.local !== undefined) evidence.localAddress = result.local;
  if (result.errno !== undefined) evidence.errno = result.errno;
  if (result.bytes.length > 0) {
    evidence.bytesHex = hexPrefix(result.bytes);
    evidence.bytesText = printable(result.bytes);
  }
  return evidence;
}

/** Whether an answer came from something HTTP-ish (a web server, a proxy, a mesh listener). */
export function isHttpAnswer(answer: Answer): boolean {
  return answer.kind === 'http1' || answer.kind === 'http1-partial';
}

/**
 * The verdict when the exchange did not produce the expected protocol's answer: `expected` names
 * what was asked, e.g. "a Spark RPC request"; `whoCloses` what usually closes on it in silence.
 */
/** A peer that sent our probe back unchanged: no Spark service, whatever it is. */
export function echoCheck(context: ProtocolContext, result: ExchangeResult): Check {
  const { target } = context;
  return makeCheck(target, {
    id: protocolCheckId(target),
    layer: 'protocol',
    evidence: { ...exchangeEvidence(result), echoed: true },
    status: 'fail',
    reason: 'wrong-protocol',
    summary: `${remoteOf(context)} sent the ${SERVICE_FACTS[target.service].title} probe back unchanged: an echo service, a loop in a proxy or port forward, not the service`,
    fix: fixWrongProtocol(target, 'an echo of what it receives', false),
  });
}

export function otherAnswerCheck(
  context: ProtocolContext,
  result: ExchangeResult,
  expected: string,
  whoCloses = 'a TLS or mesh wrapper that drops plaintext, or a service speaking another protocol',
): Check {
  const { target } = context;
  const id = protocolCheckId(target);
  const remote = remoteOf(context);
  const evidence = exchangeEvidence(result);
  const base = { id, layer: 'protocol' as const, evidence };
  const title = SERVICE_FACTS[target.service].title;

  if (!result.connected && result.end !== 'timeout') {
    const failure = classifyConnectError(result.errno, result.elapsedMs);
    return makeCheck(target, {
      ...base,
      status: 'fail',
      reason: failure.reason,
      summary: `the connection for the protocol probe failed: ${failure.summary}`,
    });
  }
  if (result.bytes.length === 0) {
    if (result.end === 'timeout' && result.timedOut !== undefined) {
      if (result.timedOut.end !== 'limit' && result.timedOut.waitedMs < CONCLUSIVE_SILENCE_MS)
        return cutShort(target, id, 'protocol', `the ${title} probe`, result.timedOut, evidence);
      return makeCheck(target, {
        ...base,
        status: 'fail',
        reason: 'no-answer',
        summary: `${remote} accepted ${expected} and answered nothing in ${ms(result.timedOut.waitedMs)}`,
        fix: fixNoAnswer(target),
      });
    }
    if (result.end === 'reset') {
      return makeCheck(target, {
        ...base,
        status: 'fail',
        reason: 'reset-after-connect',
        summary: `${remote} reset the connection on ${expected} without answering: a proxy or sidecar that intercepts the port, or a server that refuses this protocol`,
        fix: fixResetAfterConnect(target),
      });
    }
    return makeCheck(target, {
      ...base,
      status: 'fail',
      reason: 'no-answer',
      summary: `${remote} closed the connection on ${expected} without answering${result.errno === undefined ? '' : ` (${result.errno})`}: ${whoCloses}`,
      fix: fixNoAnswer(target),
    });
  }
  const answer = identifyAnswer(result.bytes).answer;
  const described = describeAnswer(answer);
  if (answer.kind === 'tls') {
    return makeCheck(target, {
      ...base,
      status: 'fail',
      reason: 'tls-required',
      summary: `${remote} answered ${expected} with ${described}: the port speaks TLS`,
      fix: fixTlsRequired(target),
    });
  }
  if (answer.kind === 'http1') {
    const marks = envoyMarks(answer.head, answer.body);
    if (marks.length > 0 && answer.head.status >= 502 && answer.head.status <= 504) {
      return makeCheck(target, {
        ...base,
        status: 'fail',
        reason: 'wrong-protocol',
        summary: `${remote} answers HTTP from an Envoy proxy (${described}) instead of the ${title}: the proxy owns the port and cannot reach what is behind it`,
        evidence: { ...evidence, answer: described, envoy: marks.join(', ') },
        fix: fixProxyUpstream(target, described),
      });
    }
  }
  const http = isHttpAnswer(answer);
  const envoy = answer.kind === 'http1' ? envoyMarks(answer.head, answer.body) : [];
  return makeCheck(target, {
    ...base,
    status: 'fail',
    reason: 'wrong-protocol',
    summary: `${remote} answers ${http ? 'HTTP' : 'another protocol'} (${described}), not the ${title}`,
    evidence: {
      ...evidence,
      answer: described,
      ...(envoy.length > 0 ? { envoy: envoy.join(', ') } : {}),
    },
    fix: fixWrongProtocol(target, described, http),
  });
}
