// Time for one target's probes: a deadline shared by every layer (DNS included) and the caller's
// abort signal. `waitFor` is the one way a probe waits on the network: whatever it started is
// cleaned up exactly once, and its timer cleared, however the wait ends.

export interface Budget {
  /** Epoch milliseconds by which every probe has ended. */
  readonly deadline: number;
  readonly signal: AbortSignal | undefined;
  /** Milliseconds left, never negative; 0 once the caller aborted. */
  remainingMs(): number;
}

export function createBudget(deadline: number, signal?: AbortSignal): Budget {
  return {
    deadline,
    signal,
    remainingMs: () => (signal?.aborted === true ? 0 : Math.max(0, deadline - Date.now())),
  };
}

/** Why a wait ended without an answer: its own limit, the deadline, or the caller's abort. */
export type WaitEnd = 'limit' | 'deadline' | 'aborted';

export interface TimedOut {
  readonly end: WaitEnd;
  readonly waitedMs: number;
}

/**
 * Runs `start`, which begins some I/O and calls `finish` with its result; resolves with that
 * result, or with `onTimeout(…)` after `limitMs` (bounded by the budget) or on abort. The
 * function `start` returns is the cleanup and always runs, before the promise settles.
 */
export function waitFor<T>(
  budget: Budget,
  limitMs: number,
  start: (finish: (value: T) => void) => () => void,
  onTimeout: (timedOut: TimedOut) => T,
): Promise<T> {
  return new Promise((resolve) => {
    const began = performance.now();
    if (budget.signal?.aborted === true) {
      resolve(onTimeout({ end: 'aborted', waitedMs: 0 }));
      return;
    }
    const remaining = budget.remainingMs();
    const state: { settled: boolean; cleanup?: () => void; early?: () => T } = { settled: false };
    const stopWaiting = (): void => {
      state.settled = true;
      clearTimeout(timer);
      budget.signal?.removeEventListener('abort', onAbort);
    };
    const settle = (value: () => T): void => {
      if (state.settled) return;
      stopWaiting();
      state.cleanup?.();
      resolve(value());
    };
    const timedOut = (end: WaitEnd): void => {
      settle(() => onTimeout({ end, waitedMs: performance.now() - began }));
    };
    const onAbort = (): void => {
      timedOut('aborted');
    };
    const timer = setTimeout(
      () => {
        timedOut(remaining < limitMs ? 'deadline' : 'limit');
      },
      Math.min(limitMs, remaining),
    );
    budget.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (value: T): void => {
      if (state.cleanup === undefined) state.early ??= () => value;
      else settle(() => value);
    };
    try {
      state.cleanup = start(finish);
    } catch (error) {
      stopWaiting();
      throw error;
    }
    // `start` may have finished synchronously, before its cleanup was known.
    if (state.early !== undefined) settle(state.early);
  });
}
