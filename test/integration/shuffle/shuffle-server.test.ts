// The shuffle service end to end over real sockets: sparkplane's client against sparkplane's
// server on port 0, with map outputs in Spark's on-disk layout.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createShuffleClient,
  type ShuffleClient,
} from '../../../src/shuffle/client/shuffle-client.ts';
import { connectTransport } from '../../../src/shuffle/client/transport-client.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
  type ExecutorShuffleInfo,
} from '../../../src/shuffle/protocol/block-transfer.ts';
import { encodeMessage } from '../../../src/shuffle/protocol/messages.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import { partitionBytes, removeRoot, startServer, tempRoot, writeMapOutput } from './fixtures.ts';

const APP = 'app-20261121000000-0000';
const SIZES = [100, 0, 1024 * 1024, 7];

describe('shuffle server', () => {
  let root: string;
  let server: ShuffleServer;
  let port: number;
  let client: ShuffleClient;
  let info: ExecutorShuffleInfo;
  const opened: ShuffleClient[] = [];

  const newClient = (): ShuffleClient => {
    const fresh = createShuffleClient({ host: '127.0.0.1', port, maxRetries: 0 });
    opened.push(fresh);
    return fresh;
  };

  before(async () => {
    root = await tempRoot('server');
    info = {
      localDirs: [join(root, 'blockmgr-a'), join(root, 'blockmgr-b')],
      subDirsPerLocalDir: 64,
      shuffleManager: 'org.apache.spark.shuffle.sort.SortShuffleManager',
    };
    for (const mapId of [1, 2]) {
      await writeMapOutput(
        info,
        0,
        BigInt(mapId),
        SIZES.map((size, reduceId) => partitionBytes(mapId, reduceId, size)),
      );
    }
    ({ server, port } = await startServer({ allowedRoots: [root], stateDir: join(root, 'state') }));
    client = newClient();
    await client.registerExecutor(APP, '0', info);
  });

  after(async () => {
    for (const each of opened) each.close();
    assert.equal(await server.close(2000), true);
    assert.equal(server.connections, 0);
    await removeRoot(root);
  });

  for (const mode of ['chunk', 'stream'] as const) {
    it(`fetches blocks in ${mode} mode, byte for byte`, async () => {
      const ids = [
        'shuffle_0_1_0',
        'shuffle_0_2_2',
        'shuffle_0_1_1',
        'shuffle_0_2_3',
        'shuffle_0_1_2',
      ];
      const blocks = await client.fetchBlocks(APP, '0', ids, mode);
      for (const id of ids) {
        const [, , mapId, reduceId] = id.split('_').map(Number);
        assert.deepEqual(
          blocks.get(id),
          partitionBytes(mapId ?? -1, reduceId ?? -1, SIZES[reduceId ?? -1] ?? -1),
          id,
        );
      }
    });
  }

  it('fetches a batch of contiguous partitions as one chunk', async () => {
    const blocks = await client.fetchBlocks(APP, '0', ['shuffle_0_2_0_3']);
    assert.deepEqual(
      blocks.get('shuffle_0_2_0_3'),
      Buffer.concat([0, 1, 2].map((reduceId) => partitionBytes(2, reduceId, SIZES[reduceId] ?? 0))),
    );
  });

  it('answers GetLocalDirsForExecutors with the dirs exactly as registered', async () => {
    const dirs = await client.getLocalDirs(APP, ['0']);
    assert.deepEqual(dirs.get('0'), info.localDirs);
    await assert.rejects(
      client.getLocalDirs(APP, ['0', '9']),
      /Executor is not registered \(appId=app-20261121000000-0000, execId=9\)/,
    );
  });

  it('an unregistered executor fails at chunk time, as a ChunkFetchFailure', async () => {
    await assert.rejects(
      client.fetchBlocks(APP, '7', ['shuffle_0_1_0']),
      /Failure while fetching StreamChunkId.*Executor is not registered \(appId=.*, execId=7\)/,
    );
  });

  it('a missing map output fails with the index path', async () => {
    await assert.rejects(
      client.fetchBlocks(APP, '0', ['shuffle_0_99_0']),
      /Failed to open file: .*shuffle_0_99_0\.index/,
    );
  });

  it('bad block ids and mixed shuffles are RpcFailures', async () => {
    await assert.rejects(
      client.fetchBlocks(APP, '0', ['broadcast_1']),
      /Unexpected block id format: broadcast_1/,
    );
    const reply = client.rpc(
      encodeBlockTransfer({
        type: 'OpenBlocks',
        appId: APP,
        execId: '0',
        blockIds: ['shuffle_0_1_0', 'shuffle_1_1_0'],
      }),
    );
    await assert.rejects(reply, /Expected shuffleId=0, got:shuffle_1_1_0/);
  });

  it('refuses a registration outside the allowed roots', async () => {
    await assert.rejects(
      client.registerExecutor(APP, '5', { ...info, localDirs: ['/etc'] }),
      /java\.lang\.SecurityException: .*\/etc/,
    );
    await assert.rejects(
      client.registerExecutor(APP, '5', { ...info, localDirs: [join(root, '..', '..', 'etc')] }),
      /SecurityException/,
    );
  });

  it('answers unknown and push-based messages as Spark does', async () => {
    await assert.rejects(client.rpc(Buffer.from([99])), /Unknown message type: 99/);
    await assert.rejects(
      client.rpc(Buffer.concat([Buffer.from([13, 0, 0, 0, 1, 0x61]), Buffer.alloc(12)])),
      /Cannot handle shuffle block merge/,
    );
    await assert.rejects(client.rpc(Buffer.from([1, 0, 0])), /Unexpected message: UploadBlock/);
  });

  it('enforces chunk order within a stream', async () => {
    const transport = await connectTransport({ host: '127.0.0.1', port });
    try {
      const handle = decodeBlockTransfer(
        await transport.sendRpc(
          encodeBlockTransfer({
            type: 'OpenBlocks',
            appId: APP,
            execId: '0',
            blockIds: ['shuffle_0_1_0', 'shuffle_0_1_1'],
          }),
        ),
      );
      assert.equal(handle.type, 'StreamHandle');
      assert.equal(handle.numChunks, 2);
      await assert.rejects(
        transport.fetchChunk(handle.streamId, 1),
        /Received out-of-order chunk index 1 \(expected 0\)/,
      );
      // An out-of-order request does not move the position (Spark checks before advancing).
      assert.equal((await transport.fetchChunk(handle.streamId, 0)).length, 100);
      assert.equal((await transport.fetchChunk(handle.streamId, 1)).length, 0);
      // After its last chunk the stream is gone.
      await assert.rejects(transport.fetchChunk(handle.streamId, 2), /streamId \d+ is closed/);
    } finally {
      transport.close();
    }
  });

  it('removes blocks and counts them', async () => {
    await writeMapOutput(info, 5, 1n, [Buffer.from('x')]);
    assert.equal(
      await client.removeBlocks(APP, '0', ['shuffle_5_1_0.data', 'shuffle_5_1_0.index', 'rdd_9_9']),
      2,
    );
    await assert.rejects(client.fetchBlocks(APP, '0', ['shuffle_5_1_0']), /Failed to open file/);
  });

  it('closes a connection that sends garbage and keeps serving everyone else', async () => {
    for (const garbage of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
      Buffer.alloc(16, 0xff),
    ]) {
      const closed = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port }, () => socket.write(garbage));
        socket.on('error', () => undefined);
        socket.on('close', () => {
          resolve(true);
        });
        setTimeout(() => {
          socket.destroy();
          resolve(false);
        }, 3000).unref();
      });
      assert.equal(
        closed,
        true,
        `server should close on ${garbage.toString('latin1').slice(0, 10)}`,
      );
    }
    const blocks = await client.fetchBlocks(APP, '0', ['shuffle_0_1_0']);
    assert.equal(blocks.get('shuffle_0_1_0')?.length, 100);
  });

  it('closes on a frame larger than the limit before reading it', async () => {
    const transport = await connectTransport({ host: '127.0.0.1', port });
    const header = Buffer.alloc(8);
    header.writeBigInt64BE(1n << 40n);
    transport.writeRaw(header);
    await transport.closed;
    assert.equal(transport.isOpen, false);
  });

  it('survives a client that vanishes in the middle of a large block', async () => {
    const transport = await connectTransport({ host: '127.0.0.1', port });
    const handle = decodeBlockTransfer(
      await transport.sendRpc(
        encodeBlockTransfer({
          type: 'OpenBlocks',
          appId: APP,
          execId: '0',
          blockIds: ['shuffle_0_1_2'],
        }),
      ),
    );
    if (handle.type !== 'StreamHandle') throw new Error('no stream');
    transport.writeRaw(
      encodeMessage({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 0 }),
    );
    transport.close();
    const other = newClient();
    const blocks = await other.fetchBlocks(APP, '0', ['shuffle_0_2_2']);
    assert.equal(blocks.get('shuffle_0_2_2')?.length, 1024 * 1024);
  });

  it('serves executors registered before a restart without re-registration', async () => {
    const restartedRoot = await tempRoot('restart');
    try {
      const localInfo = { ...info, localDirs: [join(restartedRoot, 'blockmgr-r')] };
      await writeMapOutput(localInfo, 3, 4n, [Buffer.from('persisted')]);
      const first = await startServer({
        allowedRoots: [restartedRoot],
        stateDir: join(restartedRoot, 'state'),
      });
      const registering = createShuffleClient({
        host: '127.0.0.1',
        port: first.port,
        maxRetries: 0,
      });
      await registering.registerExecutor('app-r', '1', localInfo);
      registering.close();
      await first.server.close(1000);
      const second = await startServer({
        allowedRoots: [restartedRoot],
        stateDir: join(restartedRoot, 'state'),
      });
      const reading = createShuffleClient({ host: '127.0.0.1', port: second.port, maxRetries: 0 });
      try {
        assert.equal(second.server.registry.executorCount, 1);
        const blocks = await reading.fetchBlocks('app-r', '1', ['shuffle_3_4_0']);
        assert.equal(blocks.get('shuffle_3_4_0')?.toString(), 'persisted');
      } finally {
        reading.close();
        await second.server.close(1000);
      }
    } finally {
      await removeRoot(restartedRoot);
    }
  });
});
