// A reader that stops reading costs the server one socket buffer, not every reply it asked for:
// the server reads a chunk's file only as fast as the socket drains, and keeps serving others.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  createShuffleClient,
  type ShuffleClient,
} from '../../../src/shuffle/client/shuffle-client.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
  type ExecutorShuffleInfo,
} from '../../../src/shuffle/protocol/block-transfer.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import {
  executorInfo,
  partitionBytes,
  rawConnect,
  removeRoot,
  startServer,
  tempRoot,
  writeMapOutput,
  type RawConnection,
} from './fixtures.ts';

const APP = 'app-20261121000000-0001';
const MAP_ID = 3;
const PARTITIONS = 32;
const PARTITION_BYTES = 1024 * 1024;
/**
 * A stalled reader may hold about one reply in the server's socket buffer (a partition of up to
 * 1 MiB written whole, or one 256 KiB read of a larger one) plus frame headers: 2 MiB bounds that.
 * Buffering every reply would queue up to 32 MiB, less only what the kernel's socket buffers took.
 */
const MAX_PENDING_BYTES = 2 * 1024 * 1024;
const STALL_MS = 1000;

describe('shuffle server backpressure', () => {
  let root: string;
  let server: ShuffleServer;
  let port: number;
  let info: ExecutorShuffleInfo;
  const connections: RawConnection[] = [];
  const clients: ShuffleClient[] = [];

  before(async () => {
    root = await tempRoot('backpressure');
    info = executorInfo([join(root, 'blockmgr-slow')]);
    await writeMapOutput(
      info,
      0,
      BigInt(MAP_ID),
      Array.from({ length: PARTITIONS }, (_, reduceId) =>
        partitionBytes(MAP_ID, reduceId, PARTITION_BYTES),
      ),
    );
    await writeMapOutput(info, 1, 1n, [Buffer.from('a small block')]);
    ({ server, port } = await startServer({ allowedRoots: [root] }));
  });

  after(async () => {
    for (const connection of connections) connection.close();
    for (const client of clients) client.close();
    assert.equal(await server.close(2000), true);
    assert.equal(server.connections, 0);
    await removeRoot(root);
  });

  it(
    'holds one socket buffer for a reader that stopped, serves others, then sends everything',
    {
      timeout: 20_000,
    },
    async (t) => {
      const slow = await rawConnect(port);
      connections.push(slow);
      slow.sendRpc(
        encodeBlockTransfer({ type: 'RegisterExecutor', appId: APP, execId: '0', info }),
      );
      assert.equal((await slow.next()).message.type, 'RpcResponse');
      const blockIds = Array.from(
        { length: PARTITIONS },
        (_, reduceId) => `shuffle_0_${MAP_ID}_${reduceId}`,
      );
      slow.sendRpc(encodeBlockTransfer({ type: 'OpenBlocks', appId: APP, execId: '0', blockIds }));
      const opened = (await slow.next()).message;
      assert.equal(opened.type, 'RpcResponse');
      const handle = decodeBlockTransfer(opened.body);
      assert.equal(handle.type, 'StreamHandle');
      assert.equal(handle.numChunks, PARTITIONS);

      slow.socket.pause();
      for (let chunkIndex = 0; chunkIndex < PARTITIONS; chunkIndex++)
        slow.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex });

      const other = createShuffleClient({ host: '127.0.0.1', port, maxRetries: 0 });
      clients.push(other);
      const fetchStarted = performance.now();
      let otherServedMs: number | undefined;
      const otherFetch = other.fetchBlocks(APP, '0', ['shuffle_1_1_0']).then((blocks) => {
        otherServedMs = performance.now() - fetchStarted;
        return blocks;
      });
      let maxStalledPending = 0;
      const stallEnds = performance.now() + STALL_MS;
      while (performance.now() < stallEnds) {
        maxStalledPending = Math.max(maxStalledPending, server.pendingWriteBytes);
        await delay(10);
      }
      assert.notEqual(otherServedMs, undefined, 'another client was not served during the stall');
      assert.deepEqual((await otherFetch).get('shuffle_1_1_0'), Buffer.from('a small block'));
      assert.equal(slow.queued, 0, 'the paused socket delivered replies');
      assert.ok(
        maxStalledPending > 0,
        'the server never had a reply waiting: the reader did not back it up, so nothing was tested',
      );
      assert.ok(
        maxStalledPending <= MAX_PENDING_BYTES,
        `the server queued ${maxStalledPending} reply bytes for a reader that stopped (bound ${MAX_PENDING_BYTES})`,
      );

      let maxDrainingPending = 0;
      const sampler = setInterval(() => {
        maxDrainingPending = Math.max(maxDrainingPending, server.pendingWriteBytes);
      }, 5);
      try {
        slow.socket.resume();
        for (let chunkIndex = 0; chunkIndex < PARTITIONS; chunkIndex++) {
          const reply = (await slow.next(10_000)).message;
          assert.equal(reply.type, 'ChunkFetchSuccess', `chunk ${chunkIndex}: ${reply.type}`);
          assert.equal(reply.streamId, handle.streamId);
          assert.equal(reply.chunkIndex, chunkIndex);
          assert.equal(reply.body.length, PARTITION_BYTES);
          // equals(), not deepEqual: a 1 MiB diff would bury the message.
          assert.ok(
            reply.body.equals(partitionBytes(MAP_ID, chunkIndex, PARTITION_BYTES)),
            `chunk ${chunkIndex} differs from partition ${chunkIndex}`,
          );
        }
      } finally {
        clearInterval(sampler);
      }
      assert.ok(maxDrainingPending <= MAX_PENDING_BYTES, `${maxDrainingPending} bytes queued`);
      // Nothing more than the 32 replies, and the connection still serves.
      await assert.rejects(slow.next(200), /no reply/);
      assert.equal(server.streams.size, 0);
      slow.sendRpc(
        encodeBlockTransfer({ type: 'GetLocalDirsForExecutors', appId: APP, execIds: ['0'] }),
      );
      assert.equal((await slow.next()).message.type, 'RpcResponse');
      t.diagnostic(
        `backpressure: max pendingWriteBytes ${maxStalledPending} while stalled, ${maxDrainingPending} while draining; other client served in ${otherServedMs?.toFixed(1) ?? '?'} ms`,
      );
    },
  );
});
