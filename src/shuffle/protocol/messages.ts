// The transport messages of Spark's network-common protocol: one frame each, `i64 frameLength`
// (including itself), `u8 type`, the type's header fields, then an in-frame body for some types.
// StreamResponse and UploadStream bodies follow the frame as raw bytes instead.
import { ShuffleError } from '../errors.ts';
import { Reader, Writer } from './codec.ts';

export const MESSAGE_TYPE = {
  ChunkFetchRequest: 0,
  ChunkFetchSuccess: 1,
  ChunkFetchFailure: 2,
  RpcRequest: 3,
  RpcResponse: 4,
  RpcFailure: 5,
  StreamRequest: 6,
  StreamResponse: 7,
  StreamFailure: 8,
  OneWayMessage: 9,
  UploadStream: 10,
  MergedBlockMetaRequest: 11,
  MergedBlockMetaSuccess: 12,
} as const;

export type MessageTypeName = keyof typeof MESSAGE_TYPE;

export interface StreamChunkId {
  readonly streamId: bigint;
  readonly chunkIndex: number;
}

export type TransportMessage =
  | ({ readonly type: 'ChunkFetchRequest' } & StreamChunkId)
  | ({ readonly type: 'ChunkFetchSuccess'; readonly body: Buffer } & StreamChunkId)
  | ({ readonly type: 'ChunkFetchFailure'; readonly error: string } & StreamChunkId)
  | { readonly type: 'RpcRequest'; readonly requestId: bigint; readonly body: Buffer }
  | { readonly type: 'RpcResponse'; readonly requestId: bigint; readonly body: Buffer }
  | { readonly type: 'RpcFailure'; readonly requestId: bigint; readonly error: string }
  | { readonly type: 'StreamRequest'; readonly streamId: string }
  /** `byteCount` raw bytes follow the frame. */
  | { readonly type: 'StreamResponse'; readonly streamId: string; readonly byteCount: bigint }
  | { readonly type: 'StreamFailure'; readonly streamId: string; readonly error: string }
  | { readonly type: 'OneWayMessage'; readonly body: Buffer }
  /** `bodyByteCount` raw bytes follow the frame. */
  | {
      readonly type: 'UploadStream';
      readonly requestId: bigint;
      readonly meta: Buffer;
      readonly bodyByteCount: bigint;
    }
  | {
      readonly type: 'MergedBlockMetaRequest';
      readonly requestId: bigint;
      readonly appId: string;
      readonly shuffleId: number;
      readonly shuffleMergeId: number;
      readonly reduceId: number;
    }
  | {
      readonly type: 'MergedBlockMetaSuccess';
      readonly requestId: bigint;
      readonly numChunks: number;
      readonly body: Buffer;
    };

/** Bytes of frame length + type byte before every header. */
export const FRAME_PREFIX_BYTES = 9;

/** Length in bytes of raw data that follows this message's frame (StreamResponse, UploadStream). */
export function trailingByteCount(message: TransportMessage): bigint {
  if (message.type === 'StreamResponse') return message.byteCount;
  if (message.type === 'UploadStream') return message.bodyByteCount;
  return 0n;
}

function header(message: TransportMessage): { writer: Writer; body?: Buffer } {
  const writer = new Writer();
  switch (message.type) {
    case 'ChunkFetchRequest':
      writer.i64(message.streamId).i32(message.chunkIndex);
      return { writer };
    case 'ChunkFetchSuccess':
      writer.i64(message.streamId).i32(message.chunkIndex);
      return { writer, body: message.body };
    case 'ChunkFetchFailure':
      writer.i64(message.streamId).i32(message.chunkIndex).string(message.error);
      return { writer };
    case 'RpcRequest':
    case 'RpcResponse':
      writer.i64(message.requestId).i32(message.body.length);
      return { writer, body: message.body };
    case 'RpcFailure':
      writer.i64(message.requestId).string(message.error);
      return { writer };
    case 'StreamRequest':
      writer.string(message.streamId);
      return { writer };
    case 'StreamResponse':
      writer.string(message.streamId).i64(message.byteCount);
      return { writer };
    case 'StreamFailure':
      writer.string(message.streamId).string(message.error);
      return { writer };
    case 'OneWayMessage':
      writer.i32(message.body.length);
      return { writer, body: message.body };
    case 'UploadStream':
      writer.i64(message.requestId).bytes(message.meta).i64(message.bodyByteCount);
      return { writer };
    case 'MergedBlockMetaRequest':
      writer
        .i64(message.requestId)
        .string(message.appId)
        .i32(message.shuffleId)
        .i32(message.shuffleMergeId)
        .i32(message.reduceId);
      return { writer };
    case 'MergedBlockMetaSuccess':
      writer.i64(message.requestId).i32(message.numChunks);
      return { writer, body: message.body };
  }
}

