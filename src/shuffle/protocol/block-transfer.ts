// The shuffle RPC payloads (network-shuffle `BlockTransferMessage`): `u8 type` then the fields.
// They travel as the body of RpcRequest / RpcResponse / OneWayMessage frames, and as the meta of
// UploadStream. Auth messages share the first byte's space: 0xEA SaslMessage, 0xFB AuthMessage.
import { ShuffleError } from '../errors.ts';
import { Reader, Writer } from './codec.ts';

export const BLOCK_TRANSFER_TYPE = {
  OpenBlocks: 0,
  UploadBlock: 1,
  RegisterExecutor: 2,
  StreamHandle: 3,
  RegisterDriver: 4,
  ShuffleServiceHeartbeat: 5,
  UploadBlockStream: 6,
  RemoveBlocks: 7,
  BlocksRemoved: 8,
  FetchShuffleBlocks: 9,
  GetLocalDirsForExecutors: 10,
  LocalDirsForExecutors: 11,
  PushBlockStream: 12,
  FinalizeShuffleMerge: 13,
  MergeStatuses: 14,
  FetchShuffleBlockChunks: 15,
  DiagnoseCorruption: 16,
  CorruptionCause: 17,
  BlockPushReturnCode: 18,
  RemoveShuffleMerge: 19,
} as const;

export type BlockTransferTypeName = keyof typeof BLOCK_TRANSFER_TYPE;

/** First body byte of a SASL step (SaslMessage tag -22). */
export const SASL_MESSAGE_TAG = 0xea;
/** First body byte of an AuthEngine message (AuthMessage tag -5). */
export const AUTH_MESSAGE_TAG = 0xfb;

export interface ExecutorShuffleInfo {
  readonly localDirs: readonly string[];
  readonly subDirsPerLocalDir: number;
  readonly shuffleManager: string;
}

export type BlockTransferMessage =
  | {
      readonly type: 'OpenBlocks';
      readonly appId: string;
      readonly execId: string;
      readonly blockIds: readonly string[];
    }
  | {
      readonly type: 'RegisterExecutor';
      readonly appId: string;
      readonly execId: string;
      readonly info: ExecutorShuffleInfo;
    }
  | { readonly type: 'StreamHandle'; readonly streamId: bigint; readonly numChunks: number }
  | {
      readonly type: 'RemoveBlocks';
      readonly appId: string;
      readonly execId: string;
      readonly blockIds: readonly string[];
    }
  | { readonly type: 'BlocksRemoved'; readonly numRemovedBlocks: number }
  | {
      readonly type: 'FetchShuffleBlocks';
      readonly appId: string;
      readonly execId: string;
      readonly shuffleId: number;
      readonly mapIds: readonly bigint[];
      /** Per mapId: its reduceIds, or `[start, end)` when batchFetchEnabled. */
      readonly reduceIds: readonly (readonly number[])[];
      readonly batchFetchEnabled: boolean;
    }
  | {
      readonly type: 'GetLocalDirsForExecutors';
      readonly appId: string;
      readonly execIds: readonly string[];
    }
  | {
      readonly type: 'LocalDirsForExecutors';
      readonly localDirsByExec: ReadonlyMap<string, readonly string[]>;
    }
  | {
      readonly type: 'DiagnoseCorruption';
      readonly appId: string;
      readonly execId: string;
      readonly shuffleId: number;
      readonly mapId: bigint;
      readonly reduceId: number;
      readonly checksum: bigint;
      readonly algorithm: string;
    }
  | { readonly type: 'CorruptionCause'; readonly cause: number }
  /** A message this service recognises but does not serve (push-based shuffle, Mesos, uploads). */
  | { readonly type: 'Unsupported'; readonly name: BlockTransferTypeName; readonly appId?: string };

