// What the native engine tells of calls still reading their first message (io[5]): the time the
// gateway sets its one timer for, and nothing more until that timer fires (`expire`), so a
// connection with requests always cut across reads does not call JavaScript on every read.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  loadNativeCore,
  type NativePinnedEngine,
} from '../../../../src/gateway/native/native-core.ts';
import {
  CLIENT_PREFACE,
  encodeHeaderFrames,
  encodeSettings,
} from '../../../../src/gateway/wire/h2-frames.ts';
import { encodeHeaderBlock } from '../../../../src/gateway/wire/hpack.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';

const loaded = loadNativeCore();
const TIMEOUT_MS = 300;

/** HEADERS of a Config call whose request message has not come (yet). */
function callOpened(streamId: number): Buffer {
  const block = encodeHeaderBlock([
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', '/spark.connect.SparkConnectService/Config'],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
  ]);
  return Buffer.concat(encodeHeaderFrames(streamId, block, false, 16_384));
}

function connection(): {
  read: (bytes: Buffer, now: number) => number;
  expire: (now: number) => number;
} {
  const core = loaded.core;
  assert.ok(core, loaded.missing);
  const engine: NativePinnedEngine = new core.PinnedEngine(
    {
      maxConcurrentStreams: 100,
      maxMessageBytes: 128 * 1024 * 1024,
      wholeFirstMessageBytes: 256 * 1024,
      authenticating: false,
      rewriteUserId: false,
      summarizePlainCalls: true,
    },
    0,
  );
  const io = new Float64Array(4096);
  const scratch = Buffer.alloc(64 * 1024);
  const told = (needed: number): number => {
    assert.equal(needed, 0, 'the output fits');
    return io[5] ?? Number.NaN;
  };
  told(engine.output(io, scratch));
  return {
    read: (bytes, now) => told(engine.clientBytes(Buffer.from(bytes), now, 0, io, scratch)),
    expire: (now) => told(engine.expire(TIMEOUT_MS, now, io, scratch)),
  };
}

describe(
  'native relay: calls reading their first message',
  prerequisiteOptions(loaded.missing),
  () => {
    it('tells the oldest once, then again only when its timer fires', () => {
      const link = connection();
      const hello = Buffer.concat([CLIENT_PREFACE, encodeSettings([])]);
      assert.equal(link.read(hello, 5), -1, 'no call yet');
      assert.equal(link.read(callOpened(1), 10), 10, 'the first call waiting');
      assert.equal(link.read(callOpened(3), 20), -2, 'the timer set for the first is enough');
      assert.equal(link.expire(50), 10, 'the timer fired early: both still wait');
      assert.equal(link.read(callOpened(5), 60), -2, 'the timer was set again');
      assert.equal(link.expire(10 + TIMEOUT_MS + 1), 20, 'the first answered, the second next');
      assert.equal(link.expire(20 + TIMEOUT_MS + 1), 60, 'then the third');
      assert.equal(link.expire(60 + TIMEOUT_MS + 1), -1, 'none left: no timer');
      assert.equal(link.read(callOpened(7), 400), 400, 'a new call is told of at once');
    });
  },
);
