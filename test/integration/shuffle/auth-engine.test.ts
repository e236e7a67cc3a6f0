// spark.network.crypto against sparkplane shuffle over a real socket: the X25519 handshake, then
// shuffle RPCs and chunks under AES-CTR; a wrong secret is refused and the connection closed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createCtrTransport,
  startClientChallenge,
  type AuthEngineVersion,
} from '../../../src/shuffle/auth/auth-engine.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
} from '../../../src/shuffle/protocol/block-transfer.ts';
import { createFrameDecoder } from '../../../src/shuffle/protocol/frame-decoder.ts';
import { encodeMessage, type TransportMessage } from '../../../src/shuffle/protocol/messages.ts';
import type { ShuffleServer } from '../../../src/shuffle/server/shuffle-server.ts';
import { partitionBytes, removeRoot, startServer, tempRoot, writeMapOutput } from './fixtures.ts';

const SECRET = 'a-shared-secret';
const APP = 'app-crypto';

/** A client speaking the AuthEngine handshake, then encrypted frames. */
async function cryptoClient(port: number, secret: string, version: AuthEngineVersion) {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const inbox: TransportMessage[] = [];
  let cipher: ReturnType<typeof createCtrTransport> | undefined = undefined;
  const decoder = createFrameDecoder(
    {
      message: (message) => inbox.push(message),
      rawBody: () => undefined,
      rawBodyEnd: () => undefined,
    },
    { maxFrameBytes: 64 * 1024 * 1024 },
  );
  socket.on('data', (chunk: Buffer) => {
    decoder.push(cipher === undefined ? chunk : cipher.decrypt(chunk));
  });
  const closed = once(socket, 'close').catch(() => undefined);
  socket.on('error', () => undefined);
  const next = async (): Promise<TransportMessage> => {
    const deadline = Date.now() + 5000;
    while (inbox.length === 0) {
      if (socket.destroyed) throw new Error('connection closed');
      if (Date.now() > deadline) throw new Error('no reply');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const message = inbox.shift();
    if (message === undefined) throw new Error('no reply');
    return message;
  };
  const send = (message: TransportMessage): void => {
    const frame = encodeMessage(message);
    socket.write(cipher === undefined ? frame : cipher.encrypt(frame));
  };
  const challenge = startClientChallenge(APP, secret, { version });
  send({ type: 'RpcRequest', requestId: 1n, body: challenge.message });
  const reply = await next();
  if (reply.type !== 'RpcResponse') return { reply, socket, closed, send, next };
  cipher = createCtrTransport(challenge.finish(reply.body), 'client');
  return { reply, socket, closed, send, next };
}

describe('spark.network.crypto (AuthEngine + AES-CTR)', () => {
  let root: string;
  const servers: ShuffleServer[] = [];
  const info = { localDirs: [] as string[], subDirsPerLocalDir: 8, shuffleManager: 'sort' };

  before(async () => {
    root = await tempRoot('crypto');
    info.localDirs = [join(root, 'blockmgr-c')];
    await writeMapOutput(info, 0, 1n, [partitionBytes(1, 0, 1000), partitionBytes(1, 1, 600_000)]);
  });
  after(async () => {
    for (const server of servers) await server.close(1000);
    await removeRoot(root);
  });

  for (const version of [1, 2] as const) {
    it(`authenticates with version ${version} keys and serves RPCs and chunks encrypted`, async () => {
      const { server, port } = await startServer({
        allowedRoots: [root],
        authSecret: SECRET,
        authEngineVersion: version,
      });
      servers.push(server);
      const client = await cryptoClient(port, SECRET, version);
      try {
        assert.equal(client.reply.type, 'RpcResponse');
        client.send({
          type: 'RpcRequest',
          requestId: 2n,
          body: encodeBlockTransfer({ type: 'RegisterExecutor', appId: APP, execId: '0', info }),
        });
        assert.equal((await client.next()).type, 'RpcResponse');
        client.send({
          type: 'RpcRequest',
          requestId: 3n,
          body: encodeBlockTransfer({
            type: 'FetchShuffleBlocks',
            appId: APP,
            execId: '0',
            shuffleId: 0,
            mapIds: [1n],
            reduceIds: [[0, 1]],
            batchFetchEnabled: false,
          }),
        });
        const handleReply = await client.next();
        assert.equal(handleReply.type, 'RpcResponse');
        const handle = decodeBlockTransfer(handleReply.body);
        assert.equal(handle.type, 'StreamHandle');
        client.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 0 });
        client.send({ type: 'ChunkFetchRequest', streamId: handle.streamId, chunkIndex: 1 });
        const first = await client.next();
        const second = await client.next();
        assert.equal(first.type, 'ChunkFetchSuccess');
        assert.equal(second.type, 'ChunkFetchSuccess');
        assert.deepEqual(first.body, partitionBytes(1, 0, 1000));
        assert.deepEqual(second.body, partitionBytes(1, 1, 600_000));
        // Another application's data stays out of reach on this connection.
        client.send({
          type: 'RpcRequest',
          requestId: 4n,
          body: encodeBlockTransfer({
            type: 'GetLocalDirsForExecutors',
            appId: 'other-app',
            execIds: ['0'],
          }),
        });
        const refused = await client.next();
        assert.equal(refused.type, 'RpcFailure');
        assert.match(
          refused.error,
          /Client for app-crypto not authorized for application other-app/,
        );
      } finally {
        client.socket.destroy();
      }
    });
  }

  it('refuses a wrong secret and closes the connection', async () => {
    const { server, port } = await startServer({ allowedRoots: [root], authSecret: SECRET });
    servers.push(server);
    const client = await cryptoClient(port, 'not-the-secret', 1);
    assert.equal(client.reply.type, 'RpcFailure');
    assert.match(client.reply.error, /Authentication failed/);
    await client.closed;
    assert.equal(client.socket.destroyed, true);
  });
});
