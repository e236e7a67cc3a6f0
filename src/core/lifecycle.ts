// Graceful shutdown. On SIGTERM or SIGINT every running service stops accepting, finishes the work
// it has in flight within a deadline, and the process exits 0. A second signal ends at once.
import { channels } from './diagnostics.ts';

export interface Closeable {
  readonly name: string;
  /** Stops accepting, finishes in-flight work; resolves false if the deadline cut work off. */
  close(deadlineMs: number): Promise<boolean>;
}

export interface ShutdownOptions {
  /** How long in-flight work may take once a shutdown starts. */
  readonly deadlineMs: number;
  readonly signals?: readonly NodeJS.Signals[];
}

export interface ShutdownHandle {
  /** Resolves with the exit code once every service has closed (or a second signal came). */
  readonly done: Promise<number>;
  /** Starts the shutdown without a signal, e.g. when a service fails. */
  shutdown(reason: string): Promise<number>;
  /** Removes the signal handlers. */
  dispose(): void;
}

const FORCED_EXIT_CODE = 130;

export async function closeAll(
  services: readonly Closeable[],
  reason: string,
  deadlineMs: number,
): Promise<boolean> {
  const results = await Promise.all(
    services.map(async (service) => {
      const started = performance.now();
      channels.serviceClosing.publish({ service: service.name, reason });
      let drained: boolean;
      try {
        drained = await service.close(deadlineMs);
      } catch (error) {
        drained = false;
        channels.warning.publish({
          message: `${service.name} failed while closing: ${error instanceof Error ? error.message : String(error)}`,
          detail: { service: service.name },
        });
      }
      channels.serviceClosed.publish({
        service: service.name,
        drained,
        durationMs: performance.now() - started,
      });
      return drained;
    }),
  );
  return results.every(Boolean);
}

export function handleShutdownSignals(
  services: readonly Closeable[],
  options: ShutdownOptions,
): ShutdownHandle {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let started: Promise<number> | undefined;

  const shutdown = (reason: string): Promise<number> => {
    // Closing waits on sockets and child processes that are unref'd while the services run; the
    // process must not run out of work (exit 13, "unsettled top-level await") before they close.
    if (started !== undefined) return started;
    const keepAlive = setInterval(() => undefined, 1000);
    started = closeAll(services, reason, options.deadlineMs).then(() => {
      clearInterval(keepAlive);
      resolveDone(0);
      return 0;
    });
    return started;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    if (started === undefined) {
      void shutdown(`received ${signal}`);
      return;
    }
    channels.warning.publish({
      message: `received ${signal} again: exiting without waiting for in-flight work`,
    });
    resolveDone(FORCED_EXIT_CODE);
  };
  for (const signal of signals) process.on(signal, onSignal);

  return {
    done,
    shutdown,
    dispose() {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
