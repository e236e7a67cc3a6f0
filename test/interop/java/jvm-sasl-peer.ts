// Runs SparkSaslClient.java (the JDK's or Spark's own SASL classes) as a child process and speaks
// its line protocol: one hex line per SASL token, then "OK …" or "ERROR …" and the exit.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROGRAM = join(dirname(fileURLToPath(import.meta.url)), 'SparkSaslClient.java');
/** The source launcher compiles the program first, which can take a few seconds on a busy CI. */
const LINE_TIMEOUT_MS = 60_000;
const HEX_LINE = /^(?:[0-9a-f]{2})*$/;

export type JvmSaslMode =
  '--client' | '--server' | '--spark-client' | '--spark-server' | '--password' | '--spark-password';

export interface JvmSaslPeer {
  readonly pid: number;
  /** The next stdout line; rejects if the JVM exits or stays silent too long. */
  readLine(): Promise<string>;
  /** The next line as a SASL token; rejects, with the JVM's message, on "ERROR …". */
  readToken(): Promise<Buffer>;
  send(token: Buffer): void;
  /** Ends stdin: a JVM waiting for a token then reports an error and exits. */
  closeInput(): void;
  /** The remaining stdout lines and the exit code, once the JVM has exited. */
  finish(): Promise<{ readonly lines: readonly string[]; readonly code: number | null }>;
  /** Kills the JVM if it is still running and waits for it to exit. */
  stop(): Promise<void>;
}

export function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  return home === undefined || home === '' ? 'java' : join(home, 'bin', 'java');
}

export function startJvmSaslPeer(
  mode: JvmSaslMode,
  secrets: readonly string[],
  options: { readonly classPath?: string } = {},
): JvmSaslPeer {
  const args = options.classPath === undefined ? [] : ['-cp', options.classPath];
  const child = spawn(javaCommand(), [...args, PROGRAM, mode, ...secrets], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.on('error', (error) => {
    stderr += `${error.message}\n`;
  });
  const pid = child.pid;
  assert.ok(pid !== undefined, `could not start ${javaCommand()}`);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code) => {
      // 'close' comes after the last stdout data; keep a last line that had no '\n'.
      if (stdout !== '') lines.push(stdout);
      stdout = '';
      done = true;
      resolve(code);
      wake?.();
    });
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    stdout += chunk;
    const parts = stdout.split('\n');
    stdout = parts.pop() ?? '';
    lines.push(...parts.map((line) => line.replace(/\r$/, '')));
    wake?.();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    // Keep the end only: Spark's logging can be chatty.
    stderr = (stderr + chunk).slice(-4000);
  });
  // EPIPE when the JVM has already exited; the exit code tells the story.
  child.stdin.on('error', () => undefined);

  const describe = (): string => `java ${mode} (pid ${pid}); its stderr:\n${stderr}`;

  async function readLine(): Promise<string> {
    const deadline = Date.now() + LINE_TIMEOUT_MS;
    for (;;) {
      const line = lines.shift();
      if (line !== undefined) return line;
      if (done) throw new Error(`${describe()}\nexited before printing another line`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${describe()}\nprinted nothing for ${LINE_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  }

  return {
    pid,
    readLine,
    async readToken(): Promise<Buffer> {
      const line = await readLine();
      if (!HEX_LINE.test(line)) throw new Error(`${describe()}\nanswered "${line}"`);
      return Buffer.from(line, 'hex');
    },
    send(token: Buffer): void {
      child.stdin.write(`${token.toString('hex')}\n`);
    },
    closeInput(): void {
      child.stdin.end();
    },
    async finish() {
      const code = await exited;
      return { lines: lines.splice(0), code };
    },
    async stop(): Promise<void> {
      if (!done) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Whether the process with this id is gone (to prove a test left no JVM behind). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}
