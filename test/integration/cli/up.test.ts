// The real `sparkplane` command in a child process: `up` serves its admin endpoint and stops
// cleanly on SIGTERM; a bad config file ends a command with exit code 2. No child outlives a test.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as setTimeoutPromise } from 'node:timers/promises';

const ROOT = resolve(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'bin', 'sparkplane');
const WAIT_MS = 15_000;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Child {
  readonly process: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves once the child has exited and its output is read to the end. */
  readonly exited: Promise<Exit>;
}

let children: Child[] = [];

function sparkplane(args: readonly string[]): Child {
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<Exit>((resolveExit) => {
    child.once('close', (code, signal) => {
      resolveExit({ code, signal });
    });
  });
  const running: Child = { process: child, stdout: '', stderr: '', exited };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (running.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (running.stderr += chunk));
  children.push(running);
  return running;
}

/** Waits until the child's `stream` output matches `pattern`; fails on exit or after WAIT_MS. */
function waitForOutput(
  child: Child,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolveMatch, reject) => {
    const source = child.process[stream];
    assert.ok(source !== null);
    const finish = (): void => {
      clearTimeout(timer);
      source.off('data', check);
      child.process.off('close', onClose);
    };
    // Registered after the collector in sparkplane(), so the text is already appended.
    const check = (): void => {
      const match = pattern.exec(child[stream]);
      if (match === null) return;
      finish();
      resolveMatch(match);
    };
    const fail = (why: string): void => {
      finish();
      reject(
        new Error(
          `${why} before ${String(pattern)} on ${stream}; stdout: ${child.stdout} stderr: ${child.stderr}`,
        ),
      );
    };
    const onClose = (): void => {
      fail('the child exited');
    };
    const timer = setTimeout(() => {
      fail(`${WAIT_MS} ms passed`);
    }, WAIT_MS);
    source.on('data', check);
    child.process.once('close', onClose);
    check();
  });
}

/** Waits for the exit, failing after WAIT_MS. */
async function exitOf(child: Child): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`the child did not exit in ${WAIT_MS} ms; stderr: ${child.stderr}`));
    }, WAIT_MS);
  });
  try {
    return await Promise.race([child.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function logRecords(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sparkplane-up-'));
});
afterEach(async () => {
  for (const child of children) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
      await child.exited;
    }
  }
  children = [];
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('sparkplane up', () => {
  it('serves /healthz and stops cleanly on SIGTERM', async () => {
    const stateDir = join(dir, 'state');
    const child = sparkplane([
      'up',
      '--admin-port',
      '0',
      '--log-format',
      'json',
      '--state-dir',
      stateDir,
    ]);
    const [, url = '', port = ''] = await waitForOutput(
      child,
      'stdout',
      /admin {4}(http:\/\/127\.0\.0\.1:(\d+)\/)/,
    );
    assert.ok(child.stdout.startsWith('sparkplane is up\n'), child.stdout);
    assert.ok(child.stdout.includes(`  state    ${stateDir}\n`), child.stdout);

    const health = await fetch(new URL('/healthz', url));
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });

    assert.equal(child.process.kill('SIGTERM'), true);
    assert.deepEqual(await exitOf(child), { code: 0, signal: null });

    const records = logRecords(child.stderr);
    const messages = records.map((record) => String(record.msg));
    assert.equal(messages[0], `admin listening on 127.0.0.1:${port}`);
    assert.equal(messages[1], 'admin closing: received SIGTERM');
    assert.match(messages[2] ?? '', /^admin closed \(drained\) in \d+ ms$/);
    assert.equal(messages[3], 'stopped');
    assert.equal(records.length, 4);
    assert.deepEqual(
      records.map((record) => [record.level, record.name]),
      Array.from({ length: 4 }, () => [30, 'sparkplane']),
    );
    assert.equal(records[3]?.exitCode, 0);
  });

  it('ends at once on a second SIGTERM while a request is still open', async () => {
    const child = sparkplane([
      'up',
      '--admin-port',
      '0',
      '--log-format',
      'json',
      '--shutdown-timeout',
      '3s',
    ]);
    const [, port = ''] = await waitForOutput(
      child,
      'stdout',
      /admin {4}http:\/\/127\.0\.0\.1:(\d+)\//,
    );
    // A request whose headers never end stays in flight through the shutdown.
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    try {
      socket.on('error', () => undefined);
      await new Promise((resolveConnect) => socket.once('connect', resolveConnect));
      socket.write('GET /healthz HTTP/1.1\r\nHost: test\r\n');
      await setTimeoutPromise(100);
      child.process.kill('SIGTERM');
      await waitForOutput(child, 'stderr', /admin closing: received SIGTERM/);
      child.process.kill('SIGTERM');
      await waitForOutput(child, 'stderr', /received SIGTERM again/);
      const signalled = performance.now();
      assert.deepEqual(await exitOf(child), { code: 130, signal: null });
      assert.ok(performance.now() - signalled < 1500, 'the process waited for the deadline');
    } finally {
      socket.destroy();
    }
  });

  describe('when the admin port is taken', () => {
    let blocker: Server | undefined;
    after(async () => {
      const server = blocker;
      if (server !== undefined) await new Promise((resolveClose) => server.close(resolveClose));
    });

    it('says the address is in use and what to do', async () => {
      const server = createServer();
      blocker = server;
      const port = await new Promise<number>((resolveListen) => {
        server.listen(0, '127.0.0.1', () => {
          const address = server.address();
          resolveListen(typeof address === 'object' && address !== null ? address.port : 0);
        });
      });
      const child = sparkplane(['up', '--admin-port', String(port), '--log-format', 'json']);
      const { code } = await exitOf(child);
      assert.ok(!child.stderr.includes('internal error'), child.stderr);
      assert.ok(child.stderr.includes('address already in use'), child.stderr);
      assert.notEqual(code, 0);
    });
  });
});

