// What the shuffle server does with requests a well-behaved Spark client does not send: each is
// answered with the failure kind Spark's own service answers with, and published as an event,
// and no other client notices.
import assert from 'node:assert/strict';
import { truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  createShuffleClient,
  type ShuffleClient,
} from '../../../src/shuffle/client/shuffle-client.ts';
import {
  BLOCK_TRANSFER_TYPE,
  decodeBlockTransfer,
  encodeBlockTransfer,
  type ExecutorShuffleInfo,
} from '../../../src/shuffle/protocol/block-transfer.ts';
import { encodeMessage, type TransportMessage } from '../../../src/shuffle/protocol/messages.ts';
import { blockFilePath } from '../../../src/shuffle/resolver/disk-layout.ts';
import {
  shuffleChannels,
  type ConnectionClosedForError,
  type RequestFailed,
} from '../../../src/shuffle/observability.ts';
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
  writeMapOutput,
  type RawConnection,
} from './fixtures.ts';

const APP = 'app-20261121000000-0003';

/** The reply, checked to be of this type. */
async function nextOfType<T extends TransportMessage['type']>(
  connection: RawConnection,
  type: T,
): Promise<Extract<TransportMessage, { type: T }>> {
  const { message } = await connection.next();
  assert.equal(message.type, type, `expected ${type}, got ${JSON.stringify(message.type)}`);
  return message as Extract<TransportMessage, { type: T }>;
}

