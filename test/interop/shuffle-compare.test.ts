// Spark's own external shuffle service and sparkplane shuffle, fed the same files and the same
// requests on one connection each, must answer with the same messages, byte for byte. Stream ids
// are numbered by each service and failure texts are Java stack traces on one side, so those two
// fields are compared by kind only; everything else (frames, chunk bodies, stream bodies, local
// dirs, checksum verdicts) must be identical.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { it } from 'node:test';
import {
  encodeBlockTransfer,
  decodeBlockTransfer,
  type ExecutorShuffleInfo,
} from '../../src/shuffle/protocol/block-transfer.ts';
import { encodeMessage, type TransportMessage } from '../../src/shuffle/protocol/messages.ts';
import { adler32 } from '../../src/shuffle/resolver/checksum.ts';
import { blockFilePath } from '../../src/shuffle/resolver/disk-layout.ts';
import { partitionBytes, writeMapOutput } from '../integration/shuffle/fixtures.ts';
import { forEachSparkVersion, inSparkRun } from './harness/run.ts';
import { openExchange, type Received } from './harness/shuffle-exchange.ts';
import { startSparkplaneShuffle } from './harness/sparkplane-processes.ts';
import { startSparkShuffleService } from './harness/spark-processes.ts';
import { mkdirSync, writeFileSync } from 'node:fs';

const APP = 'app-20261121010101-0042';
const SIZES = [300, 0, 70_000, 1, 2_000_000];

let nextRequestId = 1000n;
const rpc = (body: Buffer): Buffer =>
  encodeMessage({ type: 'RpcRequest', requestId: nextRequestId++, body });
const chunk = (streamId: bigint, chunkIndex: number): Buffer =>
  encodeMessage({ type: 'ChunkFetchRequest', streamId, chunkIndex });
const stream = (name: string): Buffer => encodeMessage({ type: 'StreamRequest', streamId: name });

/** A step: frames to send (built from the service's own stream id where needed) and how many replies. */
interface Step {
  readonly name: string;
  readonly frames: (lastStreamId: bigint) => Buffer[];
  readonly replies: number;
}

