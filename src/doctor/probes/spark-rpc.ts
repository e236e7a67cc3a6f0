// Spark RPC (network-common) probes, shared by the shuffle service and the standalone master: one
// RpcRequest with a random request id, whose answer is an RpcFailure echoing that id. Spark's
// TransportRequestHandler answers a handler's exception that way and keeps the connection, so
// nothing changes on the server beyond an ERROR log line. With spark.authenticate the first RPC
// goes to the auth handler instead, and its refusal says so.
import { randomBytes } from 'node:crypto';
import { encodeMessage, type TransportMessage } from '../../shuffle/protocol/messages.ts';
import { exchange, type ExchangeResult } from './connection.ts';
import {
  answerIsComplete,
  PROTOCOL_LIMIT_MS,
  tlsOptionsFor,
  type ProtocolContext,
} from './protocol-probe.ts';
import { identifyAnswer } from './wire/fingerprint.ts';

export interface SparkRpcExchange {
  readonly result: ExchangeResult;
  /** The answer to our request, when one came. */
  readonly reply?: Extract<TransportMessage, { type: 'RpcResponse' | 'RpcFailure' }>;
  /** A Spark frame came back, but not for our request. */
  readonly otherFrame?: TransportMessage;
  /** Our own request came back byte for byte: an echo, not a Spark service. */
  readonly echoed?: true;
}

/**
 * Texts of Spark's auth handlers refusing a first RPC that is not an auth message: SASL
 * (`SaslRpcHandler`), the AuthEngine without SASL fallback (`AuthRpcHandler`), and sparkplane's own.
 */
const AUTH_DEMANDS = [
  /Expected SaslMessage/,
  /Expected AuthMessage/,
  /Unknown challenge message/,
  /Unauthenticated call/,
  /not authorized for application/,
];

export function isAuthDemand(error: string): boolean {
  return AUTH_DEMANDS.some((pattern) => pattern.test(error));
}

export function randomRequestId(): bigint {
  // Spark's ids are non-negative longs.
  return randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn;
}

export async function sparkRpcExchange(
  context: ProtocolContext,
  body: Buffer,
): Promise<SparkRpcExchange> {
  const requestId = randomRequestId();
  const request = encodeMessage({ type: 'RpcRequest', requestId, body });
  const result = await exchange(context.endpoint, context.budget, {
    send: request,
    tls: tlsOptionsFor(context, []),
    limitMs: PROTOCOL_LIMIT_MS,
    complete: answerIsComplete,
  });
  if (
    result.bytes.length >= request.length &&
    result.bytes.subarray(0, request.length).equals(request)
  )
    return { result, echoed: true };
  const answer = identifyAnswer(result.bytes).answer;
  if (answer.kind !== 'spark-rpc') return { result };
  const { message } = answer;
  if (
    (message.type === 'RpcFailure' || message.type === 'RpcResponse') &&
    message.requestId === requestId
  )
    return { result, reply: message };
  return { result, otherFrame: message };
}
