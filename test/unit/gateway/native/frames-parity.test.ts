// The native frame parser (parseFrames of the addon) held to createFrameParser of h2-frames.ts:
// the same frames for every way a byte stream is cut into chunks, or the same FrameSizeError text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FrameFlag,
  FrameSizeError,
  FrameType,
  MAX_FRAME_PAYLOAD,
  createFrameParser,
  encodeFrame,
} from '../../../../src/gateway/wire/h2-frames.ts';
import { loadNativeCore, type NativeCore } from '../../../../src/gateway/native/native-core.ts';
import { cutAt } from '../../../support/cut-bytes.ts';
import { prerequisiteOptions } from '../../../support/prerequisite.ts';
import { prng } from '../../../support/prng.ts';

interface SeenFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: string;
}

type Outcome = { frames: SeenFrame[] } | { error: string };

function nativeCore(): NativeCore {
  const loaded = loadNativeCore();
  assert.ok(loaded.core, loaded.missing);
  return loaded.core;
}

/** The TypeScript parser over `chunks`; like parseFrames, an error stands for the whole run. */
function typescriptParse(chunks: readonly Buffer[], maxPayload: number): Outcome {
  const parser = createFrameParser(maxPayload);
  const frames: SeenFrame[] = [];
  try {
    for (const chunk of chunks) {
      parser.push(chunk, (frame) =>
        frames.push({
          type: frame.type,
          flags: frame.flags,
          streamId: frame.streamId,
          payload: frame.payload.toString('hex'),
        }),
      );
    }
  } catch (error) {
    assert.ok(error instanceof FrameSizeError);
    return { error: error.message };
  }
  return { frames };
}

function nativeParse(core: NativeCore, chunks: Buffer[], maxPayload: number): Outcome {
  try {
    const frames = core.parseFrames(chunks, maxPayload).map((frame) => {
      assert.ok(Buffer.isBuffer(frame.payload));
      return {
        type: frame.type,
        flags: frame.flags,
        streamId: frame.streamId,
        payload: frame.payload.toString('hex'),
      };
    });
    return { frames };
  } catch (error) {
    assert.ok(error instanceof Error);
    assert.equal((error as Error & { code?: unknown }).code, 'FRAME_SIZE_ERROR');
    return { error: error.message };
  }
}

/** Both parsers over the same chunks; returns the (shared) outcome. */
function assertSame(
  core: NativeCore,
  chunks: Buffer[],
  maxPayload: number,
  label: string,
): Outcome {
  const expected = typescriptParse(chunks, maxPayload);
  assert.deepEqual(nativeParse(core, chunks, maxPayload), expected, label);
  return expected;
}

// Frames of every size class and the flags the relay looks at; one with the reserved stream bit.
const reserved = encodeFrame(FrameType.DATA, 0, 7, Buffer.from('r'));
reserved[5] = (reserved[5] ?? 0) | 0x80;
const FRAMES = [
  encodeFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)),
  encodeFrame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.PRIORITY, 1, Buffer.alloc(9, 3)),
  encodeFrame(
    FrameType.DATA,
    FrameFlag.PADDED | FrameFlag.END_STREAM,
    1,
    Buffer.from('02616200', 'hex'),
  ),
  encodeFrame(FrameType.DATA, 0, 3, Buffer.alloc(700, 7)),
  reserved,
  encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from('00010000', 'hex')),
  encodeFrame(0xfe, 0xff, 0x7fffffff, Buffer.from('unknown type')),
];
const STREAM = Buffer.concat(FRAMES);

