import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMessage,
  encodeFrameHeader,
  encodeMessage,
  type TransportMessage,
} from '../../../../src/shuffle/protocol/messages.ts';

const samples: TransportMessage[] = [
  { type: 'ChunkFetchRequest', streamId: 123456789012n, chunkIndex: 7 },
  { type: 'ChunkFetchSuccess', streamId: 5n, chunkIndex: 0, body: Buffer.from('hello') },
  { type: 'ChunkFetchFailure', streamId: 5n, chunkIndex: 1, error: 'java.io.IOException: gone' },
  { type: 'RpcRequest', requestId: 42n, body: Buffer.from([2, 0, 0]) },
  { type: 'RpcResponse', requestId: 42n, body: Buffer.alloc(0) },
  { type: 'RpcFailure', requestId: 9n, error: 'failure ü' },
  { type: 'StreamRequest', streamId: '100_2' },
  { type: 'StreamResponse', streamId: '100_2', byteCount: 1234n },
  { type: 'StreamFailure', streamId: '100_2', error: 'no' },
  { type: 'OneWayMessage', body: Buffer.from([19]) },
  { type: 'UploadStream', requestId: 3n, meta: Buffer.from([12, 1]), bodyByteCount: 10n },
  {
    type: 'MergedBlockMetaRequest',
    requestId: 1n,
    appId: 'app',
    shuffleId: 1,
    shuffleMergeId: 2,
    reduceId: 3,
  },
  { type: 'MergedBlockMetaSuccess', requestId: 1n, numChunks: 2, body: Buffer.from([1, 2, 3]) },
];

describe('transport messages', () => {
  it('an empty RpcResponse for request 42 is the 21 bytes of the spec', () => {
    assert.equal(
      encodeMessage({ type: 'RpcResponse', requestId: 42n, body: Buffer.alloc(0) }).toString('hex'),
      '0000000000000015' + '04' + '000000000000002a' + '00000000',
    );
  });

  for (const message of samples) {
    it(`${message.type} round-trips and its frame length counts itself`, () => {
      const frame = encodeMessage(message);
      const length = Number(frame.readBigInt64BE(0));
      // Raw bodies of StreamResponse/UploadStream are outside the frame.
      assert.equal(length, frame.length);
      assert.deepEqual(decodeMessage(frame.subarray(8)), message);
    });
  }

  it('a header for an in-frame body counts the body in the frame length', () => {
    const head = encodeFrameHeader(
      { type: 'ChunkFetchSuccess', streamId: 1n, chunkIndex: 2, body: Buffer.alloc(0) },
      1000,
    );
    assert.equal(head.length, 8 + 1 + 12);
    assert.equal(head.readBigInt64BE(0), BigInt(head.length + 1000));
  });

  it('rejects unknown types and trailing bytes', () => {
    assert.throws(() => decodeMessage(Buffer.from([13])), /Unknown message type: 13/);
    const frame = encodeMessage({ type: 'ChunkFetchRequest', streamId: 1n, chunkIndex: 1 });
    assert.throws(
      () => decodeMessage(Buffer.concat([frame.subarray(8), Buffer.from([0])])),
      /1 unexpected trailing bytes/,
    );
  });

  it('rejects a string length larger than the frame without allocating it', () => {
    const frame = Buffer.from([6, 0x7f, 0xff, 0xff, 0xff, 0x41]);
    assert.throws(() => decodeMessage(frame), /streamId needs 2147483647 bytes but 1 remain/);
  });
});
