// The external shuffle service probe: GetLocalDirsForExecutors for an application that does not
// exist. A shuffle service (Spark's or sparkplane's) looks the executor up, finds nothing and
// answers RpcFailure "Executor is not registered …"; one from before Spark 3.0 answers "Unknown
// message type"; with spark.authenticate it answers that it expected a SASL or auth message.
// Nothing is registered, read or changed.
import { randomBytes } from 'node:crypto';
import { encodeBlockTransfer } from '../../shuffle/protocol/block-transfer.ts';
import type { Check } from '../model.ts';
import { makeCheck } from './check.ts';
import { fixAuthRequired, fixWrongProtocol } from './fixes.ts';
import {
  echoCheck,
  exchangeEvidence,
  otherAnswerCheck,
  protocolCheckId,
  remoteOf,
  type ProtocolContext,
} from './protocol-probe.ts';
import { isAuthDemand, sparkRpcExchange } from './spark-rpc.ts';
import { firstLine } from './wire/fingerprint.ts';

/** Answers only a shuffle service gives to the probe. */
const SHUFFLE_SERVICE_ANSWERS = [
  /Executor is not registered/,
  /Unknown message type: 10\b/,
  /Unexpected message: GetLocalDirsForExecutors/,
];

export function shuffleProbeBody(): Buffer {
  return encodeBlockTransfer({
    type: 'GetLocalDirsForExecutors',
    appId: `sparkplane-doctor-probe-${randomBytes(4).toString('hex')}`,
    execIds: ['doctor-probe'],
  });
}

export async function probeSparkShuffle(context: ProtocolContext): Promise<Check> {
  const { target } = context;
  const { result, reply, otherFrame, echoed } = await sparkRpcExchange(context, shuffleProbeBody());
  if (echoed === true) return echoCheck(context, result);
  const remote = remoteOf(context);
  const base = {
    id: protocolCheckId(target),
    layer: 'protocol' as const,
    evidence: exchangeEvidence(result),
  };
  if (reply === undefined) {
    if (otherFrame === undefined)
      return otherAnswerCheck(context, result, 'a shuffle RPC (GetLocalDirsForExecutors)');
    return makeCheck(target, {
      ...base,
      status: 'warn',
      reason: 'protocol-ok',
      summary: `${remote} speaks Spark RPC but answered the probe with an unexpected ${otherFrame.type}`,
      fix: fixWrongProtocol(target, `Spark RPC (${otherFrame.type})`, false),
    });
  }
  if (reply.type === 'RpcResponse') {
    return makeCheck(target, {
      ...base,
      status: 'pass',
      reason: 'protocol-ok',
      summary: `${remote} is a Spark shuffle service: it answered the probe's GetLocalDirsForExecutors`,
    });
  }
  const error = firstLine(reply.error);
  const evidence = { ...base.evidence, rpcFailure: error };
  if (isAuthDemand(reply.error)) {
    return makeCheck(target, {
      ...base,
      evidence,
      status: 'warn',
      reason: 'auth-required',
      summary: `${remote} speaks Spark RPC and requires authentication (spark.authenticate): it answered "${error}"; clients without the shared secret are refused`,
      fix: fixAuthRequired(target, 'spark-rpc'),
    });
  }
  if (SHUFFLE_SERVICE_ANSWERS.some((pattern) => pattern.test(reply.error))) {
    return makeCheck(target, {
      ...base,
      evidence,
      status: 'pass',
      reason: 'protocol-ok',
      summary: `${remote} is a Spark shuffle service without authentication: it answered "${error}" about the probe's made-up application`,
    });
  }
  return makeCheck(target, {
    ...base,
    evidence,
    status: 'fail',
    reason: 'wrong-protocol',
    summary: `${remote} speaks Spark RPC but is not a shuffle service (it answered "${error}"): perhaps a driver, executor or master port`,
    fix: fixWrongProtocol(target, `Spark RPC that is not a shuffle service ("${error}")`, false),
  });
}