describe('sparkplane shuffle --config with a bad value', () => {
  it('exits 2 naming the key and the file', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'port: "not-a-port"\n');
    const child = sparkplane(['shuffle', '--config', file]);
    assert.deepEqual(await exitOf(child), { code: 2, signal: null });
    assert.equal(child.stdout, '');
    assert.equal(
      child.stderr,
      `sparkplane shuffle: invalid config: port in ${file}:1 must be a number 1–65535 (got "not-a-port")\n`,
    );
  });
});

describe('sparkplane gateway', () => {
  it('reloads its servers on SIGHUP and stops cleanly on SIGTERM with servers behind it', async () => {
    const { startFakeSparkConnect } = await import('../../support/fake-spark-connect.ts');
    const fakes = [await startFakeSparkConnect(), await startFakeSparkConnect()];
    try {
      const configFile = join(dir, 'gateway.yaml');
      writeFileSync(configFile, `backend:\n  - 127.0.0.1:${String(fakes[0]?.port)}\n`);
      const child = sparkplane([
        'gateway',
        '--port',
        String(await freeTcpPort()),
        '--admin-port',
        '0',
        '--log-format',
        'json',
        '--check-interval',
        '200ms',
        '--config',
        configFile,
      ]);
      await waitForOutput(child, 'stderr', /checking → up/);
      writeFileSync(
        configFile,
        `backend:\n${fakes.map((fake) => `  - 127.0.0.1:${String(fake.port)}`).join('\n')}\n`,
      );
      child.process.kill('SIGHUP');
      await waitForOutput(child, 'stderr', /reloaded the backend list/);
      await waitForOutput(
        child,
        'stderr',
        new RegExp(`backend 127\\.0\\.0\\.1:${String(fakes[1]?.port)} checking → up`),
      );

      assert.equal(child.process.kill('SIGTERM'), true);
      assert.deepEqual(await exitOf(child), { code: 0, signal: null });
      const messages = logRecords(child.stderr).map((record) => String(record.msg));
      assert.match(messages.join('\n'), /gateway closed \(drained\) in \d+ ms/);
      assert.equal(messages.at(-1), 'stopped');
    } finally {
      for (const fake of fakes) await fake.close();
    }
  });
});

async function freeTcpPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const address = server.address();
  await new Promise((resolveClose) => server.close(resolveClose));
  return typeof address === 'object' && address !== null ? address.port : 0;
}
