import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createFrameDecoder } from '../../../../src/shuffle/protocol/frame-decoder.ts';
import { encodeMessage, type TransportMessage } from '../../../../src/shuffle/protocol/messages.ts';

interface Seen {
  messages: TransportMessage[];
  raw: Buffer[];
  rawEnds: number;
}

function decoderFor(maxFrameBytes = 1 << 20) {
  const seen: Seen = { messages: [], raw: [], rawEnds: 0 };
  const decoder = createFrameDecoder(
    {
      message: (message) => seen.messages.push(message),
      rawBody: (chunk) => seen.raw.push(chunk),
      rawBodyEnd: () => {
        seen.rawEnds++;
      },
    },
    { maxFrameBytes },
  );
  return { decoder, seen };
}

const stream: Buffer = Buffer.concat([
  encodeMessage({ type: 'RpcRequest', requestId: 1n, body: Buffer.from('abc') }),
  encodeMessage({ type: 'StreamResponse', streamId: 's', byteCount: 5n }),
  Buffer.from('12345'),
  encodeMessage({ type: 'ChunkFetchRequest', streamId: 9n, chunkIndex: 0 }),
  encodeMessage({ type: 'StreamResponse', streamId: 'empty', byteCount: 0n }),
  encodeMessage({ type: 'RpcFailure', requestId: 2n, error: 'x' }),
]);

function check(seen: Seen): void {
  assert.deepEqual(
    seen.messages.map((message) => message.type),
    ['RpcRequest', 'StreamResponse', 'ChunkFetchRequest', 'StreamResponse', 'RpcFailure'],
  );
  assert.equal(Buffer.concat(seen.raw).toString(), '12345');
  assert.equal(seen.rawEnds, 2);
}

describe('frame decoder', () => {
  it('decodes a whole buffer', () => {
    const { decoder, seen } = decoderFor();
    decoder.push(stream);
    check(seen);
    assert.equal(decoder.buffered, 0);
  });

  it('decodes the same at every single split point', () => {
    for (let split = 1; split < stream.length; split++) {
      const { decoder, seen } = decoderFor();
      decoder.push(stream.subarray(0, split));
      decoder.push(stream.subarray(split));
      check(seen);
    }
  });

  it('decodes byte by byte and in random pieces', () => {
    const { decoder, seen } = decoderFor();
    for (const byte of stream) decoder.push(Buffer.from([byte]));
    check(seen);
    for (let round = 0; round < 50; round++) {
      const random = decoderFor();
      let offset = 0;
      while (offset < stream.length) {
        const size = 1 + Math.floor(Math.random() * 40);
        random.decoder.push(stream.subarray(offset, offset + size));
        offset += size;
      }
      check(random.seen);
    }
  });

  it('refuses a frame over the limit from its length alone, before the body arrives', () => {
    const { decoder, seen } = decoderFor(1024);
    const header = Buffer.alloc(8);
    header.writeBigInt64BE(2000n);
    assert.throws(() => {
      decoder.push(header);
    }, /Too large frame: 1992 bytes/);
    assert.equal(seen.messages.length, 0);
    assert.throws(() => {
      decoder.push(Buffer.from([1]));
    }, /Too large frame/);
  });

  it('refuses zero and negative frame lengths', () => {
    for (const length of [0n, 8n, -1n]) {
      const { decoder } = decoderFor();
      const header = Buffer.alloc(8);
      header.writeBigInt64BE(length);
      assert.throws(() => {
        decoder.push(header);
      }, /Frame length should be positive/);
    }
  });

  it('an HTTP/2 preface is a frame length no service accepts', () => {
    const { decoder } = decoderFor(16 * 1024 * 1024);
    assert.throws(() => {
      decoder.push(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    }, /Too large frame/);
  });

  it('random garbage never crashes it with anything but a ShuffleError', () => {
    for (let round = 0; round < 500; round++) {
      const { decoder } = decoderFor(4096);
      const garbage = Buffer.from(
        Array.from({ length: 1 + Math.floor(Math.random() * 200) }, () =>
          Math.floor(Math.random() * 256),
        ),
      );
      try {
        decoder.push(garbage);
      } catch (error) {
        assert.equal((error as { name?: string }).name, 'ShuffleError', String(error));
      }
    }
  });
});
