// The real `sparkplane` command as a child process that ends by itself (plan, --print-config,
// usage errors): its exit code and output, killed if it runs past the timeout.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'bin', 'sparkplane');

export interface CliRun {
  /** null when it was killed (by the timeout). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runSparkplane(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 30_000,
): Promise<CliRun> {
  return new Promise((resolveRun) => {
    execFile(
      BIN,
      args,
      { cwd: ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

/** `sparkplane COMMAND ARGS --print-config`, parsed; fails with the command's own message. */
export async function printedConfig(
  command: string,
  args: readonly string[],
): Promise<Record<string, unknown>> {
  const run = await runSparkplane([command, ...args, '--print-config']);
  if (run.code !== 0)
    throw new Error(
      `sparkplane ${command} --print-config exited ${String(run.code)}: ${run.stderr}`,
    );
  return JSON.parse(run.stdout) as Record<string, unknown>;
}