function steps(info: ExecutorShuffleInfo): Step[] {
  const fetch = (blockIds: string[]) => ({
    type: 'OpenBlocks' as const,
    appId: APP,
    execId: '0',
    blockIds,
  });
  return [
    {
      name: 'RegisterExecutor',
      frames: () => [
        rpc(encodeBlockTransfer({ type: 'RegisterExecutor', appId: APP, execId: '0', info })),
      ],
      replies: 1,
    },
    {
      name: 'FetchShuffleBlocks',
      frames: () => [
        rpc(
          encodeBlockTransfer({
            type: 'FetchShuffleBlocks',
            appId: APP,
            execId: '0',
            shuffleId: 3,
            mapIds: [7n, 8n],
            reduceIds: [
              [0, 2, 4],
              [1, 3],
            ],
            batchFetchEnabled: false,
          }),
        ),
      ],
      replies: 1,
    },
    {
      name: 'ChunkFetchRequest ×5',
      frames: (id) => [0, 1, 2, 3, 4].map((index) => chunk(id, index)),
      replies: 5,
    },
    {
      name: 'OpenBlocks',
      frames: () => [
        rpc(encodeBlockTransfer(fetch(['shuffle_3_8_4', 'shuffle_3_7_0', 'shuffle_3_8_1']))),
      ],
      replies: 1,
    },
    {
      name: 'ChunkFetchRequest ×3',
      frames: (id) => [0, 1, 2].map((index) => chunk(id, index)),
      replies: 3,
    },
    {
      name: 'OpenBlocks rdd',
      frames: () => [rpc(encodeBlockTransfer(fetch(['rdd_2_1', 'rdd_2_7'])))],
      replies: 1,
    },
    { name: 'rdd chunks (one missing)', frames: (id) => [chunk(id, 0), chunk(id, 1)], replies: 2 },
    {
      name: 'OpenBlocks mixed kinds',
      frames: () => [rpc(encodeBlockTransfer(fetch(['shuffle_3_8_4', 'rdd_2_1'])))],
      replies: 1,
    },
    {
      name: 'FetchShuffleBlocks batch',
      frames: () => [
        rpc(
          encodeBlockTransfer({
            type: 'FetchShuffleBlocks',
            appId: APP,
            execId: '0',
            shuffleId: 3,
            mapIds: [8n],
            reduceIds: [[1, 5]],
            batchFetchEnabled: true,
          }),
        ),
      ],
      replies: 1,
    },
    { name: 'StreamRequest', frames: (id) => [stream(`${id}_0`)], replies: 1 },
    {
      name: 'GetLocalDirsForExecutors',
      frames: () => [
        rpc(encodeBlockTransfer({ type: 'GetLocalDirsForExecutors', appId: APP, execIds: ['0'] })),
      ],
      replies: 1,
    },
    {
      name: 'DiagnoseCorruption ×3',
      frames: () => [
        rpc(
          encodeBlockTransfer({
            type: 'DiagnoseCorruption',
            appId: APP,
            execId: '0',
            shuffleId: 3,
            mapId: 7n,
            reduceId: 2,
            checksum: BigInt(adler32(partitionBytes(7, 2, SIZES[2] ?? 0))),
            algorithm: 'ADLER32',
          }),
        ),
        rpc(
          encodeBlockTransfer({
            type: 'DiagnoseCorruption',
            appId: APP,
            execId: '0',
            shuffleId: 3,
            mapId: 7n,
            reduceId: 2,
            checksum: 12345n,
            algorithm: 'ADLER32',
          }),
        ),
        rpc(
          encodeBlockTransfer({
            type: 'DiagnoseCorruption',
            appId: APP,
            execId: '0',
            shuffleId: 3,
            mapId: 7n,
            reduceId: 2,
            checksum: 1n,
            algorithm: 'MD5',
          }),
        ),
      ],
      replies: 3,
    },
    {
      name: 'unregistered executor',
      frames: () => [rpc(encodeBlockTransfer({ ...fetch(['shuffle_3_7_0']), execId: '9' }))],
      replies: 1,
    },
    { name: 'its chunk', frames: (id) => [chunk(id, 0)], replies: 1 },
    {
      name: 'bad block id',
      frames: () => [rpc(encodeBlockTransfer(fetch(['broadcast_1'])))],
      replies: 1,
    },
    { name: 'unknown message type', frames: () => [rpc(Buffer.from([99]))], replies: 1 },
    { name: 'closed stream', frames: () => [chunk(424242n, 0)], replies: 1 },
    {
      name: 'RemoveBlocks',
      frames: () => [
        rpc(
          encodeBlockTransfer({
            type: 'RemoveBlocks',
            appId: APP,
            execId: '0',
            blockIds: ['rdd_2_9'],
          }),
        ),
      ],
      replies: 1,
    },
  ];
}

/** Stream ids become their order of appearance; failure texts become their kind. */
function normalize(received: Received, streamIds: Map<bigint, bigint>): Buffer[] {
  const id = (streamId: bigint): bigint => {
    if (!streamIds.has(streamId)) streamIds.set(streamId, BigInt(streamIds.size));
    return streamIds.get(streamId) ?? -1n;
  };
  const message: TransportMessage = received.message;
  let normal: TransportMessage = message;
  switch (message.type) {
    case 'RpcResponse': {
      const body = decodeBlockTransferSafe(message.body);
      normal =
        body?.type === 'StreamHandle'
          ? { ...message, body: encodeBlockTransfer({ ...body, streamId: id(body.streamId) }) }
          : message;
      break;
    }
    case 'RpcFailure':
      normal = { ...message, requestId: message.requestId, error: '<failure>' };
      break;
    case 'ChunkFetchSuccess':
      normal = { ...message, streamId: id(message.streamId) };
      break;
    case 'ChunkFetchFailure':
      normal = { ...message, streamId: 0n, error: '<failure>' };
      break;
    case 'StreamResponse':
    case 'StreamFailure':
      normal = {
        ...message,
        streamId: message.streamId.replace(/^\d+/, (text) => String(id(BigInt(text)))),
        ...(message.type === 'StreamFailure' ? { error: '<failure>' } : {}),
      };
      break;
    default:
      break;
  }
  return [encodeMessage(normal), received.raw ?? Buffer.alloc(0)];
}