/**
 * The frame's bytes up to (not including) its body. `bodyLength` is the in-frame body that the
 * caller writes after it (e.g. a file region for ChunkFetchSuccess); it counts in frameLength.
 */
export function encodeFrameHeader(message: TransportMessage, bodyLength: number): Buffer {
  const { writer } = header(message);
  const out = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + writer.length);
  out.writeBigInt64BE(BigInt(FRAME_PREFIX_BYTES + writer.length + bodyLength), 0);
  out.writeUInt8(MESSAGE_TYPE[message.type], 8);
  writer.toBuffer().copy(out, FRAME_PREFIX_BYTES);
  return out;
}

/** The whole frame of a message, its in-frame body included. */
export function encodeMessage(message: TransportMessage): Buffer {
  const { body } = header(message);
  const head = encodeFrameHeader(message, body?.length ?? 0);
  return body === undefined ? head : Buffer.concat([head, body]);
}

/** Header layout of a frame ending with an i32 `bodySize` that readers ignore (RpcRequest, ...). */
function skipBodySize(reader: Reader): void {
  reader.i32('bodySize');
}

/** Decodes one frame's content (after the length): the type byte, the header and the in-frame body. */
export function decodeMessage(frame: Buffer): TransportMessage {
  const reader = new Reader(frame, 'frame');
  const code = reader.u8('type');
  switch (code) {
    case MESSAGE_TYPE.ChunkFetchRequest: {
      const message = {
        type: 'ChunkFetchRequest' as const,
        streamId: reader.i64('streamId'),
        chunkIndex: reader.i32('chunkIndex'),
      };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.ChunkFetchSuccess:
      return {
        type: 'ChunkFetchSuccess',
        streamId: reader.i64('streamId'),
        chunkIndex: reader.i32('chunkIndex'),
        body: reader.rest(),
      };
    case MESSAGE_TYPE.ChunkFetchFailure: {
      const message = {
        type: 'ChunkFetchFailure' as const,
        streamId: reader.i64('streamId'),
        chunkIndex: reader.i32('chunkIndex'),
        error: reader.string('error'),
      };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.RpcRequest:
    case MESSAGE_TYPE.RpcResponse: {
      const requestId = reader.i64('requestId');
      skipBodySize(reader);
      const body = reader.rest();
      return code === MESSAGE_TYPE.RpcRequest
        ? { type: 'RpcRequest', requestId, body }
        : { type: 'RpcResponse', requestId, body };
    }
    case MESSAGE_TYPE.RpcFailure: {
      const message = {
        type: 'RpcFailure' as const,
        requestId: reader.i64('requestId'),
        error: reader.string('error'),
      };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.StreamRequest: {
      const message = { type: 'StreamRequest' as const, streamId: reader.string('streamId') };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.StreamResponse: {
      const message = {
        type: 'StreamResponse' as const,
        streamId: reader.string('streamId'),
        byteCount: reader.i64('byteCount'),
      };
      reader.end();
      if (message.byteCount < 0n)
        throw new ShuffleError('ESS_BAD_MESSAGE', 'malformed StreamResponse: negative byteCount');
      return message;
    }
    case MESSAGE_TYPE.StreamFailure: {
      const message = {
        type: 'StreamFailure' as const,
        streamId: reader.string('streamId'),
        error: reader.string('error'),
      };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.OneWayMessage:
      skipBodySize(reader);
      return { type: 'OneWayMessage', body: reader.rest() };
    case MESSAGE_TYPE.UploadStream: {
      const message = {
        type: 'UploadStream' as const,
        requestId: reader.i64('requestId'),
        meta: reader.bytes('meta'),
        bodyByteCount: reader.i64('bodyByteCount'),
      };
      reader.end();
      if (message.bodyByteCount < 0n)
        throw new ShuffleError('ESS_BAD_MESSAGE', 'malformed UploadStream: negative bodyByteCount');
      return message;
    }
    case MESSAGE_TYPE.MergedBlockMetaRequest: {
      const message = {
        type: 'MergedBlockMetaRequest' as const,
        requestId: reader.i64('requestId'),
        appId: reader.string('appId'),
        shuffleId: reader.i32('shuffleId'),
        shuffleMergeId: reader.i32('shuffleMergeId'),
        reduceId: reader.i32('reduceId'),
      };
      reader.end();
      return message;
    }
    case MESSAGE_TYPE.MergedBlockMetaSuccess:
      return {
        type: 'MergedBlockMetaSuccess',
        requestId: reader.i64('requestId'),
        numChunks: reader.i32('numChunks'),
        body: reader.rest(),
      };
    default:
      throw new ShuffleError('ESS_BAD_MESSAGE', `Unknown message type: ${code}`);
  }
}
