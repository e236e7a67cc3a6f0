// One call on a pinned connection: what the relay knows of it while its first message is read,
// routed and relayed, and the bookkeeping once it is over — the same records, metrics and session
// table updates a terminated call gets.
import type { SessionBinding } from '../../routing/affinity-store.ts';
import type { SessionTable } from '../../routing/session-table.ts';
import { gatewayChannels } from '../../observability-channels.ts';
import { GatewayError } from '../../errors.ts';
import {
  SPARK_CONNECT_METHODS,
  requestScanSpec,
  sparkConnectMethodOf,
  type SparkConnectMethodName,
} from '../../wire/spark-connect.ts';
import type { HeaderField } from '../../wire/hpack.ts';
import { finished, newCallRecord, type CallRecord } from '../call-routing.ts';
import { createFirstMessagePeek, type FirstMessagePeek } from '../first-message-peek.ts';
import { afterCall, noteResponseIds, type ResponseScan } from '../session-bookkeeping.ts';
import { grpcStatusOf, messageOf } from '../grpc-respond.ts';
import type { SecretMasker } from '../secret-masker.ts';

/** peeking → routing → upstream, or answered by the gateway, or refused (client retries). */
export type PinnedStreamState = 'peeking' | 'routing' | 'upstream' | 'answered' | 'refused';

export interface PinnedStream {
  readonly clientId: number;
  upstreamId: number;
  state: PinnedStreamState;
  readonly call: CallRecord;
  readonly method: SparkConnectMethodName | undefined;
  readonly path: { readonly service: string; readonly method: string };
  /** The :path as the client sent it. */
  readonly requestPath: string;
  readonly headers: readonly HeaderField[];
  readonly peek: FirstMessagePeek;
  /** Frames that arrived before the call was routed, in order, to forward once it is. */
  held: Buffer[];
  /** Flow-controlled bytes (DATA payloads, padding included) among `held`. */
  heldDataBytes: number;
  key: string;
  binding: SessionBinding | undefined;
  responseScan: ResponseScan | undefined;
  /** With a backend token: keeps it out of the response bytes. */
  masker: SecretMasker | undefined;
  streaming: boolean;
  clientEnded: boolean;
  responseStarted: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Routed before its first message ended: the caller's user id is checked again at its end. */
  identityPending: boolean;
}

export interface RequestHead {
  readonly method: string;
  readonly path: string;
  readonly contentType: string;
  readonly encoding: string | undefined;
}

export function requestHead(fields: readonly HeaderField[]): RequestHead {
  let method = '';
  let path = '';
  let contentType = '';
  let encoding: string | undefined;
  for (const field of fields) {
    // Indexed, not destructured: a destructured tuple costs an iterator on every field.
    const name = field[0];
    const value = field[1];
    if (name === ':method') method = value;
    else if (name === ':path') path = value;
    else if (name === 'content-type') contentType = value;
    else if (name === 'grpc-encoding') encoding = value;
  }
  return { method, path, contentType, encoding };
}

export function createPinnedStream(
  clientId: number,
  fields: readonly HeaderField[],
  head: RequestHead,
  path: { service: string; method: string },
  options: {
    client: string;
    maxMessageBytes: number;
    wholeMessageBytes: number;
    generic: SparkConnectMethodName;
  },
): PinnedStream {
  const method = sparkConnectMethodOf(path);
  return {
    clientId,
    upstreamId: 0,
    state: 'peeking',
    call: newCallRecord(path.method, options.client),
    method,
    path,
    requestPath: head.path,
    headers: fields,
    peek: createFirstMessagePeek({
      spec: requestScanSpec(method ?? options.generic),
      maxMessageBytes: options.maxMessageBytes,
      wholeMessageBytes: options.wholeMessageBytes,
      encoding: head.encoding,
    }),
    held: [],
    heldDataBytes: 0,
    key: '',
    binding: undefined,
    responseScan: undefined,
    masker: undefined,
    streaming: method !== undefined && SPARK_CONNECT_METHODS[method].streaming !== 'unary',
    clientEnded: false,
    responseStarted: false,
    timer: undefined,
    identityPending: false,
  };
}

/** A user id quoted in an error is cut to this many characters. */
const QUOTED_ID_CHARS = 64;

const shortened = (id: string): string =>
  id.length > QUOTED_ID_CHARS ? `${id.slice(0, QUOTED_ID_CHARS)}…` : id;

/**
 * With client authentication the terminating relay writes the verified identity into the
 * request's user_context; a pinned connection passes the request through unchanged, so its
 * user id must already be that identity, or the server would take the call as another user's.
 * Throws GW_PERMISSION_DENIED when it is not.
 */
export function checkPinnedIdentity(
  call: Pick<CallRecord, 'method' | 'principal'>,
  method: SparkConnectMethodName | undefined,
  userId: string | undefined,
): void {
  const { principal } = call;
  // A plugin's method without a user_context is routed with the connection's last session.
  if (userId === principal || (userId === undefined && method === undefined)) return;
  throw new GatewayError(
    'GW_PERMISSION_DENIED',
    `the ${call.method} request names ${userId === undefined ? 'no user_id' : `user_id "${shortened(userId)}"`} but the caller authenticated as "${principal}"; ` +
      `this gateway relays connections pinned (--relay pinned) and passes requests through unchanged, so set the client's user id to its identity: ` +
      `sc://HOST:PORT/;token=TOKEN;user_id=${principal} (PySpark), or run the gateway with --relay terminate, which sets it for the client`,
  );
}

/** Records an answer the gateway gave itself in the call, as the terminating path does. */
export function noteFailure(stream: PinnedStream, error: unknown): void {
  stream.call.status = grpcStatusOf(error);
  stream.call.message = messageOf(error);
  if (error instanceof GatewayError && error.code !== 'GW_CANCELLED')
    gatewayChannels.requestRejected.publish({
      kind: error.code,
      client: stream.call.client,
      detail: `${stream.call.method}: ${error.message}`,
    });
}

/** The call is over: what its first response said, the session's last use, the call record. */
export function completeCall(sessions: SessionTable, stream: PinnedStream): void {
  if (stream.timer !== undefined) clearTimeout(stream.timer);
  const { call, key } = stream;
  if (key !== '') {
    if (stream.responseScan?.ids !== undefined)
      noteResponseIds(sessions, key, stream.binding, stream.responseScan.ids, call.client);
    // A call that reached its server was counted as an open stream of its session.
    if (stream.streaming && stream.upstreamId !== 0) sessions.streamClosed(key);
    sessions.seen(key);
    afterCall(sessions, call, key);
  }
  finished(call);
}
