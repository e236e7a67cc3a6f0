// Waiting without fixed sleeps: poll a condition until it holds, the deadline passes, or the
// thing being waited on has died (then fail at once with why).
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** What is awaited, for the error message, e.g. "master at 127.0.0.1:7077 to accept workers". */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Returns a reason to stop waiting (e.g. "process exited with code 1"), or undefined. */
  readonly abortIf?: () => string | undefined;
}

export async function waitUntil<T>(
  check: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions,
): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    const aborted = options.abortIf?.();
    if (aborted !== undefined) throw new Error(`gave up waiting for ${options.what}: ${aborted}`);
    if (performance.now() > deadline) {
      const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${last}`);
    }
    await delay(options.intervalMs ?? 200);
  }
}

/** Resolves true when a TCP connection to host:port succeeds, false when it is refused or times out. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      finish(false);
    });
    socket.once('connect', () => {
      finish(true);
    });
    socket.once('error', () => {
      finish(false);
    });
  });
}

/** Ports freePort handed out lately, oldest first, never handed out again while remembered. */
const handedOut = new Set<number>();
const MAX_REMEMBERED_PORTS = 1024;

/**
 * A port that was free a moment ago on 127.0.0.1, for processes that must be told their port.
 * It is taken below the kernel's ephemeral range (ip_local_port_range), where no process is given
 * a port by asking for port 0: a Spark process binds several such ports as it starts (driver,
 * block manager), and one of them once took the port just handed to a second Connect server
 * starting beside it, which then died with "Address already in use".
 */
export async function freePort(): Promise<number> {
  const [low, high] = chosenRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    // A port handed out before may not be bound yet: two drawn for one process (a service and its
    // admin port) were once the same, and the second listen failed with EADDRINUSE.
    if (handedOut.has(port)) continue;
    if (await isFree(port)) {
      handedOut.add(port);
      const [oldest] = handedOut;
      if (handedOut.size > MAX_REMEMBERED_PORTS && oldest !== undefined) handedOut.delete(oldest);
      return port;
    }
  }
  throw new Error(`no free port found on 127.0.0.1 between ${String(low)} and ${String(high)}`);
}

/** The range free ports are chosen from: the 8,192 ports just below the ephemeral range. */
function chosenRange(): [number, number] {
  let ephemeralLow = 32_768;
  try {
    const text = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
    const low = Number(text.trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 10_240) ephemeralLow = low;
  } catch {
    // Not Linux: keep the usual default.
  }
  return [ephemeralLow - 8192, ephemeralLow];
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen(port, '127.0.0.1', () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}