const UNSUPPORTED: ReadonlySet<BlockTransferTypeName> = new Set([
  'UploadBlock',
  'RegisterDriver',
  'ShuffleServiceHeartbeat',
  'UploadBlockStream',
  'PushBlockStream',
  'FinalizeShuffleMerge',
  'MergeStatuses',
  'FetchShuffleBlockChunks',
  'BlockPushReturnCode',
  'RemoveShuffleMerge',
]);

const NAME_BY_CODE = new Map<number, BlockTransferTypeName>(
  Object.entries(BLOCK_TRANSFER_TYPE).map(([name, code]) => [code, name as BlockTransferTypeName]),
);

export function decodeBlockTransfer(body: Buffer): BlockTransferMessage {
  const reader = new Reader(body, 'shuffle message');
  const code = reader.u8('type');
  const name = NAME_BY_CODE.get(code);
  if (name === undefined) {
    // Spark reads the type as a signed byte.
    throw new ShuffleError(
      'ESS_BAD_MESSAGE',
      `Unknown message type: ${code > 127 ? code - 256 : code}`,
    );
  }
  if (UNSUPPORTED.has(name)) {
    // Most of these start with the appId; it is kept for the log line only.
    const appId =
      name === 'BlockPushReturnCode' || name === 'MergeStatuses' || name === 'UploadBlockStream'
        ? undefined
        : safeString(reader);
    return appId === undefined
      ? { type: 'Unsupported', name }
      : { type: 'Unsupported', name, appId };
  }
  const message = decodeKnown(name, reader);
  reader.end();
  return message;
}

function safeString(reader: Reader): string | undefined {
  try {
    return reader.string('appId');
  } catch {
    return undefined;
  }
}

function decodeKnown(name: BlockTransferTypeName, reader: Reader): BlockTransferMessage {
  switch (name) {
    case 'OpenBlocks':
      return {
        type: 'OpenBlocks',
        appId: reader.string('appId'),
        execId: reader.string('execId'),
        blockIds: reader.strings('blockIds'),
      };
    case 'RegisterExecutor':
      return {
        type: 'RegisterExecutor',
        appId: reader.string('appId'),
        execId: reader.string('execId'),
        info: {
          localDirs: reader.strings('localDirs'),
          subDirsPerLocalDir: reader.i32('subDirsPerLocalDir'),
          shuffleManager: reader.string('shuffleManager'),
        },
      };
    case 'StreamHandle':
      return {
        type: 'StreamHandle',
        streamId: reader.i64('streamId'),
        numChunks: reader.i32('numChunks'),
      };
    case 'RemoveBlocks':
      return {
        type: 'RemoveBlocks',
        appId: reader.string('appId'),
        execId: reader.string('execId'),
        blockIds: reader.strings('blockIds'),
      };
    case 'BlocksRemoved':
      return { type: 'BlocksRemoved', numRemovedBlocks: reader.i32('numRemovedBlocks') };
    case 'FetchShuffleBlocks': {
      const appId = reader.string('appId');
      const execId = reader.string('execId');
      const shuffleId = reader.i32('shuffleId');
      const mapIds = reader.longs('mapIds');
      const groups = reader.count('reduceIds', 4);
      const reduceIds = Array.from({ length: groups }, (_, index) =>
        reader.ints(`reduceIds[${index}]`),
      );
      const batchFetchEnabled = reader.bool('batchFetchEnabled');
      return {
        type: 'FetchShuffleBlocks',
        appId,
        execId,
        shuffleId,
        mapIds,
        reduceIds,
        batchFetchEnabled,
      };
    }
    case 'GetLocalDirsForExecutors':
      return {
        type: 'GetLocalDirsForExecutors',
        appId: reader.string('appId'),
        execIds: reader.strings('execIds'),
      };
    case 'LocalDirsForExecutors': {
      const execIds = reader.strings('execIds');
      const counts = reader.ints('numLocalDirsByExec');
      const dirs = reader.strings('allLocalDirs');
      const localDirsByExec = new Map<string, string[]>();
      let next = 0;
      execIds.forEach((execId, index) => {
        const count = counts[index] ?? 0;
        localDirsByExec.set(execId, dirs.slice(next, next + count));
        next += count;
      });
      return { type: 'LocalDirsForExecutors', localDirsByExec };
    }
    case 'DiagnoseCorruption':
      return {
        type: 'DiagnoseCorruption',
        appId: reader.string('appId'),
        execId: reader.string('execId'),
        shuffleId: reader.i32('shuffleId'),
        mapId: reader.i64('mapId'),
        reduceId: reader.i32('reduceId'),
        checksum: reader.i64('checksum'),
        algorithm: reader.string('algorithm'),
      };
    case 'CorruptionCause':
      return { type: 'CorruptionCause', cause: reader.u8('cause') };
    default:
      throw new ShuffleError('ESS_BAD_MESSAGE', `Unexpected message: ${name}`);
  }
}

