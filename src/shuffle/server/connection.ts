// One client connection of the shuffle service: frames in, replies out, in the order the requests
// came. Requests are handled one at a time per connection; the socket stops being read while too
// many wait, and a reply is not started until the previous one left the socket buffer, so a slow
// reader holds at most one chunk in memory. File bodies are streamed from disk, never buffered.
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { ShuffleError, failureText } from '../errors.ts';
import { shuffleChannels } from '../observability.ts';
import { createFrameDecoder } from '../protocol/frame-decoder.ts';
import {
  SASL_MESSAGE_TAG,
  AUTH_MESSAGE_TAG,
  decodeSaslMessage,
} from '../protocol/block-transfer.ts';
import { encodeFrameHeader, encodeMessage, type TransportMessage } from '../protocol/messages.ts';
import { createDigestMd5Server, type DigestMd5Server } from '../auth/digest-md5.ts';
import type { FileSegment } from '../resolver/index-file.ts';
import { executor, handleRpc, unsupported, type RpcDependencies } from './rpc-handler.ts';
import type { ChunkSource } from './stream-manager.ts';

export interface ConnectionOptions {
  readonly maxFrameBytes: number;
  /** A connection with nothing to do for this long is closed, as Spark's service does. */
  readonly idleTimeoutMs: number;
  /** Requests waiting on one connection before its socket is paused. */
  readonly maxQueuedRequests: number;
  /** The shared secret when clients must authenticate (spark.authenticate), else undefined. */
  readonly authSecret: string | undefined;
}

export interface ConnectionHandle {
  readonly id: number;
  /** Stops reading; resolves once the replies in progress have been written and the socket closed. */
  drain(): Promise<void>;
  destroy(): void;
  readonly closed: Promise<void>;
}