function decodeBlockTransferSafe(body: Buffer) {
  try {
    return body.length === 0 ? undefined : decodeBlockTransfer(body);
  } catch {
    return undefined;
  }
}

function lastStreamId(replies: readonly Received[], previous: bigint): bigint {
  for (const reply of replies) {
    if (reply.message.type !== 'RpcResponse' || reply.message.body.length === 0) continue;
    const body = decodeBlockTransferSafe(reply.message.body);
    if (body?.type === 'StreamHandle') return body.streamId;
  }
  return previous;
}

async function transcript(
  port: number,
  info: ExecutorShuffleInfo,
): Promise<{ step: string; frames: Buffer[] }[]> {
  const exchange = await openExchange('127.0.0.1', port);
  const streamIds = new Map<bigint, bigint>();
  const out: { step: string; frames: Buffer[] }[] = [];
  let streamId = -1n;
  nextRequestId = 1000n;
  try {
    for (const step of steps(info)) {
      const replies = await exchange.send(step.frames(streamId), step.replies);
      streamId = lastStreamId(replies, streamId);
      out.push({
        step: step.name,
        frames: replies.flatMap((reply) => normalize(reply, streamIds)),
      });
    }
  } finally {
    exchange.close();
  }
  return out;
}

forEachSparkVersion(
  "Spark's shuffle service and sparkplane shuffle, same files, same requests",
  (install) => {
    it('answer with identical bytes, message by message', { timeout: 300_000 }, async () => {
      await inSparkRun(install, 'shuffle-compare', async (run, keep) => {
        const info: ExecutorShuffleInfo = {
          localDirs: [join(run.dir, 'local', 'blockmgr-0'), join(run.dir, 'local', 'blockmgr-1')],
          subDirsPerLocalDir: 64,
          shuffleManager: 'org.apache.spark.shuffle.sort.SortShuffleManager',
        };
        for (const mapId of [7, 8]) {
          const partitions = SIZES.map((size, reduceId) => partitionBytes(mapId, reduceId, size));
          await writeMapOutput(info, 3, BigInt(mapId), partitions);
          const checksums = Buffer.alloc(partitions.length * 8);
          partitions.forEach((partition, index) =>
            checksums.writeBigInt64BE(BigInt(adler32(partition)), index * 8),
          );
          const checksumPath = blockFilePath(info, `shuffle_3_${mapId}_0.checksum.ADLER32`);
          mkdirSync(join(checksumPath, '..'), { recursive: true });
          writeFileSync(checksumPath, checksums);
        }
        const rddPath = blockFilePath(info, 'rdd_2_1');
        mkdirSync(join(rddPath, '..'), { recursive: true });
        writeFileSync(rddPath, partitionBytes(2, 1, 5000));

        const spark = keep(await startSparkShuffleService(run));
        const sparkplane = keep(await startSparkplaneShuffle(run));
        const theirs = await transcript(spark.port, info);
        const ours = await transcript(sparkplane.port, info);
        assert.equal(ours.length, theirs.length);
        theirs.forEach((expected, index) => {
          const actual = ours[index];
          assert.equal(actual?.step, expected.step);
          assert.equal(
            actual.frames.length,
            expected.frames.length,
            `${expected.step}: number of messages`,
          );
          expected.frames.forEach((frame, frameIndex) => {
            assert.ok(
              actual.frames[frameIndex]?.equals(frame),
              `${expected.step}, message ${frameIndex}: Spark sent ${frame.subarray(0, 64).toString('hex')}… (${frame.length} bytes), sparkplane ${actual.frames[frameIndex]?.subarray(0, 64).toString('hex') ?? 'nothing'}… (${actual.frames[frameIndex]?.length ?? 0} bytes)`,
            );
          });
        });
      });
    });
  },
);