export function encodeBlockTransfer(message: BlockTransferMessage): Buffer {
  const writer = new Writer();
  if (message.type === 'Unsupported') {
    throw new ShuffleError('ESS_UNSUPPORTED', `sparkplane does not encode ${message.name}`);
  }
  writer.u8(BLOCK_TRANSFER_TYPE[message.type]);
  switch (message.type) {
    case 'OpenBlocks':
    case 'RemoveBlocks':
      writer.string(message.appId).string(message.execId).strings(message.blockIds);
      break;
    case 'RegisterExecutor':
      writer
        .string(message.appId)
        .string(message.execId)
        .strings(message.info.localDirs)
        .i32(message.info.subDirsPerLocalDir)
        .string(message.info.shuffleManager);
      break;
    case 'StreamHandle':
      writer.i64(message.streamId).i32(message.numChunks);
      break;
    case 'BlocksRemoved':
      writer.i32(message.numRemovedBlocks);
      break;
    case 'FetchShuffleBlocks':
      writer
        .string(message.appId)
        .string(message.execId)
        .i32(message.shuffleId)
        .longs(message.mapIds);
      writer.i32(message.reduceIds.length);
      for (const ids of message.reduceIds) writer.ints(ids);
      writer.bool(message.batchFetchEnabled);
      break;
    case 'GetLocalDirsForExecutors':
      writer.string(message.appId).strings(message.execIds);
      break;
    case 'LocalDirsForExecutors': {
      const execIds = [...message.localDirsByExec.keys()];
      const dirs = [...message.localDirsByExec.values()];
      writer
        .strings(execIds)
        .ints(dirs.map((list) => list.length))
        .strings(dirs.flat());
      break;
    }
    case 'DiagnoseCorruption':
      writer
        .string(message.appId)
        .string(message.execId)
        .i32(message.shuffleId)
        .i64(message.mapId)
        .i32(message.reduceId)
        .i64(message.checksum)
        .string(message.algorithm);
      break;
    case 'CorruptionCause':
      writer.u8(message.cause);
      break;
  }
  return writer.toBuffer();
}

/** A SASL step from the client: `0xEA`, appId, then the SASL token. */
export interface SaslMessage {
  readonly appId: string;
  readonly payload: Buffer;
}

export function decodeSaslMessage(body: Buffer): SaslMessage {
  const reader = new Reader(body, 'SASL message');
  if (reader.u8('tag') !== SASL_MESSAGE_TAG) {
    throw new ShuffleError(
      'ESS_AUTH',
      'Expected SaslMessage, received something else (maybe your client does not have SASL enabled?)',
    );
  }
  const appId = reader.string('appId');
  const payload = reader.bytes('payload');
  reader.end();
  return { appId, payload };
}

export function encodeSaslMessage(message: SaslMessage): Buffer {
  return new Writer().u8(SASL_MESSAGE_TAG).string(message.appId).bytes(message.payload).toBuffer();
}
