// The gateway's side of a native pinned connection: what it decides and records for the calls
// the engine reports. A call of a session already routed to the connection's server goes
// through the engine alone and comes back here only as numbers (started, then over), with its
// session's strings kept once per connection in a slot — or, when no one logs each call
// (summarizeOkCalls), a unary call that ends OK only in a summary of its session's calls of its
// method. Every other call is routed here as the TypeScript relay routes it (pinned-calls.ts), and
// answered here when the gateway answers it.
import { GatewayError, GrpcStatus } from '../../errors.ts';
import { gatewayChannels, type RpcFinished } from '../../observability-channels.ts';
import type { Backend } from '../../backends/backend-pool.ts';
import type {
  NativeCore,
  NativePinnedEngine,
  PinnedEventDetails,
} from '../../native/native-core.ts';
import type { SessionBinding } from '../../routing/affinity-store.ts';
import type { Route } from '../../routing/router.ts';
import { encodeReleaseSessionResponse } from '../../wire/spark-connect-codecs.ts';
import {
  SPARK_CONNECT_METHODS,
  isSparkConnectMethod,
  parseMethodPath,
  readRoutingFields,
  requestScanSpec,
  type ResponseIds,
  type RoutingFields,
  type SparkConnectMethodName,
} from '../../wire/spark-connect.ts';
import type { ClientConnection } from '../front-server.ts';
import { newCallRecord, routeRequestOf, type CallRecord } from '../call-routing.ts';
import { createFirstMessagePeek } from '../first-message-peek.ts';
import { grpcStatusOf, healthCheckResponse, messageOf, notGrpcText } from '../grpc-respond.ts';
import { afterCall, noteResponseIds } from '../session-bookkeeping.ts';
import { GENERIC_ROUTING } from '../stream-proxy.ts';
import { messageResponse, plainResponse } from './answers.ts';
import {
  CallsField,
  EventField,
  PinnedEventKind,
  eventNumber,
  type PinnedEvents,
} from './native-output.ts';
import { WHOLE_FIRST_MESSAGE_BYTES, type PinnedRelayDependencies } from './pinned-calls.ts';
import { checkPinnedIdentity } from './pinned-stream.ts';

/** How long a verified credential is taken again on the same connection without asking. */
const IDENTITY_TTL_MS = 1000;

export interface NativeCallsLink {
  readonly core: NativeCore;
  readonly engine: NativePinnedEngine;
  readonly deps: PinnedRelayDependencies;
  readonly connection: ClientConnection;
  /** The client's address, for the clients whose connections carry several servers' sessions. */
  readonly address: string;
  readonly run: (call: (io: Float64Array, scratch: Buffer) => number) => void;
  /** The server the connection relays to; pinned now to `target` when it has none yet. */
  readonly pin: (target: Backend) => Backend;
  readonly backend: () => Backend | undefined;
  readonly upstreamSpoke: () => boolean;
}

export interface NativeCalls {
  handle(events: PinnedEvents): void;
}

/** A session routed on this connection, numbered for the engine. */
interface Slot {
  readonly key: string;
  binding: SessionBinding | undefined;
  readonly principal: string;
  readonly userId: string;
  readonly sessionId: string;
}

/** A call the gateway heard of before its end (to route it, or to answer it). */
interface Pending {
  readonly call: CallRecord;
  readonly method: SparkConnectMethodName | undefined;
  key: string;
  binding: SessionBinding | undefined;
}

/** An event the gateway decides on (a call to route, authenticate or answer). */
interface PinnedEvent {
  readonly stream: number;
  /** Index into the addon's method names, from 1; 0 for no SparkConnectService method. */
  readonly method: number;
  readonly details: PinnedEventDetails | undefined;
}

const methodNamesOf = new WeakMap<NativeCore, readonly string[]>();

function methodNames(core: NativeCore): readonly string[] {
  let names = methodNamesOf.get(core);
  if (names === undefined) {
    names = core.pinnedMethodNames();
    methodNamesOf.set(core, names);
  }
  return names;
}

const streaming = (method: SparkConnectMethodName | undefined): boolean =>
  method !== undefined && SPARK_CONNECT_METHODS[method].streaming !== 'unary';

function responseIds(details: PinnedEventDetails | undefined): ResponseIds | undefined {
  if (details === undefined) return undefined;
  const ids: { -readonly [K in keyof ResponseIds]: ResponseIds[K] } = {};
  if (details.responseSessionId !== undefined) ids.sessionId = details.responseSessionId;
  if (details.serverSideSessionId !== undefined)
    ids.serverSideSessionId = details.serverSideSessionId;
  if (details.responseOperationId !== undefined) ids.operationId = details.responseOperationId;
  if (details.newSessionId !== undefined) ids.newSessionId = details.newSessionId;
  return Object.keys(ids).length === 0 ? undefined : ids;
}

