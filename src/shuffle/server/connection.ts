// One client connection of the shuffle service: frames in, replies out, in the order the requests
// came. Chunk and stream requests are prepared a few ahead (located, opened, small ones read)
// while earlier replies are written; RPCs are barriers handled in turn. The socket stops being
// read while too many requests wait, and a reply waits for the previous one to leave the socket
// buffer, so a slow reader costs at most the read-ahead of its own connection.
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';
import {
  answerClientChallenge,
  createCtrTransport,
  type AuthEngineVersion,
} from '../auth/auth-engine.ts';
import { createDigestMd5Server, type DigestMd5Server } from '../auth/digest-md5.ts';
import { ShuffleError, failureText } from '../errors.ts';
import { shuffleChannels } from '../observability.ts';
import {
  AUTH_MESSAGE_TAG,
  SASL_MESSAGE_TAG,
  decodeSaslMessage,
} from '../protocol/block-transfer.ts';
import { createFrameDecoder } from '../protocol/frame-decoder.ts';
import { encodeMessage, type TransportMessage } from '../protocol/messages.ts';
import type { BufferPool } from './buffer-pool.ts';
import { prepareChunkReply, type ChunkRequest, type PreparedReply } from './chunk-reply.ts';
import type { SharedFile } from '../resolver/file-cache.ts';
import type { FileSegment } from '../resolver/index-file.ts';
import { handleRpc, unsupported, type RpcDependencies } from './rpc-handler.ts';

export interface ConnectionOptions {
  readonly maxFrameBytes: number;
  /** A connection with nothing to do for this long is closed, as Spark's service does. */
  readonly idleTimeoutMs: number;
  /** Requests waiting on one connection before its socket is paused. */
  readonly maxQueuedRequests: number;
  /** The shared secret when clients must authenticate (spark.authenticate), else undefined. */
  readonly authSecret: string | undefined;
  /** spark.network.crypto.authEngineVersion the executors use (1, Spark's default, or 2). */
  readonly authEngineVersion: AuthEngineVersion;
  /** Read buffers shared by all connections. */
  readonly pool: BufferPool;
}

export interface ConnectionHandle {
  readonly id: number;
  /** Reply bytes handed to the socket and not yet sent: bounded by one read buffer per connection. */
  readonly pendingWriteBytes: number;
  /** Stops reading; resolves once the replies in progress have been written and the socket closed. */
  drain(): Promise<void>;
  destroy(): void;
  readonly closed: Promise<void>;
}

/** Chunk/stream requests prepared ahead of the one being written. */
const PREPARE_AHEAD = 16;

interface Queued {
  readonly message: TransportMessage;
  prepared?: Promise<PreparedReply>;
}

/** Resolves on the first of these events and stops listening; an 'error' does not reject it. */
function when(socket: Socket, ...events: ('drain' | 'close')[]): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) socket.off(event, done);
      resolve();
    };
    for (const event of events) socket.once(event, done);
  });
}

function chunkRequest(message: TransportMessage): ChunkRequest | undefined {
  if (message.type === 'ChunkFetchRequest')
    return { kind: 'chunk', streamId: message.streamId, chunkIndex: message.chunkIndex };
  if (message.type === 'StreamRequest') return { kind: 'stream', name: message.streamId };
  return undefined;
}

