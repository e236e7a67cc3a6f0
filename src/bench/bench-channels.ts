// The benchmark's events on node:diagnostics_channel: one per query and one per session state
// change. The runner publishes; whoever wants a trace (a log, a test) subscribes.
import { defineChannel } from '../core/diagnostics.ts';

export interface BenchQueryFinished {
  readonly sessionIndex: number;
  readonly sessionId: string;
  readonly operationId: string;
  readonly kind: string;
  readonly ok: boolean;
  /** gRPC status name or client-side class (WRONG_RESULT); absent when ok. */
  readonly status?: string;
  readonly latencyMs: number;
  readonly rows: number;
  readonly arrowBytes: number;
}

export interface BenchSessionEvent {
  readonly sessionIndex: number;
  readonly sessionId: string;
  readonly state: 'started' | 'finished' | 'released';
}

export const benchQueryFinished = defineChannel<BenchQueryFinished>('sparkplane:bench:query');
export const benchSession = defineChannel<BenchSessionEvent>('sparkplane:bench:session');
