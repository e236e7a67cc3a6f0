// Replies to ChunkFetchRequest and StreamRequest, prepared ahead of their turn: the chunk is
// located and opened (and, when it fits one pooled buffer, read) while earlier replies are still
// being written, so a connection's requests overlap their disk work but leave in order. A chunk
// that is larger, or finds the pool short, is streamed from disk through pooled buffers in turn.
import { readSync } from 'node:fs';
import { ShuffleError, failureText } from '../errors.ts';
import { encodeFrameHeader, encodeMessage } from '../protocol/messages.ts';
import type { SharedFile } from '../resolver/file-cache.ts';
import type { FileSegment } from '../resolver/index-file.ts';
import type { BufferPool } from './buffer-pool.ts';
import { executor, type RpcDependencies } from './rpc-handler.ts';
import type { ChunkSource } from './stream-manager.ts';

export type ChunkRequest =
  | { readonly kind: 'chunk'; readonly streamId: bigint; readonly chunkIndex: number }
  | { readonly kind: 'stream'; readonly name: string };

/** A reply ready to write: its frame header, then its body from memory or from the file. */
export interface PreparedReply {
  readonly head: Buffer;
  /** The chunk read ahead, in a pooled buffer that `release` gives back. */
  readonly body?: Buffer;
  readonly file?: { readonly shared: SharedFile; readonly segment: FileSegment };
  /** What was served, for metrics; absent for failures. */
  readonly served?: {
    readonly appId: string;
    readonly blocks: number;
    readonly bytes: number;
    readonly mode: 'chunk' | 'stream';
  };
  readonly failure?: { readonly request: string; readonly error: unknown };
  /** Returns the read-ahead bytes and the shared file once written (or abandoned). */
  release(): void;
}

export interface ChunkContext {
  readonly deps: RpcDependencies;
  readonly connectionId: number;
  readonly clientAppId: string | undefined;
  readonly pool: BufferPool;
}

const nothing = (): void => undefined;

async function locate(
  source: ChunkSource,
  appId: string,
  deps: RpcDependencies,
): Promise<{ segment: FileSegment; blocks: number }> {
  const info = executor(deps, appId, source.execId);
  if (source.kind === 'rdd') {
    const found = await deps.resolver.rddSegment(info, source.rddId, source.splitIndex);
    if (found === undefined) throw new ShuffleError('ESS_FILE_MISSING', 'Chunk was not found');
    return { segment: found, blocks: 1 };
  }
  const segment = await deps.resolver.shuffleSegment(
    info,
    source.shuffleId,
    source.mapId,
    source.startReduceId,
    source.endReduceId,
  );
  return { segment, blocks: source.endReduceId - source.startReduceId };
}

/**
 * Reads the chunk with positioned reads on the event loop, as Spark's Netty threads send file
 * regions on theirs: shuffle files are mostly in the page cache, and for a small block the trip
 * through libuv's thread pool costs more than the read itself.
 */
function readExactly(file: SharedFile, segment: FileSegment, body: Buffer): Buffer {
  let filled = 0;
  while (filled < body.length) {
    const bytesRead = readSync(
      file.handle.fd,
      body,
      filled,
      body.length - filled,
      segment.offset + filled,
    );
    if (bytesRead === 0)
      throw new ShuffleError(
        'ESS_FILE_TRUNCATED',
        `${segment.path} ended ${body.length - filled} bytes early while it was read`,
      );
    filled += bytesRead;
  }
  return body;
}

/**
 * Prepares the reply. The stream position is taken at once (synchronously), so replies prepared
 * out of turn still consume chunks in request order.
 */
export function prepareChunkReply(
  request: ChunkRequest,
  context: ChunkContext,
): Promise<PreparedReply> {
  const { deps, connectionId, clientAppId } = context;
  const label =
    request.kind === 'chunk'
      ? `ChunkFetchRequest(${request.streamId}, ${request.chunkIndex})`
      : `StreamRequest(${request.name})`;
  const failureReply = (error: unknown): PreparedReply => {
    let head: Buffer;
    if (request.kind === 'chunk') {
      head = encodeMessage({
        type: 'ChunkFetchFailure',
        streamId: request.streamId,
        chunkIndex: request.chunkIndex,
        error: failureText(error),
      });
    } else {
      const notFound = error instanceof ShuffleError && error.message === 'Chunk was not found';
      head = encodeMessage({
        type: 'StreamFailure',
        streamId: request.name,
        error: notFound ? `Stream '${request.name}' was not found.` : failureText(error),
      });
    }
    return { head, failure: { request: label, error }, release: nothing };
  };

  let taken: { appId: string; source: ChunkSource };
  try {
    if (request.kind === 'chunk') {
      taken = deps.streams.take(request.streamId, request.chunkIndex, connectionId, clientAppId);
    } else {
      const match = /^(\d{1,19})_(\d{1,10})$/.exec(request.name);
      if (match === null)
        throw new ShuffleError('ESS_STREAM', `Stream '${request.name}' was not found.`);
      taken = deps.streams.take(
        BigInt(match[1] ?? ''),
        Number(match[2]),
        connectionId,
        clientAppId,
      );
    }
  } catch (error) {
    return Promise.resolve(failureReply(error));
  }

  return (async (): Promise<PreparedReply> => {
    let shared: SharedFile | undefined;
    try {
      const { segment, blocks } = await locate(taken.source, taken.appId, deps);
      shared = await deps.resolver.openSegment(segment);
      const head =
        request.kind === 'chunk'
          ? encodeFrameHeader(
              {
                type: 'ChunkFetchSuccess',
                streamId: request.streamId,
                chunkIndex: request.chunkIndex,
                body: Buffer.alloc(0),
              },
              segment.length,
            )
          : encodeMessage({
              type: 'StreamResponse',
              streamId: request.name,
              byteCount: BigInt(segment.length),
            });
      const served = {
        appId: taken.appId,
        blocks,
        bytes: segment.length,
        mode: request.kind,
      } as const;
      // Read ahead only what fits one piece, and leave a quarter of the pool to replies in turn.
      const piece =
        segment.length <= context.pool.pieceBytes
          ? context.pool.tryAcquire(context.pool.capacity / 4)
          : undefined;
      if (piece === undefined) {
        const file = shared;
        shared = undefined;
        return {
          head,
          file: { shared: file, segment },
          served,
          release: () => {
            file.release();
          },
        };
      }
      let body: Buffer;
      try {
        body = readExactly(shared, segment, piece.subarray(0, segment.length));
      } catch (error) {
        context.pool.release(piece);
        throw error;
      } finally {
        shared.release();
        shared = undefined;
      }
      let released = false;
      return {
        head,
        body,
        served,
        release: () => {
          if (released) return;
          released = true;
          context.pool.release(piece);
        },
      };
    } catch (error) {
      shared?.release();
      return failureReply(error);
    }
  })();
}
