// A long-running `sparkplane gateway` or `sparkplane shuffle` as a child process on 127.0.0.1:
// started with JSON logs, ready once its admin port listens, stopped by its pid (SIGTERM, then
// SIGKILL after a grace period).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN, ROOT } from './sparkplane-cli.ts';

const START_MS = 30_000;
const STOP_MS = 10_000;

export interface RunningService {
  readonly pid: number;
  readonly adminPort: number;
  /** Everything it logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1 (the service ports refuse 0). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

export function startService(command: string, args: readonly string[]): Promise<RunningService> {
  const child = spawn(BIN, [command, ...args, '--log-format=json'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  // 'close' rather than exitCode: stop() resolves only once stderr is drained as well.
  let closed = false;
  const exited = new Promise<void>((resolveExit) => {
    child.once('close', () => {
      closed = true;
      resolveExit();
    });
  });
  const stop = async (): Promise<void> => {
    if (closed) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolveService, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void stop().then(() => {
        reject(new Error(`sparkplane ${command} ${why}; its log: ${log}`));
      });
    };
    const timer = setTimeout(() => {
      fail(`did not open its admin port within ${String(START_MS)} ms`);
    }, START_MS);
    void exited.then(() => {
      fail('exited');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      const match = /"msg":"admin listening on 127\.0\.0\.1:(\d+)"/.exec(log);
      if (settled || match === null || child.pid === undefined) return;
      settled = true;
      clearTimeout(timer);
      resolveService({ pid: child.pid, adminPort: Number(match[1]), log: () => log, stop });
    });
  });
}
