// A shuffle-service client with Spark's semantics: block ids grouped into FetchShuffleBlocks as
// Spark's OneForOneBlockFetcher groups them, chunk or stream mode, SASL authentication, and
// RetryingBlockFetcher's retry rule (only connection failures are retried, for the blocks still
// outstanding, on a new connection).
import { setTimeout as delay } from 'node:timers/promises';
import { createDigestMd5Client } from '../auth/digest-md5.ts';
import { ShuffleError } from '../errors.ts';
import {
  decodeBlockTransfer,
  encodeBlockTransfer,
  encodeSaslMessage,
  type BlockTransferMessage,
  type ExecutorShuffleInfo,
} from '../protocol/block-transfer.ts';
import { ConnectionError, connectTransport, type TransportClient } from './transport-client.ts';

export interface ShuffleClientOptions {
  readonly host: string;
  readonly port: number;
  /** spark.authenticate: the app id and shared secret used for SASL. */
  readonly auth?: { readonly appId: string; readonly secret: string };
  /** spark.shuffle.io.maxRetries (3) and spark.shuffle.io.retryWait (5 s). */
  readonly maxRetries?: number;
  readonly retryWaitMs?: number;
  readonly connectTimeoutMs?: number;
}

export type FetchMode = 'chunk' | 'stream';

export interface ShuffleClient {
  registerExecutor(appId: string, execId: string, info: ExecutorShuffleInfo): Promise<void>;
  /** Fetches the blocks of one executor; resolves with each block's bytes by id. */
  fetchBlocks(
    appId: string,
    execId: string,
    blockIds: readonly string[],
    mode?: FetchMode,
  ): Promise<Map<string, Buffer>>;
  removeBlocks(appId: string, execId: string, blockIds: readonly string[]): Promise<number>;
  getLocalDirs(
    appId: string,
    execIds: readonly string[],
  ): Promise<ReadonlyMap<string, readonly string[]>>;
  diagnoseCorruption(
    appId: string,
    execId: string,
    shuffleId: number,
    mapId: bigint,
    reduceId: number,
    checksum: bigint,
    algorithm: string,
  ): Promise<number>;
  /** Sends a raw RPC body and returns the raw reply (for probes and tests). */
  rpc(body: Buffer): Promise<Buffer>;
  close(): void;
}

/** The request Spark builds for these block ids, and the order its chunks come back in. */
export function buildFetchRequest(
  appId: string,
  execId: string,
  blockIds: readonly string[],
): { message: BlockTransferMessage; chunkOrder: string[] } {
  if (blockIds.length === 0) throw new ShuffleError('ESS_CLIENT', 'Zero-sized blockIds array');
  if (!blockIds.every((id) => id.startsWith('shuffle_'))) {
    return { message: { type: 'OpenBlocks', appId, execId, blockIds }, chunkOrder: [...blockIds] };
  }
  const parts = blockIds.map((id) => id.split('_'));
  const batch = parts[0]?.length === 5;
  const shuffleId = Number(parts[0]?.[1]);
  // mapId → reduceIds (or [start, end]) and the block ids, in first-seen order.
  const groups = new Map<string, { reduceIds: number[]; ids: string[] }>();
  parts.forEach((fields, index) => {
    const id = blockIds[index] ?? '';
    if (fields.length !== (batch ? 5 : 4))
      throw new ShuffleError('ESS_CLIENT', `Unexpected shuffle block id format: ${id}`);
    if (Number(fields[1]) !== shuffleId)
      throw new ShuffleError('ESS_CLIENT', `Expected shuffleId=${shuffleId}, got:${id}`);
    const mapId = fields[2] ?? '';
    let group = groups.get(mapId);
    if (group === undefined) {
      group = { reduceIds: [], ids: [] };
      groups.set(mapId, group);
    }
    if (batch) group.reduceIds.push(Number(fields[3]), Number(fields[4]));
    else group.reduceIds.push(Number(fields[3]));
    group.ids.push(id);
  });
  const mapIds = [...groups.keys()].map((mapId) => BigInt(mapId));
  return {
    message: {
      type: 'FetchShuffleBlocks',
      appId,
      execId,
      shuffleId,
      mapIds,
      reduceIds: [...groups.values()].map((group) => group.reduceIds),
      batchFetchEnabled: batch,
    },
    chunkOrder: [...groups.values()].flatMap((group) => group.ids),
  };
}

