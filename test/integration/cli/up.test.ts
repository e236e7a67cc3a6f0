// The real `sparkplane` command in a child process: `up` serves its admin endpoint and stops
// cleanly on SIGTERM; a bad config file ends a command with exit code 2. No child outlives a test.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as setTimeoutPromise } from 'node:timers/promises';
import { isRunning, killLaunchedFrom } from '../../support/process-alive.ts';

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

function sparkplane(args: readonly string[], env: NodeJS.ProcessEnv = {}): Child {
  const child = spawn(BIN, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
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

function connect_(port: number): Socket {
  const socket = connect({ host: '127.0.0.1', port });
  return socket;
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
  // A gateway killed by a failing test leaves the servers it launched running.
  killLaunchedFrom(dir);
});
after(() => {
  killLaunchedFrom(dir);
  rmSync(dir, { recursive: true, force: true });
});

describe('sparkplane up', () => {
  const upArgs = (stateDir: string, ...more: string[]): string[] => [
    'up',
    '--gateway-port',
    '0',
    '--shuffle-port',
    '0',
    '--admin-port',
    '0',
    '--log-format',
    'json',
    '--state-dir',
    stateDir,
    ...more,
  ];

  it('runs the gateway, the shuffle service and the dashboard, and stops cleanly on SIGTERM', async () => {
    const stateDir = join(dir, 'state');
    const child = sparkplane(upArgs(stateDir, '--connect-servers', '0'));
    await waitForOutput(child, 'stdout', /Press Ctrl-C to stop\./);
    const out = child.stdout;
    assert.ok(out.startsWith('sparkplane is up\n'), out);
    const connect = /Spark Connect {2}sc:\/\/127\.0\.0\.1:(\d+) {3}\(pyspark --remote sc:/.exec(
      out,
    );
    const shuffle = /shuffle {8}127\.0\.0\.1:(\d+) {3}\(spark\.shuffle\.service\.enabled=true/.exec(
      out,
    );
    const dashboard = /dashboard {6}(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
    assert.ok(connect !== null && shuffle !== null && dashboard !== null, out);
    assert.ok(out.includes(`  state          ${stateDir}\n`), out);
    assert.ok(out.includes('no Spark Connect server launched (--connect-servers 0)'), out);

    const url = dashboard[1] ?? '';
    const health = await fetch(new URL('/healthz', url));
    assert.deepEqual(await health.json(), { status: 'ok' });
    const page = await (await fetch(url)).text();
    assert.match(page, /Shuffle service/);
    assert.match(page, /Spark Connect servers/);
    const metrics = await (await fetch(new URL('/metrics', url))).text();
    assert.match(metrics, /^# TYPE sparkplane_gateway_rpcs_total counter/m);
    assert.match(metrics, /^# TYPE sparkplane_shuffle_/m);
    // Both services answer on their ports.
    for (const found of [connect, shuffle]) {
      const socket = connect_(Number(found[1]));
      await new Promise((resolveConnect, reject) => {
        socket.once('connect', resolveConnect).once('error', reject);
      });
      socket.destroy();
    }

    assert.equal(child.process.kill('SIGTERM'), true);
    assert.deepEqual(await exitOf(child), { code: 0, signal: null });
    const messages = logRecords(child.stderr).map((record) => String(record.msg));
    for (const service of ['gateway', 'shuffle', 'admin'])
      assert.ok(
        messages.some((message) => new RegExp(`^${service} closed \\(drained\\)`).test(message)),
        `${service} closed: ${messages.join('\n')}`,
      );
    assert.equal(messages.at(-1), 'stopped');
  });

  it('launches Spark Connect servers from SPARK_HOME and stops them all on Ctrl-C', async () => {
    const { makeFakeSparkHome } = await import('../../support/fake-spark-home.ts');
    const sparkHome = makeFakeSparkHome(join(dir, 'spark-home'));
    const first = 22000 + Math.floor(Math.random() * 500) * 10;
    const child = sparkplane(
      upArgs(join(dir, 'state-spark'), '--managed-ports', `${String(first)}-${String(first + 9)}`),
      {
        SPARK_HOME: sparkHome,
      },
    );
    const [, seconds] = await waitForOutput(child, 'stdout', /ready after (\d+) s: (.*)\n/);
    assert.ok(Number(seconds) < 15);
    assert.match(
      child.stdout,
      /Spark {10}4\.9\.0 from .* \(SPARK_HOME\): launching 2 Spark Connect servers/,
    );
    const url = /dashboard {6}(http:\/\/127\.0\.0\.1:\d+\/)/.exec(child.stdout)?.[1] ?? '';
    const managed = (await (await fetch(new URL('/api/gateway/managed', url))).json()) as {
      servers: { state: string; pid: number; port: number }[];
    };
    assert.deepEqual(
      managed.servers.map((server) => [server.state, server.port]),
      [
        ['running', first],
        ['running', first + 1],
      ],
    );
    const backends = (await (await fetch(new URL('/api/gateway/backends', url))).json()) as {
      backends: { id: string; health: string }[];
    };
    assert.deepEqual(
      backends.backends.map((backend) => backend.health),
      ['up', 'up'],
    );
    const page = await (await fetch(url)).text();
    assert.match(page, /Spark Connect servers the gateway launched/);
    assert.equal(page.match(/<tr data-managed="sparkplane-connect-\d+">/g)?.length, 2, page);
    assert.match(page, /<td>shared pool<\/td>/);

    assert.equal(child.process.kill('SIGINT'), true);
    assert.deepEqual(await exitOf(child), { code: 0, signal: null });
    for (const server of managed.servers)
      assert.equal(isRunning(server.pid), false, `server pid ${String(server.pid)} still runs`);
  });

  it('refuses --connect-servers when no Spark is found, saying how to get one', async () => {
    // A python3 without pyspark, whatever this machine has.
    const bin = join(dir, 'no-pyspark-bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'python3'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    const child = sparkplane(upArgs(join(dir, 'state-nospark'), '--connect-servers', '1'), {
      SPARK_HOME: '',
      SPARKPLANE_SPARK_CACHE: join(dir, 'no-spark-cache'),
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    });
    const { code } = await exitOf(child);
    assert.equal(code, 2);
    assert.match(
      child.stderr,
      /finds no Spark: set --spark-home or SPARK_HOME, install pyspark for python3 .* or run scripts\/install --spark/,
    );
  });

  it('ends at once on a second SIGTERM while a request is still open', async () => {
    const child = sparkplane([
      ...upArgs(join(dir, 'state-2'), '--connect-servers', '0'),
      '--shutdown-timeout',
      '3s',
    ]);
    const [, port = ''] = await waitForOutput(
      child,
      'stdout',
      /dashboard {6}http:\/\/127\.0\.0\.1:(\d+)\//,
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
      const child = sparkplane([
        'up',
        '--gateway-port',
        '0',
        '--shuffle-port',
        '0',
        '--connect-servers',
        '0',
        '--admin-port',
        String(port),
        '--log-format',
        'json',
        '--state-dir',
        join(dir, 'state-taken'),
      ]);
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

describe('sparkplane gateway with servers it launches', () => {
  it('adopts them after a SIGKILL of the gateway, so their sessions carry on', async () => {
    const { makeFakeSparkHome } = await import('../../support/fake-spark-home.ts');
    const { grpcCall } = await import('../../../src/gateway/proxy/grpc-call.ts');
    const { encodeConfigRequest } =
      await import('../../../src/gateway/wire/spark-connect-codecs.ts');
    const http2 = await import('node:http2');
    const sparkHome = makeFakeSparkHome(join(dir, 'spark-home-adopt'));
    const stateDir = join(dir, 'state-adopt');
    const port = await freeTcpPort();
    const first = 23000 + Math.floor(Math.random() * 500) * 10;
    const args = [
      'gateway',
      '--port',
      String(port),
      '--admin-port',
      '0',
      '--log-format',
      'json',
      '--state-dir',
      stateDir,
      '--managed-servers',
      '1',
      '--spark-home',
      sparkHome,
      '--managed-ports',
      `${String(first)}-${String(first + 9)}`,
    ];
    const sessionId = '6f1c2f0e-9b1e-4d55-8d07-2b8f3a1c9e01';
    const configCall = async (): Promise<{ status: number; message: string }> => {
      const client = http2.connect(`http://127.0.0.1:${String(port)}`);
      client.on('error', () => undefined);
      try {
        return await grpcCall(
          client,
          '/spark.connect.SparkConnectService/Config',
          encodeConfigRequest({ sessionId, userId: 'alice', operation: { get: ['spark.app.id'] } }),
          { timeoutMs: 10_000 },
        );
      } finally {
        await new Promise<void>((resolveClose) => {
          client.close(() => {
            resolveClose();
          });
        });
      }
    };
    const serverPid = async (child: Child): Promise<{ pid: number; adopted: boolean }> => {
      const [, adminPort = ''] = await waitForOutput(
        child,
        'stderr',
        /dashboard on http:\/\/127\.0\.0\.1:(\d+)\//,
      );
      await waitForOutput(child, 'stderr', /(serves on|adopted Spark Connect server)/);
      const body = (await (
        await fetch(`http://127.0.0.1:${adminPort}/api/gateway/managed`)
      ).json()) as { servers: { pid: number; adopted: boolean }[] };
      const [server] = body.servers;
      assert.ok(server !== undefined, JSON.stringify(body));
      return server;
    };

    const firstGateway = sparkplane(args);
    const launched = await serverPid(firstGateway);
    assert.equal(launched.adopted, false);
    assert.equal((await configCall()).status, 0);
    firstGateway.process.kill('SIGKILL');
    await exitOf(firstGateway);
    assert.ok(isRunning(launched.pid), 'the server outlives a killed gateway');

    const secondGateway = sparkplane(args);
    const adopted = await serverPid(secondGateway);
    assert.deepEqual(adopted, { ...adopted, pid: launched.pid, adopted: true });
    // The session restored from the state dir is on the same server, which still holds it.
    assert.equal((await configCall()).status, 0);
    // A second gateway started on the same state dir and port by mistake fails to listen, and
    // leaves the running gateway's server alone.
    const intruder = sparkplane(args);
    assert.notEqual((await exitOf(intruder)).code, 0);
    assert.match(intruder.stderr, /address already in use/);
    assert.ok(isRunning(launched.pid), "the first gateway's server still runs");
    assert.equal((await configCall()).status, 0);
    secondGateway.process.kill('SIGTERM');
    assert.deepEqual(await exitOf(secondGateway), { code: 0, signal: null });
    assert.equal(isRunning(launched.pid), false, 'a clean stop stops the servers it runs');
  });
});

async function freeTcpPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const address = server.address();
  await new Promise((resolveClose) => server.close(resolveClose));
  return typeof address === 'object' && address !== null ? address.port : 0;
}