export function serveConnection(
  socket: Socket,
  id: number,
  deps: RpcDependencies,
  options: ConnectionOptions,
): ConnectionHandle {
  const remote = `${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? '?')}`;
  const queue: TransportMessage[] = [];
  let working = false;
  let draining = false;
  let clientAppId: string | undefined;
  let sasl: DigestMd5Server | undefined;
  let saslAppId: string | undefined;
  const authenticated = (): boolean =>
    options.authSecret === undefined || clientAppId !== undefined;

  socket.setNoDelay(true);
  shuffleChannels.connectionOpened.publish({ connectionId: id, remote });
  const closed = once(socket, 'close').then(() => {
    deps.streams.closeConnection(id);
    shuffleChannels.connectionClosed.publish({ connectionId: id, remote });
  });

  const drop = (reason: string): void => {
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
        queue.push(message);
        if (queue.length >= options.maxQueuedRequests) socket.pause();
        void pump();
      },
      // Upload bodies are never accepted here: the connection is closed after the failure reply.
      rawBody: () => undefined,
      rawBodyEnd: () => undefined,
    },
    { maxFrameBytes: options.maxFrameBytes },
  );

  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk);
    } catch (error) {
      drop(error instanceof Error ? error.message : String(error));
    }
  });
  socket.on('error', () => undefined);
  socket.setTimeout(options.idleTimeoutMs, () => {
    if (!working && queue.length === 0) drop(`idle for ${options.idleTimeoutMs} ms`);
  });

  /** Writes and waits until the socket buffer drained, so replies never pile up in memory. */
  const write = async (data: Buffer): Promise<void> => {
    if (socket.destroyed) return;
    if (!socket.write(data)) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
  };

  const writeSegment = async (segment: FileSegment, file: FileHandle): Promise<void> => {
    if (segment.length === 0) {
      await file.close();
      return;
    }
    const stream = file.createReadStream({
      start: segment.offset,
      end: segment.offset + segment.length - 1,
      highWaterMark: 256 * 1024,
      autoClose: true,
    });
    let sent = 0;
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (socket.destroyed) break;
        sent += chunk.length;
        await write(chunk);
      }
    } finally {
      stream.destroy();
    }
    // The header promised `length` bytes; a file cut short underneath can't be answered in frame.
    if (sent !== segment.length && !socket.destroyed)
      drop(`${segment.path} ended ${segment.length - sent} bytes early while it was sent`);
  };

  interface ResolvedChunk {
    readonly segment: FileSegment;
    readonly file: FileHandle;
    readonly blocks: number;
    readonly appId: string;
  }

  /** Locates and opens the chunk's bytes, so any failure is known before a success header goes out. */
  const resolveChunk = async (source: ChunkSource, appId: string): Promise<ResolvedChunk> => {
    const info = executor(deps, appId, source.execId);
    let segment: FileSegment;
    let blocks = 1;
    if (source.kind === 'rdd') {
      const found = await deps.resolver.rddSegment(info, source.rddId, source.splitIndex);
      if (found === undefined) throw new ShuffleError('ESS_FILE_MISSING', 'Chunk was not found');
      segment = found;
    } else {
      segment = await deps.resolver.shuffleSegment(
        info,
        source.shuffleId,
        source.mapId,
        source.startReduceId,
        source.endReduceId,
      );
      blocks = source.endReduceId - source.startReduceId;
    }
    return { segment, blocks, appId, file: await deps.resolver.openSegment(segment) };
  };

  const handleChunkFetch = async (streamId: bigint, chunkIndex: number): Promise<void> => {
    let resolved: ResolvedChunk;
    try {
      const next = deps.streams.take(streamId, chunkIndex, id, clientAppId);
      resolved = await resolveChunk(next.source, next.appId);
    } catch (error) {
      failed('chunk-fetch', `ChunkFetchRequest(${streamId}, ${chunkIndex})`, error);
      await write(
        encodeMessage({
          type: 'ChunkFetchFailure',
          streamId,
          chunkIndex,
          error: failureText(error),
        }),
      );
      return;
    }
    await write(
      encodeFrameHeader(
        { type: 'ChunkFetchSuccess', streamId, chunkIndex, body: Buffer.alloc(0) },
        resolved.segment.length,
      ),
    );
    await writeSegment(resolved.segment, resolved.file);
    shuffleChannels.chunkServed.publish({
      appId: resolved.appId,
      blocks: resolved.blocks,
      bytes: resolved.segment.length,
      mode: 'chunk',
    });
  };

  const handleStreamRequest = async (streamName: string): Promise<void> => {
    let resolved: ResolvedChunk;
    try {
      const match = /^(\d{1,19})_(\d{1,10})$/.exec(streamName);
      if (match === null)
        throw new ShuffleError('ESS_STREAM', `Stream '${streamName}' was not found.`);
      const next = deps.streams.take(BigInt(match[1] ?? ''), Number(match[2]), id, clientAppId);
      resolved = await resolveChunk(next.source, next.appId);
    } catch (error) {
      failed('stream', `StreamRequest(${streamName})`, error);
      const text =
        error instanceof ShuffleError && error.message === 'Chunk was not found'
          ? `Stream '${streamName}' was not found.`
          : failureText(error);
      await write(encodeMessage({ type: 'StreamFailure', streamId: streamName, error: text }));
      return;
    }
    await write(
      encodeMessage({
        type: 'StreamResponse',
        streamId: streamName,
        byteCount: BigInt(resolved.segment.length),
      }),
    );
    await writeSegment(resolved.segment, resolved.file);
    shuffleChannels.chunkServed.publish({
      appId: resolved.appId,
      blocks: resolved.blocks,
      bytes: resolved.segment.length,
      mode: 'stream',
    });
  };

  const handleAuth = (body: Buffer): Buffer => {
    const secret = options.authSecret ?? '';
    if (body[0] === AUTH_MESSAGE_TAG) {
      // Spark's client falls back to SASL on the same connection when this fails.
      throw new ShuffleError(
        'ESS_AUTH',
        'sparkplane shuffle authenticates with SASL (DIGEST-MD5) only; keep spark.network.crypto.saslFallback=true or set spark.network.crypto.enabled=false',
      );
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
      sasl = createDigestMd5Server({ secret });
      saslAppId = step.appId;
      return sasl.challenge();
    }
    if (step.appId !== saslAppId)
      throw new ShuffleError(
        'ESS_AUTH',
        `SASL steps for two applications (${String(saslAppId)}, ${step.appId}) on one connection`,
      );
    const reply = sasl.respond(step.payload);
    clientAppId = step.appId;
    return reply;
  };

  const handle = async (message: TransportMessage): Promise<void> => {
    switch (message.type) {
      case 'RpcRequest': {
        try {
          const reply = authenticated()
            ? await handleRpc(message.body, { connectionId: id, clientAppId }, deps)
            : handleAuth(message.body);
          await write(
            encodeMessage({ type: 'RpcResponse', requestId: message.requestId, body: reply }),
          );
        } catch (error) {
          failed('rpc', `RPC ${message.requestId}`, error);
          await write(
            encodeMessage({
              type: 'RpcFailure',
              requestId: message.requestId,
              error: failureText(error),
            }),
          );
          if (!authenticated() && sasl !== undefined) {
            // A failed SASL exchange cannot be resumed on this connection.
            drop('authentication failed');
          }
        }
        return;
      }
      case 'ChunkFetchRequest':
        if (!authenticated()) {
          drop('ChunkFetchRequest before authentication');
          return;
        }
        return handleChunkFetch(message.streamId, message.chunkIndex);
      case 'StreamRequest':
        if (!authenticated()) {
          drop('StreamRequest before authentication');
          return;
        }
        return handleStreamRequest(message.streamId);
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
      case 'UploadStream': {
        const error = authenticated()
          ? unsupported('PushBlockStream')
          : new ShuffleError('ESS_AUTH', 'Unauthenticated call: UploadStream');
        failed('upload', 'UploadStream', error);
        await write(
          encodeMessage({
            type: 'RpcFailure',
            requestId: message.requestId,
            error: failureText(error),
          }),
        );
        // Its body follows the frame and cannot be skipped safely: Spark closes here too.
        drop('UploadStream is not accepted');
        return;
      }
      case 'MergedBlockMetaRequest': {
        const error = unsupported('MergedBlockMetaRequest');
        failed('rpc', 'MergedBlockMetaRequest', error);
        await write(
          encodeMessage({
            type: 'RpcFailure',
            requestId: message.requestId,
            error: failureText(error),
          }),
        );
        return;
      }
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

  const pump = async (): Promise<void> => {
    if (working) return;
    working = true;
    try {
      for (let message = queue.shift(); message !== undefined; message = queue.shift()) {
        if (socket.destroyed) break;
        if (queue.length < options.maxQueuedRequests / 2 && socket.isPaused() && !draining)
          socket.resume();
        try {
          await handle(message);
        } catch (error) {
          drop(`internal error: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    } finally {
      working = false;
    }
    if (draining && queue.length === 0) socket.end();
  };

  return {
    id,
    closed,
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