describe('shuffle server on bad input', () => {
  let root: string;
  let server: ShuffleServer;
  let port: number;
  let info: ExecutorShuffleInfo;
  let healthy: ShuffleClient;
  let failed: { readonly events: RequestFailed[]; stop(): void };
  let dropped: { readonly events: ConnectionClosedForError[]; stop(): void };
  const connections: RawConnection[] = [];

  const connectRaw = async (): Promise<RawConnection> => {
    const connection = await rawConnect(port);
    connections.push(connection);
    return connection;
  };

  /** The one requestFailed event of this connection. */
  const failureOf = (connection: RawConnection): RequestFailed => {
    const events = failed.events.filter((event) => event.remote === connection.remote);
    assert.equal(events.length, 1, `requestFailed events of ${connection.remote}`);
    const [event] = events;
    assert.ok(event !== undefined);
    return event;
  };

  const dropsOf = (connection: RawConnection): ConnectionClosedForError[] =>
    dropped.events.filter((event) => event.remote === connection.remote);

  /** The connection still answers an RPC, and the answer is the next thing on it. */
  const assertStillServes = async (connection: RawConnection): Promise<void> => {
    const requestId = connection.sendRpc(
      encodeBlockTransfer({ type: 'GetLocalDirsForExecutors', appId: APP, execIds: ['0'] }),
    );
    const reply = await nextOfType(connection, 'RpcResponse');
    assert.equal(reply.requestId, requestId);
    const dirs = decodeBlockTransfer(reply.body);
    assert.equal(dirs.type, 'LocalDirsForExecutors');
    assert.deepEqual(dirs.localDirsByExec.get('0'), info.localDirs);
    assert.deepEqual(dropsOf(connection), []);
  };

  before(async () => {
    root = await tempRoot('bad-input');
    info = executorInfo([join(root, 'blockmgr-bad')]);
    await writeMapOutput(info, 0, 1n, [partitionBytes(1, 0, 4096)]);
    // Shuffle 2: the index puts partition 1 at [1000, 2000), the data file ends at 1500.
    await writeMapOutput(info, 2, 1n, [partitionBytes(1, 0, 1000), partitionBytes(1, 1, 1000)]);
    await truncate(blockFilePath(info, 'shuffle_2_1_0.data'), 1500);
    ({ server, port } = await startServer({ allowedRoots: [root] }));
    healthy = createShuffleClient({ host: '127.0.0.1', port, maxRetries: 0 });
    await healthy.registerExecutor(APP, '0', info);
    failed = recordEvents(shuffleChannels.requestFailed);
    dropped = recordEvents(shuffleChannels.connectionDropped);
  });

  // Every case runs while another, well-behaved client is connected: it must not notice.
  afterEach(async () => {
    const blocks = await healthy.fetchBlocks(APP, '0', ['shuffle_0_1_0']);
    assert.deepEqual(blocks.get('shuffle_0_1_0'), partitionBytes(1, 0, 4096));
  });

  after(async () => {
    failed.stop();
    dropped.stop();
    healthy.close();
    for (const connection of connections) connection.close();
    assert.equal(await server.close(2000), true);
    assert.equal(server.connections, 0);
    await removeRoot(root);
  });

  it('a truncated RegisterExecutor body is an RpcFailure saying it is malformed', async () => {
    const connection = await connectRaw();
    const body = encodeBlockTransfer({ type: 'RegisterExecutor', appId: APP, execId: '9', info });
    const requestId = connection.sendRpc(body.subarray(0, body.length - 5));
    const reply = await nextOfType(connection, 'RpcFailure');
    assert.equal(reply.requestId, requestId);
    assert.match(reply.error, /^java\.lang\.IllegalArgumentException: malformed shuffle message/);
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_BAD_MESSAGE');
    assert.equal(event.request, `RPC ${requestId}`);
    assert.match(event.message, /malformed/);
    assert.equal(server.registry.get(APP, '9'), undefined);
    await assertStillServes(connection);
  });

  it('a RegisterExecutor with subDirsPerLocalDir 0 is an RpcFailure and registers nothing', async () => {
    const connection = await connectRaw();
    const requestId = connection.sendRpc(
      encodeBlockTransfer({
        type: 'RegisterExecutor',
        appId: APP,
        execId: '8',
        info: { ...info, subDirsPerLocalDir: 0 },
      }),
    );
    const reply = await nextOfType(connection, 'RpcFailure');
    assert.equal(reply.requestId, requestId);
    assert.match(reply.error, /subDirsPerLocalDir must be at least 1, got 0/);
    assert.equal(failureOf(connection).kind, 'ESS_BAD_MESSAGE');
    assert.equal(server.registry.get(APP, '8'), undefined);
    await assertStillServes(connection);
  });

  it('a data file shorter than its index says is a ChunkFetchFailure, not a dropped connection', async () => {
    const connection = await connectRaw();
    connection.sendRpc(
      encodeBlockTransfer({
        type: 'OpenBlocks',
        appId: APP,
        execId: '0',
        blockIds: ['shuffle_2_1_0', 'shuffle_2_1_1'],
      }),
    );
    const handle = decodeBlockTransfer((await nextOfType(connection, 'RpcResponse')).body);
    assert.equal(handle.type, 'StreamHandle');
    connection.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 0 });
    const intact = await nextOfType(connection, 'ChunkFetchSuccess');
    assert.deepEqual(intact.body, partitionBytes(1, 0, 1000));
    connection.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 1 });
    const reply = await nextOfType(connection, 'ChunkFetchFailure');
    assert.equal(reply.streamId, handle.streamId);
    assert.equal(reply.chunkIndex, 1);
    assert.match(
      reply.error,
      /^java\.io\.IOException: Shuffle data file .*shuffle_2_1_0\.data is 1500 bytes/,
    );
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_FILE_TRUNCATED');
    assert.equal(event.request, `ChunkFetchRequest(${handle.streamId}, 1)`);
    await assertStillServes(connection);
  });

  it('a chunk of an unknown app is a ChunkFetchFailure: Executor is not registered', async () => {
    const connection = await connectRaw();
    connection.sendRpc(
      encodeBlockTransfer({
        type: 'OpenBlocks',
        appId: 'app-unknown',
        execId: '0',
        blockIds: ['shuffle_0_1_0'],
      }),
    );
    // As in Spark, the stream opens; the executor is looked up when the chunk is fetched.
    const handle = decodeBlockTransfer((await nextOfType(connection, 'RpcResponse')).body);
    assert.equal(handle.type, 'StreamHandle');
    connection.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 0 });
    const reply = await nextOfType(connection, 'ChunkFetchFailure');
    assert.match(reply.error, /Executor is not registered \(appId=app-unknown, execId=0\)/);
    assert.equal(failureOf(connection).kind, 'ESS_UNKNOWN_EXECUTOR');
    await assertStillServes(connection);
  });

  it('an UploadStream is an RpcFailure, then the connection is closed', async () => {
    const connection = await connectRaw();
    const body = Buffer.alloc(16, 0x42);
    // Frame and body in one write, as a client streaming a pushed block would send them.
    connection.socket.write(
      Buffer.concat([
        encodeMessage({
          type: 'UploadStream',
          requestId: 4242n,
          meta: Buffer.from([BLOCK_TRANSFER_TYPE.PushBlockStream, 0, 0, 0, 0]),
          bodyByteCount: BigInt(body.length),
        }),
        body,
      ]),
    );
    const reply = await nextOfType(connection, 'RpcFailure');
    assert.equal(reply.requestId, 4242n);
    assert.match(reply.error, /UnsupportedOperationException: Cannot handle shuffle block merge/);
    await closedWithin(connection, 2000);
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_UNSUPPORTED');
    assert.equal(event.request, 'UploadStream');
    assert.match(dropsOf(connection)[0]?.reason ?? 'not dropped', /UploadStream is not accepted/);
  });

  it('a MergedBlockMetaRequest is an RpcFailure: Cannot handle shuffle block merge', async () => {
    const connection = await connectRaw();
    connection.send({
      type: 'MergedBlockMetaRequest',
      requestId: 4343n,
      appId: APP,
      shuffleId: 0,
      shuffleMergeId: 0,
      reduceId: 0,
    });
    const reply = await nextOfType(connection, 'RpcFailure');
    assert.equal(reply.requestId, 4343n);
    assert.match(reply.error, /Cannot handle shuffle block merge/);
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_UNSUPPORTED');
    assert.equal(event.request, 'MergedBlockMetaRequest');
    await assertStillServes(connection);
  });

  it('a StreamRequest with a malformed stream name is a StreamFailure', async () => {
    const connection = await connectRaw();
    connection.send({ type: 'StreamRequest', streamId: 'abc' });
    const reply = await nextOfType(connection, 'StreamFailure');
    assert.equal(reply.streamId, 'abc');
    assert.match(reply.error, /'abc'/);
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_STREAM');
    assert.equal(event.request, 'StreamRequest(abc)');
    await assertStillServes(connection);
  });

  it('a ChunkFetchRequest before any stream was opened is a ChunkFetchFailure', async () => {
    const connection = await connectRaw();
    connection.send({ type: 'ChunkFetchRequest', streamId: 12345n, chunkIndex: 0 });
    const reply = await nextOfType(connection, 'ChunkFetchFailure');
    assert.equal(reply.streamId, 12345n);
    assert.equal(reply.chunkIndex, 0);
    assert.match(reply.error, /Requested chunk not available since streamId 12345 is closed/);
    assert.equal(failureOf(connection).kind, 'ESS_STREAM');
    await assertStillServes(connection);
  });

  it('an RpcResponse sent to the server is ignored and the connection keeps working', async () => {
    const connection = await connectRaw();
    connection.send({ type: 'RpcResponse', requestId: 77n, body: Buffer.from('unasked') });
    // The next reply on the connection answers the next request: nothing answered the response.
    await assertStillServes(connection);
    const event = failureOf(connection);
    assert.equal(event.kind, 'ESS_BAD_MESSAGE');
    assert.equal(event.request, 'RpcResponse');
  });
});
