// Waits until a Spark Connect server the gateway launched answers a real Spark Connect call (the
// health probe's Config RPC), so no session is placed on a JVM that is still starting; gives up
// at once when the process exits, and after the start timeout.
import { probeBackend } from '../health/probe.ts';
import { createUpstream } from '../proxy/upstream.ts';
import type { ProcessExit } from './connect-server-process.ts';

export type Readiness =
  | { readonly kind: 'serving'; readonly appId: string }
  | { readonly kind: 'exited' | 'timeout'; readonly reason: string }
  | { readonly kind: 'stopped' };

const POLL_MS = 500;

export async function waitUntilServing(options: {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly exited: Promise<ProcessExit>;
  readonly stopped: () => boolean;
  readonly backendToken?: string | undefined;
}): Promise<Readiness> {
  let exit: ProcessExit | undefined;
  void options.exited.then((value) => {
    exit = value;
  });
  const deadline = Date.now() + options.timeoutMs;
  let lastError = 'it never answered';
  while (Date.now() < deadline) {
    if (options.stopped()) return { kind: 'stopped' };
    if (exit !== undefined) return { kind: 'exited', reason: describeExit(exit) };
    const upstream = createUpstream({
      host: options.host,
      port: options.port,
      connectTimeoutMs: 1000,
    });
    try {
      const session = await upstream.connect();
      const result = await probeBackend(session, {
        timeoutMs: 5000,
        backendToken: options.backendToken,
      });
      return { kind: 'serving', appId: result.appId };
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      await upstream.close(0);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (exit !== undefined) return { kind: 'exited', reason: describeExit(exit) };
  return {
    kind: 'timeout',
    reason: `it did not answer a Spark Connect call within ${String(Math.round(options.timeoutMs / 1000))} s (last: ${lastError}); raise --managed-start-timeout if the cluster is slow to give it a driver`,
  };
}

export function describeExit(exit: ProcessExit): string {
  if (exit.signal !== null) return `it exited on ${exit.signal}`;
  return `it exited with code ${String(exit.code)}`;
}
