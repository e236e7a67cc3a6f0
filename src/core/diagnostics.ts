// Observability by events: components publish on these node:diagnostics_channel channels and
// never import a logger or a metrics registry. Logs (logging.ts) and metrics (metrics.ts)
// subscribe in one place each.
import diagnosticsChannel from 'node:diagnostics_channel';

export interface ServiceListening {
  readonly service: string;
  readonly address: string;
  readonly port: number;
}
export interface ServiceClosing {
  readonly service: string;
  readonly reason: string;
}
export interface ServiceClosed {
  readonly service: string;
  /** False when the shutdown deadline passed and open work was cut off. */
  readonly drained: boolean;
  readonly durationMs: number;
}
export interface AdminRequest {
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
}
export interface ProcessWarning {
  readonly message: string;
  readonly detail?: Record<string, unknown>;
}

/** A typed channel: the payload type travels with the channel so publishers and subscribers agree. */
export interface Channel<T> {
  readonly name: string;
  publish(message: T): void;
  subscribe(onMessage: (message: T) => void): () => void;
  readonly hasSubscribers: boolean;
}

export function defineChannel<T>(name: string): Channel<T> {
  const raw = diagnosticsChannel.channel(name);
  return {
    name,
    publish(message) {
      if (raw.hasSubscribers) raw.publish(message);
    },
    subscribe(onMessage) {
      const listener = (message: unknown): void => {
        onMessage(message as T);
      };
      raw.subscribe(listener);
      return () => {
        raw.unsubscribe(listener);
      };
    },
    get hasSubscribers() {
      return raw.hasSubscribers;
    },
  };
}

export const channels = {
  serviceListening: defineChannel<ServiceListening>('sparkplane:service:listening'),
  serviceClosing: defineChannel<ServiceClosing>('sparkplane:service:closing'),
  serviceClosed: defineChannel<ServiceClosed>('sparkplane:service:closed'),
  adminRequest: defineChannel<AdminRequest>('sparkplane:admin:request'),
  warning: defineChannel<ProcessWarning>('sparkplane:warning'),
} as const;