export function createNativeCalls(link: NativeCallsLink): NativeCalls {
  const { engine, deps, connection } = link;
  const names = methodNames(link.core);
  const slots: (Slot | undefined)[] = [undefined];
  const slotOf = new Map<string, number>();
  const pending = new Map<number, Pending>();

  const methodOf = (event: { readonly method: number }): SparkConnectMethodName | undefined =>
    methodNamed(event.method);
  const methodNamed = (number: number): SparkConnectMethodName | undefined => {
    const name = number > 0 ? names[number - 1] : undefined;
    return name !== undefined && isSparkConnectMethod(name) ? name : undefined;
  };

  /** The call's record, made when the gateway first hears of it. */
  function pendingOf(event: PinnedEvent): Pending {
    let entry = pending.get(event.stream);
    if (entry === undefined) {
      const method = methodOf(event);
      const path = event.details?.path ?? '';
      const name = method ?? parseMethodPath(path)?.method ?? path;
      entry = { call: newCallRecord(name, connection.remote), method, key: '', binding: undefined };
      pending.set(event.stream, entry);
    }
    return entry;
  }

  function slotFor(entry: Pending): number {
    const { call, key } = entry;
    let slot = slotOf.get(key);
    if (slot === undefined) {
      slot = slots.length;
      slots.push({
        key,
        binding: entry.binding,
        principal: call.principal,
        userId: call.userId,
        sessionId: call.sessionId,
      });
      slotOf.set(key, slot);
    } else {
      const known = slots[slot];
      if (known !== undefined) known.binding = entry.binding;
    }
    return slot;
  }

  function answerError(stream: number, entry: Pending, error: unknown): void {
    const { call } = entry;
    call.status = grpcStatusOf(error);
    call.message = messageOf(error);
    if (error instanceof GatewayError && error.code !== 'GW_CANCELLED')
      gatewayChannels.requestRejected.publish({
        kind: error.code,
        client: call.client,
        detail: `${call.method}: ${error.message}`,
      });
    link.run((io, scratch) =>
      engine.answerError(stream, call.status, call.message, performance.now(), io, scratch),
    );
  }

  function answerFrames(stream: number, frames: Buffer[], dataBytes: number, status: number): void {
    const all = Buffer.concat(frames);
    link.run((io, scratch) =>
      engine.answerFrames(stream, all, dataBytes, status, performance.now(), io, scratch),
    );
  }

  function answerMessage(stream: number, entry: Pending, body: Uint8Array): void {
    const response = messageResponse(stream, body);
    entry.call.status = GrpcStatus.OK;
    answerFrames(stream, response.frames, response.dataBytes, GrpcStatus.OK);
  }

  /** The routing fields of a compressed first message, inflated as the TypeScript peek does. */
  function compressedFields(entry: Pending, details: PinnedEventDetails): RoutingFields {
    const method = entry.method ?? GENERIC_ROUTING;
    const peek = createFirstMessagePeek({
      spec: requestScanSpec(method),
      maxMessageBytes: deps.maxMessageBytes,
      wholeMessageBytes: WHOLE_FIRST_MESSAGE_BYTES,
      encoding: details.encoding,
    });
    peek.push(details.compressedMessage ?? Buffer.alloc(0));
    if (!peek.firstMessageDone || peek.scanner === undefined)
      throw new GatewayError(
        'GW_BAD_REQUEST',
        'the request ended in the middle of its first message',
      );
    const fields = readRoutingFields(peek.scanner, method);
    if (deps.rewriteUserId && entry.call.principal !== '')
      checkPinnedIdentity(entry.call, entry.method, fields.userId);
    return fields;
  }

  function route(event: PinnedEvent): void {
    const entry = pendingOf(event);
    const details = event.details ?? {};
    const { call } = entry;
    call.principal = details.principal ?? '';
    const path = parseMethodPath(details.path ?? '') ?? { service: '', method: call.method };
    let routed: Promise<Route>;
    let key: string;
    try {
      const fields: RoutingFields =
        details.compressedMessage === undefined
          ? {
              ...(details.sessionId === undefined ? {} : { sessionId: details.sessionId }),
              ...(details.userId === undefined ? {} : { userId: details.userId }),
              ...(details.operationId === undefined ? {} : { operationId: details.operationId }),
            }
          : compressedFields(entry, details);
      const of = routeRequestOf(deps, entry.method, path, fields, call, connection);
      key = of.key;
      const known = deps.router.routeKnown(of.request);
      if (known !== undefined) {
        onRouted(event.stream, entry, known, key);
        return;
      }
      routed = deps.router.route(of.request);
    } catch (error) {
      answerError(event.stream, entry, error);
      return;
    }
    routed.then(
      (where) => {
        if (pending.get(event.stream) !== entry) return;
        try {
          onRouted(event.stream, entry, where, key);
        } catch (error) {
          answerError(event.stream, entry, error);
        }
      },
      (error: unknown) => {
        if (pending.get(event.stream) !== entry) return;
        answerError(event.stream, entry, error);
      },
    );
  }

  function onRouted(stream: number, entry: Pending, where: Route, key: string): void {
    const { call } = entry;
    if (where.kind === 'unknown-session-release') {
      // Nothing to release on any server; answered as a server does for a session it never had.
      answerMessage(stream, entry, encodeReleaseSessionResponse(call.sessionId));
      return;
    }
    connection.lastSessionKey = key;
    entry.key = key;
    entry.binding = where.binding;
    if (link.pin(where.backend).id !== where.backend.id) {
      sendAway(stream, entry);
      return;
    }
    const slot = slotFor(entry);
    call.backend = where.backend.id;
    gatewayChannels.rpcStarted.publish({ method: call.method, backend: call.backend });
    if (streaming(entry.method)) deps.sessions.streamOpened(key);
    const cache = where.binding !== undefined;
    const serverSideKnown = where.binding?.serverSideSessionId !== undefined;
    link.run((io, scratch) => engine.forward(stream, slot, cache, serverSideKnown, io, scratch));
  }

  /** The call's session lives on another server than the connection's. */
  function sendAway(stream: number, entry: Pending): void {
    const { call } = entry;
    deps.mixedClients.flag(link.address);
    let result = 0;
    link.run((io, scratch) => {
      result = engine.sendAway(stream, io, scratch);
      return result;
    });
    if (result === -1 || (result > 0 && engine.sentAway)) {
      // Never processed: the client's gRPC library retries it on a new connection.
      pending.delete(stream);
      gatewayChannels.requestRejected.publish({
        kind: 'pinned-session-elsewhere',
        client: connection.remote,
        detail: `${call.method} for session ${call.sessionId} on ${call.backend || 'another server'}`,
      });
      return;
    }
    answerError(
      stream,
      entry,
      new GatewayError(
        'GW_BACKEND_UNREACHABLE',
        `the ${call.method} call's session is on another Spark Connect server than the other calls of this connection; retry the call (it goes over a new connection)`,
      ),
    );
  }

  function authenticate(event: PinnedEvent): void {
    const entry = pendingOf(event);
    const authorization = event.details?.authorization;
    deps.authenticate(authorization === undefined ? {} : { authorization }).then(
      (principal) => {
        if (pending.get(event.stream) !== entry) return;
        const now = performance.now();
        link.run((io, scratch) =>
          engine.authenticated(event.stream, principal, now + IDENTITY_TTL_MS, now, io, scratch),
        );
      },
      (error: unknown) => {
        if (pending.get(event.stream) !== entry) return;
        answerError(event.stream, entry, error);
      },
    );
  }

  function opened(event: PinnedEvent): void {
    const entry = pendingOf(event);
    const details = event.details ?? {};
    if (details.kind === 'health-check') {
      answerMessage(event.stream, entry, healthCheckResponse(deps.serving()));
      return;
    }
    const method = details.httpMethod ?? '';
    const path = details.path ?? '';
    const contentType = details.contentType ?? '';
    gatewayChannels.requestRejected.publish({
      kind: 'not-grpc',
      client: connection.remote,
      detail: `${method} ${path} (content-type ${contentType === '' ? 'none' : contentType})`,
    });
    const frames = plainResponse(event.stream, 415, notGrpcText(method, path));
    const body = frames.at(-1);
    answerFrames(event.stream, frames, body === undefined ? 0 : body.length - 9, -1);
  }

  function forwarded(events: PinnedEvents, index: number): void {
    const slot = slots[eventNumber(events, index, EventField.SLOT)];
    if (slot === undefined) return;
    const method = methodNamed(eventNumber(events, index, EventField.METHOD));
    gatewayChannels.rpcStarted.publish({
      method: method ?? '',
      backend: link.backend()?.id ?? '',
    });
    connection.lastSessionKey = slot.key;
    if (streaming(method)) deps.sessions.streamOpened(slot.key);
  }

  /** OK unary calls of a session the engine routed itself, summed up (kind CALLS). */
  function summarized(events: PinnedEvents, index: number): void {
    const slot = slots[eventNumber(events, index, EventField.SLOT)];
    if (slot === undefined) return;
    const method = methodNamed(eventNumber(events, index, EventField.METHOD)) ?? '';
    const backend = link.backend()?.id ?? '';
    const started = eventNumber(events, index, CallsField.STARTED);
    if (started > 0) {
      gatewayChannels.rpcsStarted.publish({ method, backend, count: started });
      connection.lastSessionKey = slot.key;
    }
    const ended = eventNumber(events, index, CallsField.ENDED);
    if (ended === 0) return;
    deps.sessions.seen(slot.key);
    gatewayChannels.rpcsFinished.publish({
      method,
      backend,
      count: ended,
      durationsMs: events.numbers,
      durationsAt: eventNumber(events, index, CallsField.DURATIONS_AT),
      bytesIn: eventNumber(events, index, CallsField.BYTES_IN),
      bytesOut: eventNumber(events, index, CallsField.BYTES_OUT),
    });
  }

  function completed(events: PinnedEvents, index: number): void {
    const stream = eventNumber(events, index, EventField.STREAM);
    const details = events.details[index];
    const entry = pending.get(stream);
    if (entry !== undefined) pending.delete(stream);
    const slotNumber = eventNumber(events, index, EventField.SLOT);
    const slot = slotNumber > 0 ? slots[slotNumber] : undefined;
    const method = methodNamed(eventNumber(events, index, EventField.METHOD));
    const forwardedToServer = eventNumber(events, index, EventField.FORWARDED) === 1;
    const message = details?.message ?? '';
    // The record is published as it is: the engine timed the call.
    const call: RpcFinished = {
      method: entry?.call.method ?? method ?? details?.path ?? '',
      backend: forwardedToServer ? (link.backend()?.id ?? '') : '',
      status: eventNumber(events, index, EventField.STATUS),
      durationMs: eventNumber(events, index, EventField.DURATION_MS),
      bytesIn: eventNumber(events, index, EventField.BYTES_IN),
      bytesOut: eventNumber(events, index, EventField.BYTES_OUT),
      sessionId: entry?.call.sessionId ?? slot?.sessionId ?? '',
      userId: entry?.call.userId ?? slot?.userId ?? '',
      principal: entry?.call.principal ?? slot?.principal ?? '',
      client: connection.remote,
      message,
    };
    const key = entry?.key ?? slot?.key ?? '';
    const binding = entry?.binding ?? slot?.binding;
    const fault = details?.fault;
    if (fault !== undefined && fault !== 'GW_CANCELLED') {
      gatewayChannels.requestRejected.publish({
        kind: fault,
        client: call.client,
        detail: `${call.method}: ${message}`,
      });
      // A session placed by this call was never used: the retry is placed afresh.
      if (fault === 'GW_BACKEND_UNREACHABLE' && !link.upstreamSpoke() && binding !== undefined)
        void deps.router.unplace(binding).catch(() => undefined);
    }
    if (key !== '') {
      const ids = responseIds(details);
      if (ids !== undefined) noteResponseIds(deps.sessions, key, binding, ids, call.client);
      // A call that reached its server was counted as an open stream of its session.
      if (forwardedToServer && streaming(method)) deps.sessions.streamClosed(key);
      deps.sessions.seen(key);
      afterCall(deps.sessions, call, key);
    }
    gatewayChannels.rpcFinished.publish(call);
  }

  /** The event as the handlers of calls the gateway decides on take it. */
  const decided = (events: PinnedEvents, index: number): PinnedEvent => ({
    stream: eventNumber(events, index, EventField.STREAM),
    method: eventNumber(events, index, EventField.METHOD),
    details: events.details[index],
  });

  return {
    handle(events) {
      for (let index = 0; index < events.count; index++) {
        switch (eventNumber(events, index, EventField.KIND)) {
          case PinnedEventKind.FORWARDED:
            forwarded(events, index);
            break;
          case PinnedEventKind.COMPLETED:
            completed(events, index);
            break;
          case PinnedEventKind.CALLS:
            summarized(events, index);
            break;
          case PinnedEventKind.ROUTE:
            route(decided(events, index));
            break;
          case PinnedEventKind.AUTHENTICATE:
            authenticate(decided(events, index));
            break;
          case PinnedEventKind.OPENED:
            opened(decided(events, index));
            break;
          case PinnedEventKind.REJECTED:
            gatewayChannels.requestRejected.publish({
              kind: events.details[index]?.kind ?? 'http2-frame-error',
              client: connection.remote,
              detail: events.details[index]?.message ?? '',
            });
            break;
          case PinnedEventKind.RELAY_FAILED:
            gatewayChannels.relayFailed.publish({
              method: '',
              backend: link.backend()?.id ?? '',
              error: new Error(events.details[index]?.message ?? 'the native relay failed'),
            });
            break;
          default:
            break;
        }
      }
    },
  };
}
