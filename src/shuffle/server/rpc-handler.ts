// What the service answers to each shuffle RPC (the body of an RpcRequest). Pure request →
// reply logic over the registry, the resolver and the stream manager; the connection module
// does the I/O. Failures are ShuffleErrors whose messages follow Spark's wording.
import { ShuffleError } from '../errors.ts';
import { shuffleChannels } from '../observability.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
  type BlockTransferMessage,
  type ExecutorShuffleInfo,
} from '../protocol/block-transfer.ts';
import type { ExecutorRegistry } from '../registry/executor-registry.ts';
import { parseBlockId } from '../resolver/block-id.ts';
import { CORRUPTION_CAUSE_ORDINAL, type BlockResolver } from '../resolver/block-resolver.ts';
import { confineLocalDirs } from '../resolver/path-confinement.ts';
import type { ChunkSource, StreamManager } from './stream-manager.ts';

export interface RpcDependencies {
  readonly registry: ExecutorRegistry;
  readonly resolver: BlockResolver;
  readonly streams: StreamManager;
  readonly allowedRoots: readonly string[];
}

export interface RpcCaller {
  readonly connectionId: number;
  /** The application the connection authenticated as; undefined without authentication. */
  readonly clientAppId: string | undefined;
}

/** Handles one shuffle RPC; resolves with the RpcResponse body. */
export async function handleRpc(
  body: Buffer,
  caller: RpcCaller,
  deps: RpcDependencies,
): Promise<Buffer> {
  const message = decodeBlockTransfer(body);
  if ('appId' in message) authorize(caller, message.appId);
  switch (message.type) {
    case 'RegisterExecutor':
      return registerExecutor(message.appId, message.execId, message.info, deps);
    case 'OpenBlocks':
      return openBlocks(message, caller, deps);
    case 'FetchShuffleBlocks':
      return fetchShuffleBlocks(message, caller, deps);
    case 'RemoveBlocks': {
      const info = executor(deps, message.appId, message.execId);
      const removed = await deps.resolver.removeBlocks(info, message.blockIds);
      return encodeBlockTransfer({ type: 'BlocksRemoved', numRemovedBlocks: removed });
    }
    case 'GetLocalDirsForExecutors': {
      const localDirsByExec = new Map<string, readonly string[]>();
      for (const execId of message.execIds)
        localDirsByExec.set(execId, executor(deps, message.appId, execId).localDirs);
      return encodeBlockTransfer({ type: 'LocalDirsForExecutors', localDirsByExec });
    }
    case 'DiagnoseCorruption': {
      const info = executor(deps, message.appId, message.execId);
      const cause = await deps.resolver.diagnoseCorruption(
        info,
        message.shuffleId,
        message.mapId,
        message.reduceId,
        message.checksum,
        message.algorithm,
      );
      return encodeBlockTransfer({
        type: 'CorruptionCause',
        cause: CORRUPTION_CAUSE_ORDINAL[cause],
      });
    }
    case 'Unsupported':
      throw unsupported(message.name);
    default:
      throw new ShuffleError('ESS_BAD_MESSAGE', `Unexpected message: ${message.type}`);
  }
}

export function unsupported(name: string): ShuffleError {
  if (name === 'RemoveShuffleMerge')
    return new ShuffleError('ESS_UNSUPPORTED', 'Cannot handle merged shuffle remove');
  if (
    [
      'PushBlockStream',
      'FinalizeShuffleMerge',
      'FetchShuffleBlockChunks',
      'MergedBlockMetaRequest',
    ].includes(name)
  ) {
    return new ShuffleError('ESS_UNSUPPORTED', 'Cannot handle shuffle block merge');
  }
  return new ShuffleError('ESS_BAD_MESSAGE', `Unexpected message: ${name}`);
}

function authorize(caller: RpcCaller, appId: string): void {
  if (caller.clientAppId !== undefined && caller.clientAppId !== appId) {
    throw new ShuffleError(
      'ESS_NOT_AUTHORIZED',
      `Client for ${caller.clientAppId} not authorized for application ${appId}.`,
    );
  }
}

export function executor(
  deps: RpcDependencies,
  appId: string,
  execId: string,
): ExecutorShuffleInfo {
  const info = deps.registry.get(appId, execId);
  if (info === undefined) {
    throw new ShuffleError(
      'ESS_UNKNOWN_EXECUTOR',
      `Executor is not registered (appId=${appId}, execId=${execId})`,
    );
  }
  return info;
}

