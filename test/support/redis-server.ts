// A real Redis for tests: Debian's redis-server as a child process on a unix socket in a temp
// folder, nothing persisted. Where redis-server is missing, tests skip saying how to install it;
// with CI=true they fail with that message instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prerequisiteOptions } from './prerequisite.ts';

export interface RedisServer {
  /** unix:///…/redis.sock */
  readonly url: string;
  readonly socketPath: string;
  /** The running server's process id. */
  readonly pid: number;
  /** Kills the server (its data is gone) and starts a new one on the same socket. */
  restart(): Promise<void>;
  /** Kills the server by its pid and removes its folder. */
  stop(): Promise<void>;
}

const MISSING =
  'redis-server is not installed: the Redis affinity store tests need it on PATH (Debian/Ubuntu: apt-get install redis-server)';

let missingReason: string | undefined | null = null;

/** Why the Redis tests cannot run here, or undefined when they can. */
export function redisServerMissing(): string | undefined {
  if (missingReason === null) {
    const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
    missingReason = probe.error === undefined && probe.status === 0 ? undefined : MISSING;
  }
  return missingReason;
}

/**
 * node:test options for a test that needs redis-server: skipped with the reason when it is
 * missing, except under CI=true, where the test runs and `startRedisServer` fails it.
 */
export function redisTestOptions(): { skip?: string } {
  return prerequisiteOptions(redisServerMissing());
}

export async function startRedisServer(): Promise<RedisServer> {
  const missing = redisServerMissing();
  if (missing !== undefined) throw new Error(missing);
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-redis-'));
  const socketPath = join(dir, 'redis.sock');
  let running: Running;
  try {
    running = await launch(dir, socketPath);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `unix://${socketPath}`,
    socketPath,
    get pid() {
      return running.pid;
    },
    async restart() {
      await running.kill();
      running = await launch(dir, socketPath);
    },
    async stop() {
      await running.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Running {
  readonly pid: number;
  kill(): Promise<void>;
}

async function launch(dir: string, socketPath: string): Promise<Running> {
  // prettier-ignore
  const args = [
    '--port', '0',
    '--unixsocket', socketPath,
    '--unixsocketperm', '700',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--loglevel', 'warning',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.on('error', (error) => (log += `${String(error)}\n`));
  const exited = new Promise<void>((resolve) => {
    // 'close' comes after the exit and after its output pipes closed.
    child.once('close', () => {
      resolve();
    });
  });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  };
  try {
    await waitForPong(socketPath, child, () => log);
  } catch (error) {
    await kill();
    throw error;
  }
  if (child.pid === undefined) throw new Error('redis-server started without a pid');
  return { pid: child.pid, kill };
}

/** Polls the socket with PING until the server answers PONG; fails at once if it exits. */
async function waitForPong(
  socketPath: string,
  child: ChildProcess,
  log: () => string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`redis-server exited before it answered PING:\n${log()}`);
    if (await ping(socketPath)) return;
    if (Date.now() > deadline)
      throw new Error(`redis-server did not answer PING within 10 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let reply = '';
    const done = (answered: boolean): void => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(1000, () => {
      done(false);
    });
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => {
      done(false);
    });
  });
}
