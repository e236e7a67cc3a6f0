// A call's record and the steps of a call that need no stream: routing it by the fields of its
// first request message, rewriting that message's user id to the verified identity, and
// publishing the call once it is over.
import type http2 from 'node:http2';
import { GatewayError } from '../errors.ts';
import { gatewayChannels } from '../observability-channels.ts';
import { sessionKey } from '../routing/affinity-store.ts';
import type { Route, RouteRequest } from '../routing/router.ts';
import {
  SPARK_CONNECT_METHODS,
  assertSingleUserContext,
  rewriteRequestPrefix,
  type RoutingFields,
  type SparkConnectMethodName,
} from '../wire/spark-connect.ts';
import type { ClientConnection } from './front-server.ts';
import type { PeekedRequest } from './request-peek.ts';
import type { ProxyDependencies } from './stream-proxy.ts';

const MAX_ID_CHARS = 1024;

export interface CallRecord {
  method: string;
  backend: string;
  principal: string;
  userId: string;
  sessionId: string;
  bytesIn: number;
  bytesOut: number;
  status: number;
  message: string;
  readonly started: number;
  readonly client: string;
}

/** A call as it starts: nothing known of it but its method and its client. */
export function newCallRecord(method: string, client: string): CallRecord {
  return {
    method,
    backend: '',
    principal: '',
    userId: '',
    sessionId: '',
    bytesIn: 0,
    bytesOut: 0,
    status: -1,
    message: '',
    started: performance.now(),
    client,
  };
}

/**
 * What the router needs of a call, from the fields of its first message; throws GatewayError for
 * a request without a usable session id. Records the ids on the call.
 */
export function routeRequestOf(
  deps: Pick<ProxyDependencies, 'rewriteUserId' | 'sessions'>,
  method: SparkConnectMethodName | undefined,
  path: { service: string; method: string },
  fields: RoutingFields,
  call: CallRecord,
  connection: ClientConnection,
): { request: RouteRequest; key: string } {
  let sessionId = fields.sessionId ?? '';
  let userId = fields.userId ?? '';
  if (deps.rewriteUserId && call.principal !== '') userId = call.principal;
  if (sessionId === '' && method === undefined && connection.lastSessionKey !== undefined) {
    // A plugin's method without the usual fields: it belongs with the connection's session.
    const last = deps.sessions.find(connection.lastSessionKey);
    if (last !== undefined) {
      sessionId = last.sessionId;
      userId = last.userId;
    }
  }
  if (sessionId === '')
    throw new GatewayError(
      'GW_NO_SESSION_ID',
      `the ${path.method} request carries no session_id (protobuf field 1); the sparkplane gateway routes Spark Connect calls by session, so use a Spark Connect client`,
    );
  if (sessionId.length > MAX_ID_CHARS || userId.length > MAX_ID_CHARS)
    throw new GatewayError(
      'GW_BAD_REQUEST',
      `the ${path.method} request's session_id or user_id is longer than ${String(MAX_ID_CHARS)} characters`,
    );
  call.sessionId = sessionId;
  call.userId = userId;
  return {
    request: {
      method: path.method,
      createsSession: method === undefined ? false : SPARK_CONNECT_METHODS[method].createsSession,
      principal: call.principal,
      userId,
      sessionId,
      operationId: fields.operationId,
      client: call.client,
    },
    key: sessionKey(call.principal, userId, sessionId),
  };
}

export async function routeCall(
  deps: ProxyDependencies,
  method: SparkConnectMethodName | undefined,
  path: { service: string; method: string },
  fields: RoutingFields,
  call: CallRecord,
  connection: ClientConnection,
): Promise<{ route: Route; key: string }> {
  const { request, key } = routeRequestOf(deps, method, path, fields, call, connection);
  return { route: deps.router.routeKnown(request) ?? (await deps.router.route(request)), key };
}

/** The peeked bytes, with the user id rewritten to the verified identity when configured. */
export function firstMessageBytes(
  deps: Pick<ProxyDependencies, 'rewriteUserId'>,
  context: {
    readonly peeked: PeekedRequest;
    readonly call: CallRecord;
    readonly method: SparkConnectMethodName | undefined;
  },
  inserted: boolean,
): Buffer[] {
  const { peeked, call, method } = context;
  if (!deps.rewriteUserId || call.principal === '') return peeked.chunks;
  if (method !== undefined && peeked.firstMessageDone)
    assertSingleUserContext(peeked.scanner, method, inserted);
  const all = Buffer.concat(peeked.chunks);
  const compressed = all[0] === 1;
  if (compressed)
    throw new GatewayError(
      'GW_UNIMPLEMENTED',
      'the sparkplane gateway sets the verified user id in each request and cannot do so in a compressed request message; turn request compression off',
    );
  const length = all.readUInt32BE(1);
  const field2 = peeked.scanner.first(2);
  const { bytes, delta } = rewriteRequestPrefix(all.subarray(5), field2, call.principal);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length + delta, 1);
  return [header, bytes];
}

export function noteStatus(call: CallRecord, headers: http2.IncomingHttpHeaders): void {
  const status = headers['grpc-status'];
  if (status !== undefined) call.status = Number(status);
}

export function finished(call: CallRecord): void {
  gatewayChannels.rpcFinished.publish({
    method: call.method,
    backend: call.backend,
    status: call.status,
    durationMs: performance.now() - call.started,
    bytesIn: call.bytesIn,
    bytesOut: call.bytesOut,
    sessionId: call.sessionId,
    userId: call.userId,
    principal: call.principal,
    client: call.client,
    message: call.message,
  });
}
