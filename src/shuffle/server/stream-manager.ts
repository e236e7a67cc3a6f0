// Streams opened by OpenBlocks / FetchShuffleBlocks: each is a list of chunks the client then
// fetches in order, by ChunkFetchRequest or StreamRequest. Chunks are resolved to files only when
// fetched, as Spark does, so a missing executor or file is a ChunkFetchFailure, not an RpcFailure.
import { ShuffleError } from '../errors.ts';

export type ChunkSource =
  | {
      readonly kind: 'shuffle';
      readonly execId: string;
      readonly shuffleId: number;
      readonly mapId: bigint;
      /** Partitions [startReduceId, endReduceId): one for a single block, more for a batch. */
      readonly startReduceId: number;
      readonly endReduceId: number;
    }
  | {
      readonly kind: 'rdd';
      readonly execId: string;
      readonly rddId: number;
      readonly splitIndex: number;
    };

interface OpenStream {
  readonly appId: string;
  readonly connectionId: number;
  readonly chunks: readonly ChunkSource[];
  next: number;
}

export interface NextChunk {
  readonly appId: string;
  readonly source: ChunkSource;
}

export interface StreamManager {
  open(appId: string, connectionId: number, chunks: readonly ChunkSource[]): bigint;
  /**
   * The chunk a client asks for. Enforces Spark's rules: the stream exists, chunks come in order,
   * and an authenticated client reads only its own application's streams. The stream's position
   * advances even when the chunk then fails to resolve; after its last chunk it is dropped.
   */
  take(
    streamId: bigint,
    chunkIndex: number,
    connectionId: number,
    clientAppId: string | undefined,
  ): NextChunk;
  /** Drops every stream of a connection that closed. */
  closeConnection(connectionId: number): void;
  readonly size: number;
}

export function createStreamManager(): StreamManager {
  const streams = new Map<bigint, OpenStream>();
  // Spark starts its ids at a random int × 1000; ids from two service runs rarely collide.
  let nextId = BigInt(Math.floor(Math.random() * 2 ** 31)) * 1000n;

  return {
    open(appId, connectionId, chunks) {
      const id = nextId++;
      if (chunks.length > 0) streams.set(id, { appId, connectionId, chunks, next: 0 });
      return id;
    },
    take(streamId, chunkIndex, connectionId, clientAppId) {
      const stream = streams.get(streamId);
      if (stream === undefined) {
        throw new ShuffleError(
          'ESS_STREAM',
          `Requested chunk not available since streamId ${streamId} is closed`,
        );
      }
      if (clientAppId !== undefined && clientAppId !== stream.appId) {
        throw new ShuffleError(
          'ESS_NOT_AUTHORIZED',
          `Client ${clientAppId} not authorized to read stream ${streamId} (app ${stream.appId}).`,
        );
      }
      if (stream.connectionId !== connectionId && clientAppId === undefined) {
        // Without authentication a stream stays on the connection that opened it.
        throw new ShuffleError(
          'ESS_STREAM',
          `Requested chunk not available since streamId ${streamId} is closed`,
        );
      }
      if (chunkIndex >= stream.chunks.length) {
        throw new ShuffleError('ESS_STREAM', `Requested chunk index beyond end ${chunkIndex}`);
      }
      if (chunkIndex !== stream.next) {
        throw new ShuffleError(
          'ESS_STREAM',
          `Received out-of-order chunk index ${chunkIndex} (expected ${stream.next})`,
        );
      }
      stream.next++;
      if (stream.next === stream.chunks.length) streams.delete(streamId);
      const source = stream.chunks[chunkIndex];
      if (source === undefined)
        throw new ShuffleError('ESS_STREAM', `Requested chunk index beyond end ${chunkIndex}`);
      return { appId: stream.appId, source };
    },
    closeConnection(connectionId) {
      for (const [id, stream] of streams)
        if (stream.connectionId === connectionId) streams.delete(id);
    },
    get size() {
      return streams.size;
    },
  };
}
