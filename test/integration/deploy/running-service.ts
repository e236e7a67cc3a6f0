// A long-running `sparkplane gateway` or `sparkplane shuffle` as a child process on loopback: started
// with JSON logs, ready once its admin (metrics) port is listening, stopped by its pid with
// SIGTERM (SIGKILL if it does not exit), and the metric names its /metrics serves.
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { BIN, ROOT } from './sparkplane-cli.ts';

const START_MS = 30_000;
const STOP_MS = 10_000;

export interface RunningService {
  readonly pid: number;
  readonly adminPort: number;
  /** Everything it logged so far. */
  readonly log: () => string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1 (for services that refuse port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
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
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
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
      resolve({ pid: child.pid, adminPort: Number(match[1]), log: () => log, stop });
    });
  });
}

/** Names in the exposition of GET /metrics, histogram and summary series included. */
export function exposedMetricNames(port: number): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode !== 200) {
          reject(new Error(`GET /metrics on port ${String(port)}: ${String(response.statusCode)}`));
          return;
        }
        const names = new Set<string>();
        for (const [, name = '', type = ''] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
          names.add(name);
          const suffixes =
            type === 'histogram'
              ? ['_bucket', '_sum', '_count']
              : type === 'summary'
                ? ['_sum', '_count']
                : [];
          for (const suffix of suffixes) names.add(`${name}${suffix}`);
        }
        resolve(names);
      });
    }).on('error', reject);
  });
}
