// The standalone master probe (port 7077, Spark's NettyRpcEnv): an RpcRequest whose body is the
// single byte 0x7F. The RPC env cannot read a sender address from it, throws (EOFException), and
// answers RpcFailure; with spark.authenticate the auth handler refuses it first. A shuffle service
// on this port would answer "Unknown message type: 127" instead.
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

export const MASTER_PROBE_BODY = Buffer.from([0x7f]);

const SHUFFLE_SERVICE_ANSWER = /Unknown message type: 127|Executor is not registered/;

export async function probeSparkMaster(context: ProtocolContext): Promise<Check> {
  const { target } = context;
  const { result, reply, otherFrame, echoed } = await sparkRpcExchange(context, MASTER_PROBE_BODY);
  if (echoed === true) return echoCheck(context, result);
  const remote = remoteOf(context);
  const base = {
    id: protocolCheckId(target),
    layer: 'protocol' as const,
    evidence: exchangeEvidence(result),
  };
  if (reply === undefined && otherFrame === undefined)
    return otherAnswerCheck(context, result, 'a Spark RPC request');
  const error = reply?.type === 'RpcFailure' ? firstLine(reply.error) : '';
  const evidence = { ...base.evidence, rpcFailure: error };
  if (reply?.type === 'RpcFailure' && isAuthDemand(reply.error)) {
    return makeCheck(target, {
      ...base,
      evidence,
      status: 'warn',
      reason: 'auth-required',
      summary: `${remote} speaks Spark RPC and requires authentication (spark.authenticate): it answered "${error}"`,
      fix: fixAuthRequired(target, 'spark-rpc'),
    });
  }
  if (reply?.type === 'RpcFailure' && SHUFFLE_SERVICE_ANSWER.test(reply.error)) {
    return makeCheck(target, {
      ...base,
      evidence,
      status: 'fail',
      reason: 'wrong-protocol',
      summary: `${remote} is a Spark shuffle service, not a master (it answered "${error}")`,
      fix: fixWrongProtocol(target, 'a Spark shuffle service', false),
    });
  }
  return makeCheck(target, {
    ...base,
    evidence,
    status: 'pass',
    reason: 'protocol-ok',
    summary: `${remote} speaks Spark RPC${error === '' ? '' : ` (it answered the probe with "${error}")`}`,
  });
}