export function serveConnection(
  socket: Socket,
  id: number,
  deps: RpcDependencies,
  options: ConnectionOptions,
): ConnectionHandle {
  const remote = `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? '?')}`;
  const queue: Queued[] = [];
  let working = false;
  let draining = false;
  let clientAppId: string | undefined;
  let sasl: DigestMd5Server | undefined;
  let saslAppId: string | undefined;
  const authenticated = (): boolean =>
    options.authSecret === undefined || clientAppId !== undefined;

  socket.setNoDelay(true);
  shuffleChannels.connectionOpened.publish({ connectionId: id, remote });
  const closed = when(socket, 'close').then(() => {
    deps.streams.closeConnection(id);
    // Replies prepared but never written give back their budget and files.
    for (const entry of queue.splice(0))
      void entry.prepared?.then((reply) => {
        reply.release();
      });
    shuffleChannels.connectionClosed.publish({ connectionId: id, remote });
  });

  const drop = (reason: string): void => {
    if (socket.destroyed) return;
    shuffleChannels.connectionDropped.publish({ connectionId: id, remote, reason });
    socket.destroy();
  };

  const failed = (kind: string, request: string, error: unknown): void => {
    shuffleChannels.requestFailed.publish({
      kind: error instanceof ShuffleError ? error.code : kind,
      connectionId: id,
      remote,
      request,
      message: error instanceof Error ? error.message : String(error),
    });
  };

  const decoder = createFrameDecoder(
    {
      message(message) {
        queue.push({ message });
        if (queue.length >= options.maxQueuedRequests) socket.pause();
        void pump();
      },
      // Upload bodies are never accepted here: the connection is closed after the failure reply.
      rawBody: () => undefined,
      rawBodyEnd: () => undefined,
    },
    { maxFrameBytes: options.maxFrameBytes },
  );

  /** The AES-CTR transport of spark.network.crypto, once that handshake has completed. */
  let cipher: { encrypt(data: Buffer): Buffer; decrypt(data: Buffer): Buffer } | undefined;

  /** Every byte to the client goes through here; `done` runs once `data` may be reused. */
  const send = (data: Buffer, done?: () => void): boolean => {
    if (cipher === undefined) return socket.write(data, done);
    const sealed = cipher.encrypt(data);
    done?.();
    return socket.write(sealed);
  };

  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(cipher === undefined ? chunk : cipher.decrypt(chunk));
    } catch (error) {
      drop(error instanceof Error ? error.message : String(error));
    }
  });
  socket.on('error', () => undefined);
  socket.setTimeout(options.idleTimeoutMs, () => {
    // Nothing read or written for the whole period: either nothing to do, or a peer that stopped
    // reading its replies. Spark's idle handler closes both.
    if (!working && queue.length === 0) drop(`idle for ${options.idleTimeoutMs} ms`);
    else if (socket.writableNeedDrain)
      drop(`the peer read nothing for ${options.idleTimeoutMs} ms`);
  });

  /** Writes and waits until the socket buffer drained, so replies never pile up in memory. */
  const write = async (data: Buffer): Promise<void> => {
    if (socket.destroyed) return;
    if (!send(data)) await when(socket, 'drain', 'close');
  };

  const isOpen = (): boolean => !socket.destroyed;

  /** Resolves once the socket buffer is below its mark again (or the socket is gone). */
  const drained = async (): Promise<void> => {
    if (socket.destroyed || !socket.writableNeedDrain) return;
    await when(socket, 'drain', 'close');
  };

  /** Writes a reply; pooled buffers go back to the pool once the socket has taken them. */
  const writeReply = async (reply: PreparedReply): Promise<void> => {
    if (reply.failure !== undefined) failed('fetch', reply.failure.request, reply.failure.error);
    if (socket.destroyed) {
      reply.release();
      return;
    }
    if (reply.body !== undefined) {
      socket.cork();
      send(reply.head);
      send(reply.body, () => {
        reply.release();
      });
      socket.uncork();
    } else {
      send(reply.head);
      if (reply.file === undefined) reply.release();
      else {
        try {
          await streamFile(reply.file.shared, reply.file.segment);
        } finally {
          reply.release();
        }
      }
    }
    // Streaming awaited: the socket may have closed meanwhile.
    if (reply.served !== undefined && isOpen()) shuffleChannels.chunkServed.publish(reply.served);
    await drained();
  };

  /** Sends a segment larger than one buffer, piece by piece through the pool. */
  const streamFile = async (file: SharedFile, segment: FileSegment): Promise<void> => {
    let sent = 0;
    const inFlight: Promise<void>[] = [];
    while (sent < segment.length && !socket.destroyed) {
      const piece = await options.pool.acquire();
      let bytesRead: number;
      try {
        // On the event loop, like the small reads (see chunk-reply.ts).
        bytesRead = readSync(
          file.handle.fd,
          piece,
          0,
          Math.min(piece.length, segment.length - sent),
          segment.offset + sent,
        );
      } catch (error) {
        options.pool.release(piece);
        throw error;
      }
      if (bytesRead === 0) {
        options.pool.release(piece);
        // The header promised `length` bytes; a file cut short underneath can't be answered in frame.
        drop(`${segment.path} ended ${segment.length - sent} bytes early while it was sent`);
        return;
      }
      sent += bytesRead;
      inFlight.push(
        new Promise<void>((resolve) => {
          send(piece.subarray(0, bytesRead), () => {
            options.pool.release(piece);
            resolve();
          });
        }),
      );
      // At most two pieces per connection: one being taken by the socket while the next is read.
      // A connection then never holds more of the shared pool, so many connections share it evenly.
      while (inFlight.length >= 2) await inFlight.shift();
    }
    await Promise.all(inFlight);
  };

  let pendingCipher: { encrypt(data: Buffer): Buffer; decrypt(data: Buffer): Buffer } | undefined;
  let cryptoFailed = false;

  const handleAuth = (body: Buffer): Buffer => {
    if (body[0] === AUTH_MESSAGE_TAG && sasl === undefined) {
      // spark.network.crypto: the X25519 handshake, then AES-CTR on every later byte. The reply
      // goes out in clear; the cipher starts after it (see the RpcRequest case).
      let answer: ReturnType<typeof answerClientChallenge>;
      try {
        answer = answerClientChallenge(body, () => options.authSecret, {
          version: options.authEngineVersion,
        });
      } catch (error) {
        cryptoFailed = true;
        throw error;
      }
      pendingCipher = createCtrTransport(answer.keys, 'server');
      clientAppId = answer.appId;
      shuffleChannels.authenticated.publish({
        connectionId: id,
        remote,
        appId: answer.appId,
        method: 'auth-engine',
      });
      return answer.reply;
    }
    if (body[0] !== SASL_MESSAGE_TAG) {
      throw new ShuffleError(
        'ESS_AUTH',
        'Expected SaslMessage, received something else (maybe your client does not have SASL enabled?)',
      );
    }
    const step = decodeSaslMessage(body);
    if (sasl === undefined) {
      if (step.payload.length > 0)
        throw new ShuffleError('ESS_AUTH', 'DIGEST-MD5 must not have an initial response');
      sasl = createDigestMd5Server({ secret: options.authSecret ?? '' });
      saslAppId = step.appId;
      return sasl.challenge();
    }
    if (step.appId !== saslAppId) {
      throw new ShuffleError(
        'ESS_AUTH',
        `SASL steps for two applications (${String(saslAppId)}, ${step.appId}) on one connection`,
      );
    }
    const reply = sasl.respond(step.payload);
    clientAppId = step.appId;
    shuffleChannels.authenticated.publish({
      connectionId: id,
      remote,
      appId: step.appId,
      method: 'sasl',
    });
    return reply;
  };

  const respondFailure = async (
    requestId: bigint,
    request: string,
    error: unknown,
  ): Promise<void> => {
    failed('rpc', request, error);
    await write(encodeMessage({ type: 'RpcFailure', requestId, error: failureText(error) }));
  };

  /** Everything but chunk and stream requests, in turn. */
  const handle = async (message: TransportMessage): Promise<void> => {
    switch (message.type) {
      case 'RpcRequest':
        try {
          const reply = authenticated()
            ? await handleRpc(message.body, { connectionId: id, clientAppId }, deps)
            : handleAuth(message.body);
          await write(
            encodeMessage({ type: 'RpcResponse', requestId: message.requestId, body: reply }),
          );
          if (pendingCipher !== undefined) {
            cipher = pendingCipher;
            pendingCipher = undefined;
          }
        } catch (error) {
          await respondFailure(message.requestId, `RPC ${message.requestId}`, error);
          // A failed SASL or crypto handshake cannot be resumed on this connection; Spark closes too.
          if (!authenticated() && (sasl !== undefined || cryptoFailed))
            drop('authentication failed');
        }
        return;
      case 'OneWayMessage':
        if (!authenticated()) {
          drop('OneWayMessage before authentication');
          return;
        }
        try {
          await handleRpc(message.body, { connectionId: id, clientAppId }, deps);
        } catch (error) {
          failed('one-way', 'OneWayMessage', error);
        }
        return;
      case 'UploadStream':
        await respondFailure(
          message.requestId,
          'UploadStream',
          authenticated()
            ? unsupported('PushBlockStream')
            : new ShuffleError('ESS_AUTH', 'Unauthenticated call: UploadStream'),
        );
        // Its body follows the frame and cannot be skipped safely: Spark closes here too.
        drop('UploadStream is not accepted');
        return;
      case 'MergedBlockMetaRequest':
        await respondFailure(
          message.requestId,
          'MergedBlockMetaRequest',
          unsupported('MergedBlockMetaRequest'),
        );
        return;
      default:
        // A response sent to the server: nothing asked for it.
        failed(
          'unexpected',
          message.type,
          new ShuffleError(
            'ESS_BAD_MESSAGE',
            `ignored ${message.type}: the shuffle service sends no requests`,
          ),
        );
        return;
    }
  };

  /** Starts preparing the chunk requests at the head of the queue, up to the first RPC. */
  const prepareAhead = (): void => {
    let ahead = 0;
    for (const entry of queue) {
      if (ahead >= PREPARE_AHEAD) return;
      const request = chunkRequest(entry.message);
      if (request === undefined) return;
      entry.prepared ??= prepareChunkReply(request, {
        deps,
        connectionId: id,
        clientAppId,
        pool: options.pool,
      });
      ahead++;
    }
  };

  const pump = async (): Promise<void> => {
    if (working) return;
    working = true;
    try {
      while (queue.length > 0 && !socket.destroyed) {
        if (!draining && socket.isPaused() && queue.length < options.maxQueuedRequests / 2)
          socket.resume();
        const head = queue[0];
        if (head === undefined) break;
        const request = chunkRequest(head.message);
        try {
          if (request !== undefined && !authenticated()) {
            drop(`${head.message.type} before authentication`);
          } else if (request !== undefined) {
            prepareAhead();
            const prepared =
              head.prepared ?? Promise.reject(new Error('chunk reply was not prepared'));
            await writeReply(await prepared);
          } else {
            await handle(head.message);
          }
        } catch (error) {
          drop(`internal error: ${error instanceof Error ? error.message : String(error)}`);
        }
        queue.shift();
      }
    } finally {
      working = false;
    }
    if (draining && queue.length === 0) socket.end();
  };

  return {
    id,
    closed,
    get pendingWriteBytes() {
      return socket.writableLength;
    },
    drain() {
      draining = true;
      socket.pause();
      if (!working && queue.length === 0) socket.end();
      return closed;
    },
    destroy() {
      socket.destroy();
    },
  };
}
