// The doctor agent's events on node:diagnostics_channel, and the one place that turns them into
// log lines. A half-open connection is the agent's finding, so it is logged as a warning that
// says what it means.
import { defineChannel } from '../../core/diagnostics.ts';
import type { Logger } from '../../core/logging.ts';
import type { HalfOpenEntry } from './messages.ts';

export interface AgentConnectionEvent {
  readonly remote: string;
  readonly localPort: number;
}
export interface AgentBadInput {
  readonly remote: string;
  readonly code: string;
  readonly message: string;
}
export interface AgentHalfOpen {
  readonly agent: string;
  readonly entry: HalfOpenEntry;
}
export interface AgentCallback {
  readonly to: string;
  readonly ok: boolean;
  readonly errno: string | null;
}
export interface AgentReadError {
  readonly message: string;
}

export const agentChannels = {
  connectionOpened: defineChannel<AgentConnectionEvent>(
    'sparkplane:doctor-agent:connection-opened',
  ),
  badInput: defineChannel<AgentBadInput>('sparkplane:doctor-agent:bad-input'),
  halfOpen: defineChannel<AgentHalfOpen>('sparkplane:doctor-agent:half-open'),
  callback: defineChannel<AgentCallback>('sparkplane:doctor-agent:callback'),
  readError: defineChannel<AgentReadError>('sparkplane:doctor-agent:read-error'),
} as const;

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${String(port)}` : `${address}:${String(port)}`;
}

export function subscribeAgentLogs(logger: Logger): () => void {
  const stops = [
    agentChannels.connectionOpened.subscribe((event) => {
      logger.debug(event, `connection from ${event.remote} on port ${String(event.localPort)}`);
    }),
    agentChannels.badInput.subscribe((event) => {
      logger.info(event, `bad input from ${event.remote}: ${event.message}`);
    }),
    agentChannels.halfOpen.subscribe(({ entry }) => {
      const remote = endpoint(entry.remote.address, entry.remote.port);
      logger.warn(
        { remote, local: endpoint(entry.local.address, entry.local.port), ageMs: entry.ageMs },
        `half-open connection from ${remote} to port ${String(entry.local.port)} for ${String(entry.ageMs)} ms: ` +
          'its SYN arrived and our SYN-ACKs go unanswered, so the return path to that client drops them ' +
          '(a stateless ACL without the ephemeral ports 1024-65535, or an asymmetric route)',
      );
    }),
    agentChannels.callback.subscribe((event) => {
      if (event.ok) logger.info(event, `half-open report delivered to ${event.to}`);
      else
        logger.warn(
          event,
          `could not deliver the half-open report to ${event.to} (${event.errno ?? 'no answer'}): ` +
            'is a doctor running there with the same --callback-port, and is that port open to this node?',
        );
    }),
    agentChannels.readError.subscribe((event) => {
      logger.warn(
        event,
        `cannot read the kernel's TCP tables (${event.message}); half-open connections go unseen: run the agent where /proc/net/tcp is readable`,
      );
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
