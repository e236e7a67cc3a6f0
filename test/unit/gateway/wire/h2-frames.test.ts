import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FRAME_HEADER_BYTES,
  FrameFlag,
  FrameSizeError,
  FrameType,
  createFrameParser,
  createHeaderBlockReader,
  encodeFrame,
  encodeHeaderFrames,
  type Frame,
} from '../../../../src/gateway/wire/h2-frames.ts';
import { prng } from '../../../support/prng.ts';

interface Seen {
  type: number;
  flags: number;
  streamId: number;
  payload: string;
  raw: string;
}

const seen = (frame: Frame): Seen => ({
  type: frame.type,
  flags: frame.flags,
  streamId: frame.streamId,
  payload: frame.payload.toString('hex'),
  raw: frame.raw.toString('hex'),
});

// Frames of every size class: empty, a few bytes, and larger than the pieces they are cut into.
const FRAMES = [
  encodeFrame(FrameType.SETTINGS, 1, 0, Buffer.alloc(0)),
  encodeFrame(FrameType.HEADERS, 4, 1, Buffer.from('0102030405', 'hex')),
  encodeFrame(FrameType.DATA, 1, 3, Buffer.alloc(3000, 7)),
  encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from('00010000', 'hex')),
  encodeFrame(FrameType.DATA, 0, 0x7ffffffd, Buffer.from('last')),
];
const ALL = Buffer.concat(FRAMES);
const EXPECTED = FRAMES.map((raw) => ({
  type: raw[3] ?? -1,
  flags: raw[4] ?? -1,
  streamId: raw.readUInt32BE(5) & 0x7fffffff,
  payload: raw.subarray(FRAME_HEADER_BYTES).toString('hex'),
  raw: raw.toString('hex'),
}));

function parseIn(pieces: readonly Buffer[]): { frames: Seen[]; pending: number } {
  const parser = createFrameParser(16_384);
  const frames: Seen[] = [];
  for (const piece of pieces) {
    // Each piece is a fresh buffer that is scribbled over once pushed, as a socket may reuse it.
    const chunk = Buffer.from(piece);
    parser.push(chunk, (frame) => frames.push(seen(frame)));
    chunk.fill(0xee);
  }
  return { frames, pending: parser.pendingBytes };
}

describe('HTTP/2 frame parser', () => {
  it('parses frames in one chunk, as they are', () => {
    assert.deepEqual(parseIn([ALL]), { frames: EXPECTED, pending: 0 });
  });

  it('parses the same frames cut at every point, byte by byte and in random pieces', () => {
    for (let cut = 0; cut <= ALL.length; cut++)
      assert.deepEqual(
        parseIn([ALL.subarray(0, cut), ALL.subarray(cut)]),
        { frames: EXPECTED, pending: 0 },
        `cut at ${String(cut)}`,
      );
    const bytes = Array.from({ length: ALL.length }, (_, index) => ALL.subarray(index, index + 1));
    assert.deepEqual(parseIn(bytes), { frames: EXPECTED, pending: 0 });
    const next = prng(7);
    for (let round = 0; round < 200; round++) {
      const pieces: Buffer[] = [];
      for (let at = 0; at < ALL.length;) {
        const size = 1 + next(round % 2 === 0 ? 40 : 5000);
        pieces.push(ALL.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(parseIn(pieces), { frames: EXPECTED, pending: 0 }, `round ${String(round)}`);
    }
  });

  it('holds a cut frame and says how many of its bytes it holds', () => {
    const cut = FRAMES.slice(0, 2).reduce((n, frame) => n + frame.length, 0) + 100;
    const { frames, pending } = parseIn([ALL.subarray(0, cut)]);
    assert.equal(frames.length, 2);
    assert.equal(pending, 100);
    assert.equal(parseIn([ALL.subarray(0, cut - 95)]).pending, 5);
  });

  it('refuses a frame over the limit from its header, before its payload arrives', () => {
    const parser = createFrameParser(16_384);
    const big = Buffer.from([0x00, 0x40, 0x01, FrameType.DATA, 0, 0, 0, 0, 1]);
    assert.throws(() => {
      parser.push(big, () => assert.fail('no frame'));
    }, FrameSizeError);
    // The same header cut in two: refused once it is whole.
    const cutParser = createFrameParser(16_384);
    cutParser.push(big.subarray(0, 4), () => assert.fail('no frame'));
    assert.throws(() => {
      cutParser.push(big.subarray(4), () => assert.fail('no frame'));
    }, /an HTTP\/2 frame of 16385 bytes is larger than the 16384 allowed/);
  });

  it('follows a raised limit for the frames after it', () => {
    const parser = createFrameParser(16_384);
    parser.maxPayload = 20_000;
    const frame = encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(18_000, 1));
    const frames: Frame[] = [];
    parser.push(frame.subarray(0, 10_000), (f) => frames.push(f));
    parser.push(frame.subarray(10_000), (f) => frames.push(f));
    assert.equal(frames.length, 1);
    assert.equal(frames[0]?.payload.length, 18_000);
  });

  it("completes a cut frame in the caller's buffer and hands it back once the frame was read", () => {
    const events: string[] = [];
    const parser = createFrameParser(16_384, {
      allocate(size) {
        events.push(`allocate ${String(size)}`);
        return Buffer.alloc(size + 50).subarray(20, 20 + size);
      },
      emitted(buffer) {
        events.push(`emitted ${String(buffer.length)}`);
      },
    });
    const [, , data] = FRAMES;
    assert.ok(data !== undefined);
    const frames: Seen[] = [];
    parser.push(data.subarray(0, 1000), (frame) => frames.push(seen(frame)));
    parser.push(data.subarray(1000), (frame) => {
      events.push('frame');
      frames.push(seen(frame));
    });
    assert.deepEqual(events, [
      `allocate ${String(data.length)}`,
      'frame',
      `emitted ${String(data.length)}`,
    ]);
    assert.deepEqual(frames, [EXPECTED[2]]);
  });
});

describe('HTTP/2 header block reader', () => {
  it('joins a block of several frames whose chunks are read into again before it ends', () => {
    const block = Buffer.from(Array.from({ length: 100 }, (_, index) => index));
    const frames = encodeHeaderFrames(5, block, true, 30);
    assert.equal(frames.length, 4);
    const reader = createHeaderBlockReader();
    const parser = createFrameParser(16_384);
    const reused = Buffer.alloc(64);
    let result: ReturnType<typeof reader.push>;
    for (const raw of frames) {
      // One buffer for every read, as a socket reading into a reused buffer has.
      raw.copy(reused);
      parser.push(reused.subarray(0, raw.length), (frame) => {
        result = reader.push(frame);
      });
      reused.fill(0xee);
    }
    assert.ok(result !== undefined);
    assert.equal(result.streamId, 5);
    assert.equal(result.endStream, true);
    assert.deepEqual(result.block, block);
    assert.deepEqual(result.frames, frames);
  });

  it('joins a padded HEADERS frame and its CONTINUATION without the padding', () => {
    const payload = Buffer.concat([Buffer.from([3]), Buffer.from('abc'), Buffer.from('pad')]);
    const reader = createHeaderBlockReader();
    const parser = createFrameParser(16_384);
    let result: ReturnType<typeof reader.push>;
    parser.push(
      Buffer.concat([
        encodeFrame(FrameType.HEADERS, FrameFlag.PADDED, 1, payload),
        encodeFrame(FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, Buffer.from('def')),
      ]),
      (frame) => {
        result = reader.push(frame);
      },
    );
    assert.equal(result?.block.toString(), 'abcdef');
    assert.equal(result.endStream, false);
  });
});
