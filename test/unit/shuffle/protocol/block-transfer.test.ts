import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeBlockTransfer,
  decodeSaslMessage,
  encodeBlockTransfer,
  encodeSaslMessage,
  type BlockTransferMessage,
} from '../../../../src/shuffle/protocol/block-transfer.ts';
import { encodeMessage } from '../../../../src/shuffle/protocol/messages.ts';

const samples: BlockTransferMessage[] = [
  { type: 'OpenBlocks', appId: 'app-1', execId: '0', blockIds: ['shuffle_0_1_2', 'rdd_1_2'] },
  {
    type: 'RegisterExecutor',
    appId: 'app-1',
    execId: '0',
    info: { localDirs: ['/d'], subDirsPerLocalDir: 64, shuffleManager: 'sort' },
  },
  { type: 'StreamHandle', streamId: 1000n, numChunks: 3 },
  { type: 'RemoveBlocks', appId: 'a', execId: 'e', blockIds: ['rdd_0_0'] },
  { type: 'BlocksRemoved', numRemovedBlocks: 1 },
  {
    type: 'FetchShuffleBlocks',
    appId: 'a',
    execId: '1',
    shuffleId: 0,
    mapIds: [5n, 2n ** 40n],
    reduceIds: [[0, 1], [3]],
    batchFetchEnabled: false,
  },
  {
    type: 'FetchShuffleBlocks',
    appId: 'a',
    execId: '1',
    shuffleId: 0,
    mapIds: [5n],
    reduceIds: [[0, 4]],
    batchFetchEnabled: true,
  },
  { type: 'GetLocalDirsForExecutors', appId: 'a', execIds: ['1', '2'] },
  {
    type: 'LocalDirsForExecutors',
    localDirsByExec: new Map([
      ['1', ['/a', '/b']],
      ['2', ['/c']],
    ]),
  },
  {
    type: 'DiagnoseCorruption',
    appId: 'a',
    execId: '1',
    shuffleId: 0,
    mapId: 3n,
    reduceId: 2,
    checksum: 0xffffffffn,
    algorithm: 'ADLER32',
  },
  { type: 'CorruptionCause', cause: 3 },
];

describe('shuffle messages', () => {
  for (const message of samples) {
    it(`${message.type} round-trips`, () => {
      assert.deepEqual(decodeBlockTransfer(encodeBlockTransfer(message)), message);
    });
  }

  it('RegisterExecutor inside RpcRequest 42 is the 58 bytes of the spec', () => {
    const body = encodeBlockTransfer({
      type: 'RegisterExecutor',
      appId: 'app-1',
      execId: '0',
      info: { localDirs: ['/d'], subDirsPerLocalDir: 64, shuffleManager: 'sort' },
    });
    const frame = encodeMessage({ type: 'RpcRequest', requestId: 42n, body });
    assert.equal(frame.length, 58);
    assert.equal(
      frame.toString('hex'),
      '000000000000003a' +
        '03' +
        '000000000000002a' +
        '00000025' +
        '02' +
        '00000005' +
        Buffer.from('app-1').toString('hex') +
        '00000001' +
        '30' +
        '00000001' +
        '00000002' +
        Buffer.from('/d').toString('hex') +
        '00000040' +
        '00000004' +
        Buffer.from('sort').toString('hex'),
    );
  });

  it('names unknown types as Spark does (signed byte)', () => {
    assert.throws(() => decodeBlockTransfer(Buffer.from([20])), /Unknown message type: 20/);
    assert.throws(() => decodeBlockTransfer(Buffer.from([0xea])), /Unknown message type: -22/);
  });

  it('recognises push-based and Mesos messages without serving them', () => {
    const finalize = Buffer.concat([
      Buffer.from([13]),
      Buffer.from([0, 0, 0, 1, 0x61]),
      Buffer.alloc(12),
    ]);
    assert.deepEqual(decodeBlockTransfer(finalize), {
      type: 'Unsupported',
      name: 'FinalizeShuffleMerge',
      appId: 'a',
    });
  });

  it('refuses a block id count larger than the message', () => {
    const body = Buffer.from([0, 0, 0, 0, 1, 0x61, 0, 0, 0, 1, 0x30, 0x7f, 0xff, 0xff, 0xff]);
    assert.throws(
      () => decodeBlockTransfer(body),
      /blockIds claims 2147483647 items but only 0 bytes remain/,
    );
  });

  it('SASL messages round-trip and anything else is named', () => {
    const sasl = { appId: 'app-1', payload: Buffer.from('token') };
    assert.deepEqual(decodeSaslMessage(encodeSaslMessage(sasl)), sasl);
    assert.throws(
      () => decodeSaslMessage(Buffer.from([2])),
      /Expected SaslMessage, received something else/,
    );
  });
});
