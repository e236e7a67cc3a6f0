// The gateway's events on node:diagnostics_channel. Proxy, routing and health code publish here
// and never import a logger or a metrics registry; observability.ts subscribes.
import { defineChannel as channel } from '../core/diagnostics.ts';

export interface BackendEvent {
  readonly backend: string;
}
export interface BackendHealthChanged extends BackendEvent {
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}
export interface BackendRestarted extends BackendEvent {
  readonly previous: string;
  readonly current: string;
}
export interface SessionEvent {
  readonly backend: string;
  readonly userId: string;
  readonly sessionId: string;
  readonly principal: string;
  readonly client: string;
}
export interface RpcFinished {
  readonly method: string;
  readonly backend: string;
  /** gRPC status code, or -1 when the stream was cut off before one was sent. */
  readonly status: number;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly sessionId: string;
  readonly userId: string;
  readonly principal: string;
  readonly client: string;
  /** The gateway's own message when it answered the call itself. */
  readonly message: string;
}
/**
 * Calls of one method on one backend that ended OK, summed up: the native pinned relay reports
 * the OK unary calls of sessions it routes itself so when no one needs each call's record (see
 * GatewayOptions.summarizeOkCalls). They are not also published on rpcFinished.
 */
export interface RpcsFinished {
  readonly method: string;
  readonly backend: string;
  readonly count: number;
  /**
   * Each call's duration: `count` numbers of `durationsMs` from `durationsAt`, readable only
   * while the event is handled (the array is the relay's and is reused).
   */
  readonly durationsMs: Float64Array;
  readonly durationsAt: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}
export interface RequestRejected {
  /** Stable kind for the metric label: an error code or a protocol problem. */
  readonly kind: string;
  readonly client: string;
  readonly detail: string;
}

/** A Spark Connect server the gateway runs itself. */
export interface ManagedServerEvent {
  readonly name: string;
  readonly backend: string;
  /** Whose server it is under isolation (`user:…`); undefined for the shared pool. */
  readonly key: string | undefined;
}

export const gatewayChannels = {
  backendAdded: channel<BackendEvent>('sparkplane:gateway:backend-added'),
  backendRemoved: channel<BackendEvent>('sparkplane:gateway:backend-removed'),
  backendHealth: channel<BackendHealthChanged>('sparkplane:gateway:backend-health'),
  backendRestarted: channel<BackendRestarted>('sparkplane:gateway:backend-restarted'),
  backendDrain: channel<BackendEvent & { readonly draining: boolean }>(
    'sparkplane:gateway:backend-drain',
  ),
  sessionPlaced: channel<SessionEvent>('sparkplane:gateway:session-placed'),
  sessionEnded: channel<SessionEvent & { readonly reason: 'released' | 'expired' }>(
    'sparkplane:gateway:session-ended',
  ),
  rpcStarted: channel<{ readonly method: string; readonly backend: string }>(
    'sparkplane:gateway:rpc-started',
  ),
  rpcFinished: channel<RpcFinished>('sparkplane:gateway:rpc-finished'),
  /** Calls started whose ends come on rpcsFinished when they end OK (else on rpcFinished). */
  rpcsStarted: channel<{
    readonly method: string;
    readonly backend: string;
    readonly count: number;
  }>('sparkplane:gateway:rpcs-started'),
  rpcsFinished: channel<RpcsFinished>('sparkplane:gateway:rpcs-finished'),
  /**
   * Published before the counts of calls are read: whoever holds counts back (the native relay
   * gathers summaries over a few ms) hands them over first.
   */
  countsWanted: channel<undefined>('sparkplane:gateway:counts-wanted'),
  requestRejected: channel<RequestRejected>('sparkplane:gateway:request-rejected'),
  /** A fault of the gateway's own while relaying one call (that call was cancelled). */
  relayFailed: channel<{
    readonly method: string;
    readonly backend: string;
    readonly error: unknown;
  }>('sparkplane:gateway:relay-failed'),
  managedServerStarting: channel<
    ManagedServerEvent & { readonly pid: number; readonly logFile: string }
  >('sparkplane:gateway:managed-server-starting'),
  managedServerReady: channel<
    ManagedServerEvent & {
      readonly pid: number;
      readonly startupMs: number;
      readonly adopted: boolean;
    }
  >('sparkplane:gateway:managed-server-ready'),
  managedServerExited: channel<
    ManagedServerEvent & {
      readonly code: number | null;
      readonly signal: string | null;
      readonly logTail: string;
    }
  >('sparkplane:gateway:managed-server-exited'),
  managedServerStopped: channel<
    Omit<ManagedServerEvent, 'key'> & { readonly reason: 'idle' | 'shutdown' }
  >('sparkplane:gateway:managed-server-stopped'),
  managedServerFailed: channel<{
    readonly name: string;
    readonly key: string | undefined;
    readonly error: string;
    readonly logTail: string;
  }>('sparkplane:gateway:managed-server-failed'),
  connectionOpened: channel<{ readonly client: string }>('sparkplane:gateway:connection-opened'),
  connectionClosed: channel<{ readonly client: string }>('sparkplane:gateway:connection-closed'),
} as const;
