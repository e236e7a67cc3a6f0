// Connection handling of the shuffle server over real sockets: thousands at once, the connection
// limit, the idle timeout that closes connections with nothing to do, and clients that reset.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  connectTransport,
  createTransportClient,
  type TransportClient,
} from '../../../src/shuffle/client/transport-client.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
} from '../../../src/shuffle/protocol/block-transfer.ts';
import { encodeMessage } from '../../../src/shuffle/protocol/messages.ts';
import { shuffleChannels } from '../../../src/shuffle/observability.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import {
  closedWithin,
  executorInfo,
  partitionBytes,
  rawConnect,
  recordEvents,
  removeRoot,
  startServer,
  tempRoot,
  waitFor,
  writeMapOutput,
  type RawConnection,
} from './fixtures.ts';

const APP = 'app-20261121000000-0002';
/** Executors with distinct dirs, so an answer meant for another connection is caught. */
const EXECUTORS = ['0', '1', '2', '3'];

async function localDirsOf(client: TransportClient, execId: string): Promise<readonly string[]> {
  const reply = decodeBlockTransfer(
    await client.sendRpc(
      encodeBlockTransfer({ type: 'GetLocalDirsForExecutors', appId: APP, execIds: [execId] }),
      10_000,
    ),
  );
  assert.equal(reply.type, 'LocalDirsForExecutors');
  return reply.localDirsByExec.get(execId) ?? [];
}

describe('shuffle server connections', () => {
  let root: string;
  const servers: ShuffleServer[] = [];
  const clients: TransportClient[] = [];
  const raw: RawConnection[] = [];

  const dirsOf = (execId: string): string[] => [join(root, `blockmgr-${execId}`)];

  /** A server on port 0 with every executor of EXECUTORS registered. */
  const start = async (
    overrides: { maxConnections?: number; idleTimeoutMs?: number } = {},
  ): Promise<{ server: ShuffleServer; port: number }> => {
    const started = await startServer({ allowedRoots: [root], ...overrides });
    servers.push(started.server);
    for (const execId of EXECUTORS)
      started.server.registry.register(APP, execId, executorInfo(dirsOf(execId)));
    return started;
  };

  const connectClient = async (port: number): Promise<TransportClient> => {
    const client = await connectTransport({ host: '127.0.0.1', port });
    clients.push(client);
    return client;
  };

  before(async () => {
    root = await tempRoot('connections');
  });

  after(async () => {
    for (const client of clients) client.close();
    for (const connection of raw) connection.close();
    for (const server of servers) {
      assert.equal(await server.close(2000), true);
      assert.equal(server.connections, 0);
    }
    await removeRoot(root);
  });

  it(
    'answers 2000 concurrent connections, then counts none once they close',
    {
      timeout: 30_000,
    },
    async (t) => {
      const { server, port } = await start();
      const total = 2000;
      const batch = 250;
      const started = performance.now();
      const open: TransportClient[] = [];
      try {
        // Connected in batches so the listen backlog never overflows; all stay open together.
        for (let first = 0; first < total; first += batch) {
          const connecting = Array.from({ length: Math.min(batch, total - first) }, () =>
            connectTransport({ host: '127.0.0.1', port }),
          );
          open.push(...(await Promise.all(connecting)));
        }
        const connectedMs = performance.now() - started;
        const answers = await Promise.all(
          open.map((client, index) =>
            localDirsOf(client, EXECUTORS[index % EXECUTORS.length] ?? ''),
          ),
        );
        answers.forEach((dirs, index) => {
          assert.deepEqual(
            dirs,
            dirsOf(EXECUTORS[index % EXECUTORS.length] ?? ''),
            `client ${index}`,
          );
        });
        assert.equal(server.connections, total);
        const answeredMs = performance.now() - started;
        assert.ok(answeredMs < 20_000, `2000 connections took ${answeredMs} ms`);
        t.diagnostic(
          `2000 connections: connected in ${connectedMs.toFixed(0)} ms, all answered after ${answeredMs.toFixed(0)} ms`,
        );
      } finally {
        for (const client of open) client.close();
      }
      await waitFor(() => server.connections === 0, 'every connection to be forgotten', 5000);
    },
  );

  it('closes connections past maxConnections at once and keeps serving the first ones', async () => {
    const { server, port } = await start({ maxConnections: 5 });
    const first = await Promise.all(Array.from({ length: 5 }, () => connectClient(port)));
    await waitFor(() => server.connections === 5, 'the first 5 connections to be accepted');
    const dropped = recordEvents(shuffleChannels.connectionDropped);
    try {
      const sixth = await rawConnect(port);
      raw.push(sixth);
      // At once: the server destroys it on accept, without waiting for a request.
      await closedWithin(sixth, 1000);
      const event = dropped.events.find((each) => each.remote === sixth.remote);
      assert.ok(event !== undefined, 'no connectionDropped event for the sixth connection');
      assert.match(event.reason, /connection limit 5 reached/);
      assert.equal(server.connections, 5);
      for (const [index, client] of first.entries())
        assert.deepEqual(await localDirsOf(client, '1'), dirsOf('1'), `connection ${index}`);

      // A freed slot is taken again.
      first[0]?.close();
      await waitFor(() => server.connections === 4, 'a closed connection to free its slot');
      const replacement = await connectClient(port);
      assert.deepEqual(await localDirsOf(replacement, '2'), dirsOf('2'));
    } finally {
      dropped.stop();
    }
  });

  it(
    'closes an idle connection after idleTimeoutMs, not one that keeps asking',
    {
      timeout: 10_000,
    },
    async () => {
      const { port } = await start({ idleTimeoutMs: 300 });
      const dropped = recordEvents(shuffleChannels.connectionDropped);
      try {
        const idle = await rawConnect(port);
        raw.push(idle);
        const idleClosedMs = await closedWithin(idle, 3000);
        assert.ok(idleClosedMs >= 250, `closed after ${idleClosedMs} ms, before the idle timeout`);
        const event = dropped.events.find((each) => each.remote === idle.remote);
        assert.match(event?.reason ?? 'no connectionDropped event', /idle for 300 ms/);

        const busy = await connectClient(port);
        const busyStarted = performance.now();
        for (let request = 0; request < 10; request++) {
          assert.deepEqual(await localDirsOf(busy, '3'), dirsOf('3'), `request ${request}`);
          await delay(100);
        }
        assert.ok(performance.now() - busyStarted >= 1000);
        assert.equal(busy.isOpen, true, 'a connection that kept sending requests was closed');
        // Once it stops asking, it is idle like any other.
        await closedWithin(busy, 3000);
      } finally {
        dropped.stop();
      }
    },
  );
});