describe('native frame parser parity', prerequisiteOptions(loadNativeCore().missing), () => {
  it('parses a stream cut at every point as the TypeScript does', () => {
    const core = nativeCore();
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const outcome = assertSame(core, cutAt(STREAM, [cut]), 16_384, `cut at ${cut}`);
      assert.ok('frames' in outcome && outcome.frames.length === FRAMES.length);
    }
  });

  it('parses a stream cut at every pair of points', () => {
    const core = nativeCore();
    const small = Buffer.concat(
      [FRAMES[0], FRAMES[1], FRAMES[2], FRAMES[4]].map((f) => f ?? Buffer.alloc(0)),
    );
    for (let first = 0; first <= small.length; first++)
      for (let second = first; second <= small.length; second++)
        assertSame(core, cutAt(small, [first, second]), 16_384, `cuts at ${first}, ${second}`);
  });

  it('refuses a frame over the limit at every cut, with the same text', () => {
    const core = nativeCore();
    const large = Buffer.concat([STREAM, encodeFrame(FrameType.DATA, 0, 5, Buffer.alloc(701))]);
    for (let cut = 0; cut <= large.length; cut++) {
      const outcome = assertSame(core, cutAt(large, [cut]), 700, `cut at ${cut}`);
      assert.deepEqual(outcome, {
        error: 'an HTTP/2 frame of 701 bytes is larger than the 700 allowed',
      });
    }
    // A limit of exactly the largest payload passes; one byte less does not.
    assert.ok('frames' in assertSame(core, [STREAM], 700, 'limit 700'));
    assert.ok('error' in assertSame(core, [STREAM], 699, 'limit 699'));
    assert.ok('error' in assertSame(core, [STREAM], 0, 'limit 0'));
    assert.ok('frames' in assertSame(core, [STREAM], MAX_FRAME_PAYLOAD, 'the 24-bit limit'));
    assert.ok('frames' in assertSame(core, [STREAM], 2 ** 32 - 1, 'a limit past 24 bits'));
  });

  it('holds a frame cut by the last chunk, and passes empty chunks', () => {
    const core = nativeCore();
    assertSame(core, [], 16_384, 'no chunks');
    assertSame(core, [Buffer.alloc(0), Buffer.alloc(0)], 16_384, 'empty chunks');
    for (let end = 0; end <= STREAM.length; end++) {
      const pieces = [Buffer.alloc(0), STREAM.subarray(0, end), Buffer.alloc(0)];
      assertSame(core, pieces, 16_384, `stream ending at ${end}`);
    }
  });

  it('parses seeded random streams in random pieces as the TypeScript does', () => {
    const core = nativeCore();
    const random = prng(20_240_611);
    let refused = 0;
    let parsed = 0;
    let framesSeen = 0;
    for (let round = 0; round < 400; round++) {
      const maxPayload = 1 + random(400);
      const frames: Buffer[] = [];
      for (let count = random(8); count > 0; count--) {
        // Mostly within the limit, sometimes over it.
        const length = random(maxPayload + 30);
        const payload = Buffer.alloc(length);
        for (let at = 0; at < length; at++) payload[at] = random(256);
        const frame = encodeFrame(random(12), random(256), random(2 ** 31), payload);
        if (random(4) === 0) frame[5] = (frame[5] ?? 0) | 0x80;
        frames.push(frame);
      }
      let stream = Buffer.concat(frames);
      // Sometimes garbage (whatever its header says) or a stream cut off mid-frame.
      if (random(6) === 0)
        stream = Buffer.concat([stream, Buffer.from([random(256), random(256)])]);
      if (random(4) === 0 && stream.length > 0) stream = stream.subarray(0, random(stream.length));
      const cuts: number[] = [];
      for (let at = random(80); at < stream.length; at += 1 + random(80)) cuts.push(at);
      const outcome = assertSame(core, cutAt(stream, cuts), maxPayload, `round ${round}`);
      if ('error' in outcome) refused++;
      else {
        parsed++;
        framesSeen += outcome.frames.length;
      }
    }
    // Both outcomes, in numbers, so that the comparison cannot pass by never meeting one.
    assert.ok(refused > 60 && parsed > 60, `refused ${refused}, parsed ${parsed}`);
    assert.ok(framesSeen > 300, `frames ${framesSeen}`);
  });
});
