// HiveServer2 (binary transport) and Hive metastore probes. Three harmless openings go out at once,
// each on its own connection, because a server of the other kind may wait forever on the wrong
// one (spec §2.5): a SASL START with a mechanism no server has (a SASL server answers BAD
// "Unsupported mechanism type"), a strict binary call of a method no server has (a plain Thrift
// server answers TApplicationException "Invalid method name"), and the same call framed. The first
// recognisable answer decides; the others are stopped.
import type { Check } from '../model.ts';
import { createBudget } from './budget.ts';
import { makeCheck } from './check.ts';
import { exchange, type ExchangeResult } from './connection.ts';
import { fixAuthRequired, fixHiveHttpMode } from './fixes.ts';
import {
  answerIsComplete,
  exchangeEvidence,
  otherAnswerCheck,
  protocolCheckId,
  PROTOCOL_LIMIT_MS,
  remoteOf,
  tlsOptionsFor,
  type ProtocolContext,
} from './protocol-probe.ts';
import { describeAnswer, identifyAnswer, type Answer } from './wire/fingerprint.ts';
import { envoyMarks } from './wire/http1.ts';
import { encodeSaslStart, encodeThriftCall, frameThrift } from './wire/thrift.ts';

/** Names an operator can grep for in the server's log. */
export const PROBE_SASL_MECHANISM = 'SPARKPLANE-DOCTOR';
export const PROBE_METHOD = 'sparkplane_doctor_probe';

type Opening = 'sasl' | 'binary' | 'framed';

const OPENINGS: readonly { readonly opening: Opening; readonly bytes: () => Buffer }[] = [
  { opening: 'sasl', bytes: () => encodeSaslStart(PROBE_SASL_MECHANISM) },
  { opening: 'binary', bytes: () => encodeThriftCall(PROBE_METHOD, 1) },
  { opening: 'framed', bytes: () => frameThrift(encodeThriftCall(PROBE_METHOD, 1)) },
];

interface Attempt {
  readonly opening: Opening;
  readonly result: ExchangeResult;
  readonly answer: Answer;
}

/** Whether an answer settles what the endpoint is, so the other openings can stop. */
function decides(answer: Answer): boolean {
  return answer.kind !== 'nothing' && answer.kind !== 'unknown' && answer.kind !== 'http1-partial';
}

async function tryOpenings(context: ProtocolContext): Promise<Attempt[]> {
  const stop = new AbortController();
  const signals = [
    stop.signal,
    ...(context.budget.signal === undefined ? [] : [context.budget.signal]),
  ];
  const budget = createBudget(context.budget.deadline, AbortSignal.any(signals));
  try {
    return await Promise.all(
      OPENINGS.map(async ({ opening, bytes }) => {
        const result = await exchange(context.endpoint, budget, {
          send: bytes(),
          tls: tlsOptionsFor(context, []),
          limitMs: PROTOCOL_LIMIT_MS,
          complete: answerIsComplete,
        });
        const answer = identifyAnswer(result.bytes).answer;
        if (decides(answer)) stop.abort();
        return { opening, result, answer };
      }),
    );
  } finally {
    stop.abort();
  }
}

export function probeHiveThrift(context: ProtocolContext): Promise<Check> {
  return probeThrift(context, 'hive-thrift');
}

export function probeHiveMetastore(context: ProtocolContext): Promise<Check> {
  return probeThrift(context, 'hive-metastore');
}

async function probeThrift(
  context: ProtocolContext,
  kind: 'hive-thrift' | 'hive-metastore',
): Promise<Check> {
  const attempts = await tryOpenings(context);
  return thriftVerdict(context, kind, attempts);
}

export function thriftVerdict(
  context: ProtocolContext,
  kind: 'hive-thrift' | 'hive-metastore',
  attempts: readonly Attempt[],
): Check {
  const { target } = context;
  const remote = remoteOf(context);
  const sasl = attempts.find((attempt) => attempt.answer.kind === 'thrift-sasl');
  const binary = attempts.find((attempt) => attempt.answer.kind === 'thrift-binary');
  const decided = sasl ?? binary;
  if (decided !== undefined) {
    const described = describeAnswer(decided.answer);
    const base = {
      id: protocolCheckId(target),
      layer: 'protocol' as const,
      evidence: {
        ...exchangeEvidence(decided.result),
        opening: decided.opening,
        answer: described,
        transport: sasl === undefined ? (binaryFramed(binary) ? 'framed' : 'binary') : 'sasl',
      },
    };
    if (sasl !== undefined && kind === 'hive-metastore') {
      return makeCheck(target, {
        ...base,
        status: 'warn',
        reason: 'auth-required',
        summary: `${remote} is a Thrift server that requires SASL (Kerberos): it answered ${described}; metastore clients must enable SASL`,
        fix: fixAuthRequired(target, 'metastore-sasl'),
      });
    }
    return makeCheck(target, {
      ...base,
      status: 'pass',
      reason: 'protocol-ok',
      summary: thriftSummary(remote, kind, sasl !== undefined, binaryFramed(binary), described),
    });
  }
  const http = attempts.find((attempt) => attempt.answer.kind === 'http1');
  if (http?.answer.kind === 'http1' && kind === 'hive-thrift') {
    const marks = envoyMarks(http.answer.head, http.answer.body);
    if (marks.length === 0) {
      const described = describeAnswer(http.answer);
      return makeCheck(target, {
        id: protocolCheckId(target),
        layer: 'protocol',
        status: 'fail',
        reason: 'wrong-protocol',
        summary: `${remote} answers HTTP (${described}), not Thrift's binary transport: HiveServer2 may run in HTTP transport mode`,
        evidence: { ...exchangeEvidence(http.result), answer: described },
        fix: fixHiveHttpMode(target),
      });
    }
  }
  return otherAnswerCheck(
    context,
    mostTelling(attempts).result,
    'Thrift openings (SASL, binary, framed)',
  );
}

function binaryFramed(attempt: Attempt | undefined): boolean {
  return attempt?.answer.kind === 'thrift-binary' && attempt.answer.framed;
}

function thriftSummary(
  remote: string,
  kind: 'hive-thrift' | 'hive-metastore',
  sasl: boolean,
  framed: boolean,
  described: string,
): string {
  if (kind === 'hive-metastore') {
    return `${remote} is a Thrift server without SASL, as a Hive metastore usually is: it answered ${described}${framed ? ' (framed transport: clients must frame too)' : ''}`;
  }
  if (sasl) {
    return `${remote} is a Thrift server over SASL, as HiveServer2 is with authentication NONE, LDAP or Kerberos: it answered ${described}; JDBC clients must not use auth=noSasl`;
  }
  return `${remote} is a Thrift server without SASL (HiveServer2 with authentication NOSASL): it answered ${described}; JDBC clients must add ;auth=noSasl${framed ? ' and use framed transport' : ''}`;
}

/** The attempt whose outcome says the most: bytes over a reset over a close over silence. */
function mostTelling(attempts: readonly Attempt[]): Attempt {
  const rank = (attempt: Attempt): number => {
    if (attempt.result.bytes.length > 0) return 0;
    if (attempt.result.end === 'reset') return 1;
    if (!attempt.result.connected && attempt.result.end !== 'timeout') return 2;
    if (attempt.result.end === 'fin' || attempt.result.end === 'error') return 3;
    return 4;
  };
  const sorted = [...attempts].sort((a, b) => rank(a) - rank(b));
  const best = sorted[0];
  if (best === undefined) throw new Error('no Thrift opening was tried');
  return best;
}