async function registerExecutor(
  appId: string,
  execId: string,
  info: ExecutorShuffleInfo,
  deps: RpcDependencies,
): Promise<Buffer> {
  const started = performance.now();
  if (info.subDirsPerLocalDir < 1) {
    throw new ShuffleError(
      'ESS_BAD_MESSAGE',
      `subDirsPerLocalDir must be at least 1, got ${info.subDirsPerLocalDir}`,
    );
  }
  if (info.localDirs.length === 0)
    throw new ShuffleError('ESS_BAD_MESSAGE', 'an executor must register at least one local dir');
  // Refused unless every dir resolves under an allowed root; the dirs are kept as the executor
  // sent them, because executors reading host-local files use exactly those strings.
  await confineLocalDirs(info.localDirs, deps.allowedRoots);
  deps.registry.register(appId, execId, info);
  shuffleChannels.executorRegistered.publish({
    appId,
    execId,
    localDirs: info.localDirs,
    durationMs: performance.now() - started,
  });
  return Buffer.alloc(0);
}

function openBlocks(
  message: Extract<BlockTransferMessage, { type: 'OpenBlocks' }>,
  caller: RpcCaller,
  deps: RpcDependencies,
): Buffer {
  const started = performance.now();
  const { appId, execId, blockIds } = message;
  // As in Spark, the first id decides the kind and every other id must be of that kind.
  const first = blockIds[0];
  if (first === undefined)
    throw new ShuffleError('ESS_BAD_BLOCK_ID', 'OpenBlocks with no block ids');
  const kind = parseBlockId(first).kind;
  const chunks: ChunkSource[] = blockIds.map((text) => {
    const id = parseBlockId(text);
    if (kind === 'rdd') {
      if (id.kind !== 'rdd')
        throw new ShuffleError('ESS_BAD_BLOCK_ID', `Unexpected RDD block id format: ${text}`);
      return { kind: 'rdd', execId, rddId: id.rddId, splitIndex: id.splitIndex };
    }
    if (kind !== 'shuffle' || id.kind !== 'shuffle') {
      throw new ShuffleError(
        'ESS_BAD_BLOCK_ID',
        kind === 'shuffle'
          ? `Unexpected shuffle block id format: ${text}`
          : `Unexpected block id format: ${first}`,
      );
    }
    const shuffleId = (parseBlockId(first) as { shuffleId: number }).shuffleId;
    if (id.shuffleId !== shuffleId)
      throw new ShuffleError('ESS_BAD_BLOCK_ID', `Expected shuffleId=${shuffleId}, got:${text}`);
    return {
      kind: 'shuffle',
      execId,
      shuffleId: id.shuffleId,
      mapId: id.mapId,
      startReduceId: id.reduceId,
      endReduceId: id.reduceId + 1,
    };
  });
  return openStream(appId, execId, chunks, caller, started, deps);
}

function fetchShuffleBlocks(
  message: Extract<BlockTransferMessage, { type: 'FetchShuffleBlocks' }>,
  caller: RpcCaller,
  deps: RpcDependencies,
): Buffer {
  const started = performance.now();
  const { appId, execId, shuffleId, mapIds, reduceIds, batchFetchEnabled } = message;
  if (mapIds.length !== reduceIds.length) {
    throw new ShuffleError(
      'ESS_BAD_MESSAGE',
      `FetchShuffleBlocks has ${mapIds.length} mapIds but ${reduceIds.length} reduceId lists`,
    );
  }
  const chunks: ChunkSource[] = [];
  mapIds.forEach((mapId, index) => {
    const reduces = reduceIds[index] ?? [];
    if (batchFetchEnabled) {
      const [start, end] = reduces;
      if (
        reduces.length !== 2 ||
        start === undefined ||
        end === undefined ||
        start < 0 ||
        end <= start
      ) {
        throw new ShuffleError(
          'ESS_BAD_BLOCK_ID',
          `a batch fetch needs [startReduceId, endReduceId) with end > start, got [${reduces.join(', ')}]`,
        );
      }
      chunks.push({
        kind: 'shuffle',
        execId,
        shuffleId,
        mapId,
        startReduceId: start,
        endReduceId: end,
      });
      return;
    }
    for (const reduceId of reduces) {
      if (reduceId < 0)
        throw new ShuffleError(
          'ESS_BAD_BLOCK_ID',
          `negative reduceId ${reduceId} in FetchShuffleBlocks`,
        );
      chunks.push({
        kind: 'shuffle',
        execId,
        shuffleId,
        mapId,
        startReduceId: reduceId,
        endReduceId: reduceId + 1,
      });
    }
  });
  if (shuffleId < 0)
    throw new ShuffleError(
      'ESS_BAD_BLOCK_ID',
      `negative shuffleId ${shuffleId} in FetchShuffleBlocks`,
    );
  return openStream(appId, execId, chunks, caller, started, deps);
}

function openStream(
  appId: string,
  execId: string,
  chunks: readonly ChunkSource[],
  caller: RpcCaller,
  started: number,
  deps: RpcDependencies,
): Buffer {
  const streamId = deps.streams.open(appId, caller.connectionId, chunks);
  shuffleChannels.blocksOpened.publish({
    appId,
    execId,
    streamId,
    chunks: chunks.length,
    durationMs: performance.now() - started,
  });
  return encodeBlockTransfer({ type: 'StreamHandle', streamId, numChunks: chunks.length });
}