export function createShuffleClient(options: ShuffleClientOptions): ShuffleClient {
  let connection: TransportClient | undefined;
  const maxRetries = options.maxRetries ?? 3;
  const retryWaitMs = options.retryWaitMs ?? 5000;

  const client = async (): Promise<TransportClient> => {
    if (connection?.isOpen === true) return connection;
    const fresh = await connectTransport({
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    });
    if (options.auth !== undefined) await authenticate(fresh, options.auth);
    connection = fresh;
    return fresh;
  };

  const rpc = async (body: Buffer): Promise<Buffer> => (await client()).sendRpc(body);

  const fetchOnce = async (
    appId: string,
    execId: string,
    blockIds: readonly string[],
    mode: FetchMode,
    results: Map<string, Buffer>,
  ): Promise<void> => {
    const { message, chunkOrder } = buildFetchRequest(appId, execId, blockIds);
    const transport = await client();
    const reply = decodeBlockTransfer(await transport.sendRpc(encodeBlockTransfer(message)));
    if (reply.type !== 'StreamHandle')
      throw new ShuffleError('ESS_CLIENT', `expected StreamHandle, got ${reply.type}`);
    if (reply.numChunks !== chunkOrder.length) {
      throw new ShuffleError(
        'ESS_CLIENT',
        `server opened ${reply.numChunks} chunks for ${chunkOrder.length} blocks`,
      );
    }
    // All requests are sent at once, as Spark does; replies are matched as they come.
    const fetches = chunkOrder.map((blockId, index) =>
      (mode === 'chunk'
        ? transport.fetchChunk(reply.streamId, index)
        : transport.stream(`${reply.streamId}_${index}`)
      ).then((data) => {
        results.set(blockId, data);
      }),
    );
    const settled = await Promise.allSettled(fetches);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
  };

  return {
    async registerExecutor(appId, execId, info) {
      await rpc(encodeBlockTransfer({ type: 'RegisterExecutor', appId, execId, info }));
    },
    async fetchBlocks(appId, execId, blockIds, mode = 'chunk') {
      const results = new Map<string, Buffer>();
      for (let attempt = 0; ; attempt++) {
        const outstanding = blockIds.filter((id) => !results.has(id));
        try {
          await fetchOnce(appId, execId, outstanding, mode, results);
          return results;
        } catch (error) {
          // Like RetryingBlockTransferor: only IO failures are retried, for what is still missing.
          if (!(error instanceof ConnectionError) || attempt >= maxRetries) throw error;
          connection?.close();
          connection = undefined;
          await delay(retryWaitMs);
        }
      }
    },
    async removeBlocks(appId, execId, blockIds) {
      const reply = decodeBlockTransfer(
        await rpc(encodeBlockTransfer({ type: 'RemoveBlocks', appId, execId, blockIds })),
      );
      if (reply.type !== 'BlocksRemoved')
        throw new ShuffleError('ESS_CLIENT', `expected BlocksRemoved, got ${reply.type}`);
      return reply.numRemovedBlocks;
    },
    async getLocalDirs(appId, execIds) {
      const reply = decodeBlockTransfer(
        await rpc(encodeBlockTransfer({ type: 'GetLocalDirsForExecutors', appId, execIds })),
      );
      if (reply.type !== 'LocalDirsForExecutors')
        throw new ShuffleError('ESS_CLIENT', `expected LocalDirsForExecutors, got ${reply.type}`);
      return reply.localDirsByExec;
    },
    async diagnoseCorruption(appId, execId, shuffleId, mapId, reduceId, checksum, algorithm) {
      const reply = decodeBlockTransfer(
        await rpc(
          encodeBlockTransfer({
            type: 'DiagnoseCorruption',
            appId,
            execId,
            shuffleId,
            mapId,
            reduceId,
            checksum,
            algorithm,
          }),
        ),
      );
      if (reply.type !== 'CorruptionCause')
        throw new ShuffleError('ESS_CLIENT', `expected CorruptionCause, got ${reply.type}`);
      return reply.cause;
    },
    rpc,
    close() {
      connection?.close();
      connection = undefined;
    },
  };
}

/** SASL DIGEST-MD5 as Spark's SaslClientBootstrap runs it: two RPCs before anything else. */
async function authenticate(
  transport: TransportClient,
  auth: { readonly appId: string; readonly secret: string },
): Promise<void> {
  const sasl = createDigestMd5Client({ secret: auth.secret });
  try {
    const challenge = await transport.sendRpc(
      encodeSaslMessage({ appId: auth.appId, payload: sasl.start() }),
      30_000,
    );
    const rspauth = await transport.sendRpc(
      encodeSaslMessage({ appId: auth.appId, payload: sasl.evaluate(challenge) }),
      30_000,
    );
    sasl.verify(rspauth);
  } catch (error) {
    transport.close();
    if (error instanceof ConnectionError) throw error;
    throw new ShuffleError(
      'ESS_AUTH',
      `authentication with the shuffle service failed: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}
