// The run's progress on a terminal: one line on stderr, rewritten in place, cleared before the
// report is printed. Only for a TTY; a pipe or --json gets no progress at all.
import type { BenchProgress } from './run-bench.ts';

export function progressLine(progress: BenchProgress): string {
  const seconds = progress.elapsedMs / 1000;
  const of =
    progress.durationMs === undefined ? '' : `/${(progress.durationMs / 1000).toFixed(0)}s`;
  const planned =
    progress.plannedQueries === undefined ? '' : `/${String(progress.plannedQueries)}`;
  const rate = seconds > 0 ? (progress.queries - progress.failed) / seconds : 0;
  const median = Number.isFinite(progress.recentMedianMs)
    ? `, recent p50 ${progress.recentMedianMs.toFixed(1)} ms`
    : '';
  return (
    `${seconds.toFixed(0)}s${of}  sessions ${String(progress.sessionsStarted)}/${String(progress.sessions)}  ` +
    `queries ${String(progress.queries)}${planned} (${String(progress.failed)} failed)  ` +
    `${rate.toFixed(1)} q/s${median}`
  );
}

export interface TerminalProgress {
  readonly update: (progress: BenchProgress) => void;
  readonly clear: () => void;
}

export function terminalProgress(write: (text: string) => void): TerminalProgress {
  return {
    update: (progress) => {
      write(`\r\x1b[2K${progressLine(progress)}`);
    },
    clear: () => {
      write('\r\x1b[2K');
    },
  };
}
