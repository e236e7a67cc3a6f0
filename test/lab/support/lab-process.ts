// Commands and long-running processes of the lab. Each runs in a process group of its own, so
// stopping it ends everything it started (`ip netns exec` and nsenter exec in place, so the
// group is the program's). Commands are bounded in time; a failure says what ran and what it
// printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface LabProcess {
  readonly pid: number;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Resolves with the first line it printed that matches `pattern`; rejects if it exits first. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM to its group, SIGKILL after a grace period; resolves once it exited. */
  stop(): Promise<void>;
  /** SIGKILL to its group, now (for a process that is exiting). */
  killNow(): void;
}

const COMMAND_LIMIT_MS = 15_000;
const STOP_GRACE_MS = 1000;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

export function runCommand(
  argv: readonly string[],
  options: { input?: string; timeoutMs?: number; allowFailure?: boolean } = {},
): Promise<CommandResult> {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  const limit = options.timeoutMs ?? COMMAND_LIMIT_MS;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
    }, limit);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} could not start: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? 128, stdout, stderr };
      if (code === 0 || options.allowFailure === true) resolve(result);
      else
        reject(
          new Error(
            `${argv.join(' ')} failed (${signal === null ? `exit ${String(code)}` : `${signal}, after ${String(limit)} ms`}): ${stderr.trim() || stdout.trim()}`,
          ),
        );
    });
  });
}

export function startProcess(argv: readonly string[], env?: NodeJS.ProcessEnv): LabProcess {
  const [command = '', ...args] = argv;
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: env ?? process.env,
  });
  let output = '';
  const exited = once(child, 'close').catch(() => undefined);
  child.once('error', () => undefined);
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    pid: child.pid ?? 0,
    output: () => output,
    waitForLine(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const line = output.split('\n').find((text) => pattern.test(text));
          if (line === undefined) return false;
          cleanup();
          resolve(line);
          return true;
        };
        const onExit = (): void => {
          if (check()) return;
          cleanup();
          reject(
            new Error(`${argv.join(' ')} exited before printing ${String(pattern)}: ${output}`),
          );
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `${argv.join(' ')} printed no ${String(pattern)} in ${String(timeoutMs)} ms: ${output}`,
            ),
          );
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout.off('data', check);
          child.stderr.off('data', check);
          child.off('close', onExit);
        };
        if (check()) return;
        child.stdout.on('data', check);
        child.stderr.on('data', check);
        child.once('close', onExit);
      });
    },
    async stop() {
      killGroup(child, 'SIGTERM');
      const grace = setTimeout(() => {
        killGroup(child, 'SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(grace);
    },
    killNow() {
      killGroup(child, 'SIGKILL');
    },
  };
}
