// The stream manager's rules, as Spark's OneForOneStreamManager has them: chunks in order, a
// stream gone after its last chunk, an authenticated client reads only its own app's streams,
// and an unauthenticated stream stays on the connection that opened it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShuffleError } from '../../../../src/shuffle/errors.ts';
import {
  createStreamManager,
  type ChunkSource,
} from '../../../../src/shuffle/server/stream-manager.ts';

function shuffleChunks(count: number): ChunkSource[] {
  return Array.from({ length: count }, (_, reduceId) => ({
    kind: 'shuffle',
    execId: '0',
    shuffleId: 1,
    mapId: 5n,
    startReduceId: reduceId,
    endReduceId: reduceId + 1,
  }));
}

/** Matches a ShuffleError with this code whose message matches `message`. */
function shuffleError(code: string, message: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ShuffleError, String(error));
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

const CONNECTION = 1;
const OTHER_CONNECTION = 2;

describe('stream manager', () => {
  it('hands out chunks in order and refuses one out of order without moving on', () => {
    const streams = createStreamManager();
    const chunks = shuffleChunks(3);
    const id = streams.open('app-1', CONNECTION, chunks);
    assert.throws(
      () => streams.take(id, 1, CONNECTION, undefined),
      shuffleError('ESS_STREAM', /^Received out-of-order chunk index 1 \(expected 0\)$/),
    );
    for (const [index, source] of chunks.entries())
      assert.deepEqual(streams.take(id, index, CONNECTION, undefined), { appId: 'app-1', source });
  });

  it('refuses a chunk index beyond the end, and a negative one', () => {
    const streams = createStreamManager();
    const id = streams.open('app-1', CONNECTION, shuffleChunks(2));
    assert.throws(
      () => streams.take(id, 2, CONNECTION, undefined),
      shuffleError('ESS_STREAM', /^Requested chunk index beyond end 2$/),
    );
    assert.throws(
      () => streams.take(id, -1, CONNECTION, undefined),
      shuffleError('ESS_STREAM', /-1/),
    );
    // Neither moved the position.
    assert.deepEqual(streams.take(id, 0, CONNECTION, undefined).source, shuffleChunks(2)[0]);
    assert.deepEqual(streams.take(id, 1, CONNECTION, undefined).source, shuffleChunks(2)[1]);
  });

  it('a stream is closed after its last chunk, and an unknown id is closed too', () => {
    const streams = createStreamManager();
    const id = streams.open('app-1', CONNECTION, shuffleChunks(1));
    assert.equal(streams.size, 1);
    streams.take(id, 0, CONNECTION, undefined);
    assert.equal(streams.size, 0);
    for (const [streamId, chunkIndex] of [
      [id, 1],
      [id, 0],
      [id + 1000n, 0],
    ] as const) {
      assert.throws(
        () => streams.take(streamId, chunkIndex, CONNECTION, undefined),
        shuffleError(
          'ESS_STREAM',
          new RegExp(`^Requested chunk not available since streamId ${streamId} is closed$`),
        ),
      );
    }
  });

  it("an authenticated client reads its own app's streams from any connection, no other app's", () => {
    const streams = createStreamManager();
    const id = streams.open('app-1', CONNECTION, shuffleChunks(2));
    for (const connection of [CONNECTION, OTHER_CONNECTION]) {
      assert.throws(
        () => streams.take(id, 0, connection, 'app-2'),
        shuffleError(
          'ESS_NOT_AUTHORIZED',
          new RegExp(`^Client app-2 not authorized to read stream ${id} \\(app app-1\\)\\.$`),
        ),
      );
    }
    // Refusals did not move the position; the owner reads on, from another connection too.
    assert.equal(streams.take(id, 0, CONNECTION, 'app-1').appId, 'app-1');
    assert.equal(streams.take(id, 1, OTHER_CONNECTION, 'app-1').appId, 'app-1');
    assert.equal(streams.size, 0);
  });

  it('without authentication a stream is read only on the connection that opened it', () => {
    const streams = createStreamManager();
    const id = streams.open('app-1', CONNECTION, shuffleChunks(2));
    assert.throws(
      () => streams.take(id, 0, OTHER_CONNECTION, undefined),
      shuffleError('ESS_STREAM', new RegExp(`streamId ${id} is closed`)),
    );
    assert.equal(streams.size, 1);
    assert.deepEqual(streams.take(id, 0, CONNECTION, undefined).source, shuffleChunks(2)[0]);
  });

  it("closeConnection drops that connection's streams only", () => {
    const streams = createStreamManager();
    const first = streams.open('app-1', CONNECTION, shuffleChunks(2));
    const second = streams.open('app-1', CONNECTION, shuffleChunks(1));
    const other = streams.open('app-1', OTHER_CONNECTION, shuffleChunks(1));
    assert.equal(streams.size, 3);
    streams.closeConnection(CONNECTION);
    assert.equal(streams.size, 1);
    for (const id of [first, second])
      assert.throws(() => streams.take(id, 0, CONNECTION, undefined), /is closed/);
    assert.deepEqual(
      streams.take(other, 0, OTHER_CONNECTION, undefined).source,
      shuffleChunks(1)[0],
    );
    streams.closeConnection(CONNECTION);
    assert.equal(streams.size, 0);
  });

  it('size counts open streams; an empty stream gets an id but is never open', () => {
    const streams = createStreamManager();
    assert.equal(streams.size, 0);
    const ids = [
      streams.open('app-1', CONNECTION, shuffleChunks(2)),
      streams.open('app-1', CONNECTION, []),
      streams.open('app-2', OTHER_CONNECTION, [
        { kind: 'rdd', execId: '3', rddId: 4, splitIndex: 5 },
      ]),
    ];
    assert.equal(new Set(ids).size, 3, 'stream ids repeat');
    assert.equal(streams.size, 2);
    assert.throws(() => streams.take(ids[1] ?? -1n, 0, CONNECTION, undefined), /is closed/);
    assert.deepEqual(streams.take(ids[2] ?? -1n, 0, OTHER_CONNECTION, undefined), {
      appId: 'app-2',
      source: { kind: 'rdd', execId: '3', rddId: 4, splitIndex: 5 },
    });
    assert.equal(streams.size, 1);
  });
});
