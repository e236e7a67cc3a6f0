// Web ports (Spark UI, HTTP, HTTPS): one GET / and its response head. Any HTTP answer proves the
// protocol; the status and headers say more — credentials wanted, or an Envoy proxy (server:
// envoy, x-envoy-*, its local-reply texts) that cannot reach what is behind it.
import type { Check } from '../model.ts';
import { makeCheck } from './check.ts';
import { exchange } from './connection.ts';
import { fixAuthRequired, fixProxyUpstream, fixWrongProtocol } from './fixes.ts';
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
import { hostPort } from './check.ts';
import { describeAnswer, identifyAnswer } from './wire/fingerprint.ts';
import { describeHttp1Head, encodeHttp1Get, envoyMarks, type Http1Head } from './wire/http1.ts';

export async function probeHttp(context: ProtocolContext): Promise<Check> {
  const { target } = context;
  const result = await exchange(context.endpoint, context.budget, {
    send: encodeHttp1Get(hostPort(target.host, target.port)),
    tls: tlsOptionsFor(context, ['http/1.1']),
    limitMs: PROTOCOL_LIMIT_MS,
    complete: answerIsComplete,
  });
  const answer = identifyAnswer(result.bytes).answer;
  const remote = remoteOf(context);
  const base = {
    id: protocolCheckId(target),
    layer: 'protocol' as const,
    evidence: exchangeEvidence(result),
  };
  if (answer.kind === 'http2') {
    const described = describeAnswer(answer);
    return makeCheck(target, {
      ...base,
      status: 'fail',
      reason: 'wrong-protocol',
      summary: `${remote} answers ${described} and no HTTP/1: a gRPC server such as Spark Connect owns the port`,
      evidence: { ...base.evidence, answer: described },
      fix: fixWrongProtocol(target, described, false),
    });
  }
  if (answer.kind !== 'http1') return otherAnswerCheck(context, result, 'an HTTP GET');
  const { head } = answer;
  const described = describeHttp1Head(head);
  const marks = envoyMarks(head, answer.body);
  const evidence = {
    ...base.evidence,
    httpStatus: head.status,
    server: head.headers.get('server') ?? null,
    answer: described,
    ...(marks.length > 0 ? { envoy: marks.join(', ') } : {}),
  };
  const proxy = marks.length > 0 ? ' from an Envoy proxy' : '';
  if (head.status === 401 || head.status === 403) {
    const rbac = answer.body.includes('RBAC: access denied');
    return makeCheck(target, {
      ...base,
      evidence: {
        ...evidence,
        wwwAuthenticate: head.headers.get('www-authenticate') ?? null,
      },
      status: 'warn',
      reason: 'auth-required',
      summary: `${remote} answers HTTP${proxy} but wants credentials (${described}${rbac ? ': RBAC: access denied' : ''})`,
      fix: fixAuthRequired(target, rbac ? 'mesh-rbac' : 'http'),
    });
  }
  if (head.status >= 500) {
    return makeCheck(target, {
      ...base,
      evidence,
      status: 'warn',
      reason: 'protocol-ok',
      summary: `${remote} answers HTTP${proxy} with a server error (${described}${upstreamText(answer.body)})`,
      fix: fixProxyUpstream(target, described),
    });
  }
  return makeCheck(target, {
    ...base,
    evidence: { ...evidence, location: head.headers.get('location') ?? null },
    status: 'pass',
    reason: 'protocol-ok',
    summary: `${remote} answers HTTP (${described})${looksLikeSparkUi(head) && target.service === 'spark-ui' ? ', as the Spark UI does' : ''}`,
  });
}

function upstreamText(body: string): string {
  const line = body.trim().split(/\r?\n/, 1)[0] ?? '';
  return line === '' ? '' : `: ${line.slice(0, 160)}`;
}

/** Spark's UI is Jetty and sends `/` on to `/jobs/`. */
function looksLikeSparkUi(head: Http1Head): boolean {
  return (
    /jetty/i.test(head.headers.get('server') ?? '') ||
    /\/jobs\/?$/.test(head.headers.get('location') ?? '')
  );
}