/**
 * A shuffle server in a child process, so a server that dies of what a client did fails the test
 * instead of the test runner. Resolves once it listens.
 */
async function startServerProcess(
  allowedRoot: string,
): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const serverModule = new URL('../../../src/shuffle/server/shuffle-server.ts', import.meta.url);
  const program = `
    const { createShuffleServer, SHUFFLE_DEFAULTS } = await import(${JSON.stringify(serverModule.href)});
    const server = createShuffleServer({
      ...SHUFFLE_DEFAULTS,
      host: '127.0.0.1',
      port: 0,
      allowedRoots: [${JSON.stringify(allowedRoot)}],
      stateDir: undefined,
      authSecret: undefined,
    });
    const { port } = await server.listen();
    process.stdout.write(JSON.stringify({ port }) + '\\n');
    process.on('SIGTERM', () => void server.close(500).then(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '--eval', program], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    for await (const line of lines) {
      const { port } = JSON.parse(line) as { port: number };
      return { child, port, stderr: () => stderr };
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`the shuffle server process exited before it listened: ${stderr}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Opens a connection, lets `use` send on it, then resets it (RST, as a killed executor's kernel does). */
async function resetConnection(
  port: number,
  use: (socket: Socket) => Promise<void>,
): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve).once('error', reject);
  });
  try {
    await use(socket);
  } finally {
    socket.resetAndDestroy();
  }
}

describe('shuffle server process', () => {
  it(
    'survives clients that reset their connection',
    {
      timeout: 20_000,
    },
    async () => {
      const root = await tempRoot('reset');
      const info = executorInfo([join(root, 'blockmgr-reset')]);
      await writeMapOutput(info, 0, 1n, [partitionBytes(1, 0, 4 * 1024 * 1024)]);
      const started = await startServerProcess(root).catch(async (error: unknown) => {
        await removeRoot(root);
        throw error;
      });
      const clients: TransportClient[] = [];
      const ask = async (): Promise<void> => {
        const client = await connectTransport({ host: '127.0.0.1', port: started.port });
        clients.push(client);
        await client.sendRpc(
          encodeBlockTransfer({ type: 'RegisterExecutor', appId: APP, execId: '0', info }),
          5000,
        );
        assert.deepEqual(await localDirsOf(client, '0'), info.localDirs);
      };
      const assertAlive = async (event: string): Promise<void> => {
        await delay(300);
        assert.equal(
          started.child.exitCode ?? started.child.signalCode,
          null,
          `the server process died after ${event}: ${started.stderr()}`,
        );
      };
      try {
        await ask();
        await resetConnection(started.port, () => delay(50));
        await assertAlive('a client reset its connection while the server was reading');
        await resetConnection(started.port, async (socket) => {
          const client = createTransportClient(socket, 64 * 1024 * 1024);
          const handle = decodeBlockTransfer(
            await client.sendRpc(
              encodeBlockTransfer({
                type: 'OpenBlocks',
                appId: APP,
                execId: '0',
                blockIds: ['shuffle_0_1_0'],
              }),
            ),
          );
          assert.equal(handle.type, 'StreamHandle');
          socket.pause();
          socket.write(
            encodeMessage({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 0 }),
          );
          await delay(100);
        });
        await assertAlive('a client reset its connection while a 4 MiB block was being sent');
        await ask();
      } finally {
        for (const client of clients) client.close();
        await stopProcess(started.child);
        await removeRoot(root);
      }
    },
  );
});
