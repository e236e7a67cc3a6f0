// Probes every target at once under one budget: a single deadline for DNS, connects, handshakes
// and protocol probes alike, so 16 hosts × 9 ports take the budget, not 144 budgets. Shows
// progress on a terminal.
import type { Check } from './model.ts';
import type { Target } from './targets.ts';

export type ProbeTarget = (
  target: Target,
  options: { readonly deadline: number; readonly signal?: AbortSignal },
) => Promise<Check[]>;

export interface RunOptions {
  readonly timeoutMs: number;
  readonly probe: ProbeTarget;
  /** Called as targets finish, for a progress line. */
  readonly progress?: (done: number, total: number) => void;
  readonly now?: () => number;
}

/** The checks of every target, in the order the targets were given. */
export async function probeAll(targets: readonly Target[], options: RunOptions): Promise<Check[]> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.timeoutMs;
  const controller = new AbortController();
  // A probe that overran its deadline is cut off here, whatever it was waiting for.
  const cutoff = setTimeout(() => {
    controller.abort(new Error('the doctor timeout passed'));
  }, options.timeoutMs + 250);
  let done = 0;
  try {
    const results = await Promise.all(
      targets.map(async (target) => {
        let checks: Check[];
        try {
          checks = await options.probe(target, { deadline, signal: controller.signal });
        } catch (error) {
          checks = [probeBroke(target, error)];
        }
        done += 1;
        options.progress?.(done, targets.length);
        return checks;
      }),
    );
    return results.flat();
  } finally {
    clearTimeout(cutoff);
  }
}

function probeBroke(target: Target, error: unknown): Check {
  return {
    id: 'doctor.probe',
    target,
    layer: 'transport',
    status: 'skip',
    reason: 'not-checked',
    summary: `the probe itself failed: ${error instanceof Error ? error.message : String(error)}`,
    evidence: {},
  };
}

/** A progress line for a terminal: rewritten in place, cleared at the end. */
export function terminalProgress(write: (text: string) => void): {
  update: (done: number, total: number) => void;
  clear: () => void;
} {
  let shown = false;
  return {
    update(done, total) {
      shown = true;
      write(`\r\u001b[2Kprobing: ${String(done)}/${String(total)} targets done`);
    },
    clear() {
      if (shown) write('\r\u001b[2K');
    },
  };
}
