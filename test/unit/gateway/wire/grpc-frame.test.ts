import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../../../src/gateway/errors.ts';
import {
  createGrpcMessageDecoder,
  encodeGrpcMessage,
  type GrpcMessageDecoder,
  type GrpcMessageEvent,
} from '../../../../src/gateway/wire/grpc-frame.ts';
import { prng } from '../../../support/prng.ts';

interface Message {
  compressed: boolean;
  length: number;
  body: string;
}

/** What the events say, independent of how the body was sliced; checks the event order too. */
function messagesOf(events: GrpcMessageEvent[]): { done: Message[]; open: Message | undefined } {
  const done: Message[] = [];
  let open: Message | undefined;
  for (const event of events) {
    if (event.kind === 'start') {
      assert.equal(open, undefined, 'start inside a message');
      open = { compressed: event.compressed, length: event.length, body: '' };
    } else if (event.kind === 'data') {
      assert.ok(open !== undefined, 'data outside a message');
      assert.ok(event.bytes.length > 0, 'empty data event');
      open.body += event.bytes.toString('hex');
    } else {
      assert.ok(open !== undefined, 'end outside a message');
      assert.equal(open.body.length / 2, open.length);
      done.push(open);
      open = undefined;
    }
  }
  return { done, open };
}

function pushAll(decoder: GrpcMessageDecoder, chunks: Buffer[]): GrpcMessageEvent[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

const decoderFor = (maxMessageBytes = 1 << 20): GrpcMessageDecoder =>
  createGrpcMessageDecoder({ maxMessageBytes });

const bodies = [
  Buffer.from('abc'),
  Buffer.alloc(0),
  Buffer.from(Array.from({ length: 300 }, (_, index) => index & 0xff)),
  Buffer.from('z'),
];
const stream = Buffer.concat([
  encodeGrpcMessage(bodies[0] ?? Buffer.alloc(0)),
  encodeGrpcMessage(bodies[1] ?? Buffer.alloc(0)),
  encodeGrpcMessage(bodies[2] ?? Buffer.alloc(0), true),
  encodeGrpcMessage(bodies[3] ?? Buffer.alloc(0)),
]);
const expected: Message[] = [
  { compressed: false, length: 3, body: '616263' },
  { compressed: false, length: 0, body: '' },
  { compressed: true, length: 300, body: (bodies[2] ?? Buffer.alloc(0)).toString('hex') },
  { compressed: false, length: 1, body: '7a' },
];

describe('gRPC message encoding', () => {
  it('writes the flag, the big-endian length and the body', () => {
    assert.deepEqual([...encodeGrpcMessage(Buffer.from('abc'))], [0, 0, 0, 0, 3, 97, 98, 99]);
    assert.deepEqual([...encodeGrpcMessage(new Uint8Array(0), true)], [1, 0, 0, 0, 0]);
    const large = encodeGrpcMessage(new Uint8Array(0x010203));
    assert.deepEqual([...large.subarray(0, 5)], [0, 0, 0x01, 0x02, 0x03]);
    assert.equal(large.length, 5 + 0x010203);
  });
});

describe('gRPC message decoder', () => {
  it('decodes a whole buffer, with a zero-length message as start then end', () => {
    const decoder = decoderFor();
    const events = decoder.push(stream);
    assert.deepEqual(messagesOf(events), { done: expected, open: undefined });
    assert.deepEqual(
      events.slice(0, 6).map((event) => event.kind),
      ['start', 'data', 'end', 'start', 'end', 'start'],
    );
    assert.equal(decoder.messages, 4);
    assert.equal(decoder.atMessageBoundary, true);
  });

  it('decodes the same at every single split point', () => {
    for (let split = 0; split <= stream.length; split++) {
      const decoder = decoderFor();
      const events = pushAll(decoder, [stream.subarray(0, split), stream.subarray(split)]);
      assert.deepEqual(messagesOf(events), { done: expected, open: undefined }, `split ${split}`);
      assert.equal(decoder.messages, 4);
    }
  });

  it('decodes the same byte by byte and in random pieces', () => {
    const decoder = decoderFor();
    const events = pushAll(
      decoder,
      [...stream].map((byte) => Buffer.from([byte])),
    );
    assert.deepEqual(messagesOf(events), { done: expected, open: undefined });
    const random = prng(7);
    for (let round = 0; round < 50; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length;) {
        const size = 1 + random(40);
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(messagesOf(pushAll(decoderFor(), chunks)), {
        done: expected,
        open: undefined,
      });
    }
  });

  it('hands the body on as views of the pushed chunks, never collecting it', () => {
    const body = Buffer.alloc(1 << 20, 7);
    const message = encodeGrpcMessage(body);
    const decoder = decoderFor(1 << 20);
    const chunkSize = 64 * 1024;
    let dataEvents = 0;
    for (let at = 0; at < message.length; at += chunkSize) {
      const chunk = message.subarray(at, at + chunkSize);
      for (const event of decoder.push(chunk)) {
        if (event.kind !== 'data') continue;
        dataEvents++;
        assert.equal(event.bytes.buffer, chunk.buffer);
        assert.ok(event.bytes.length <= chunkSize);
      }
    }
    // The first chunk carries 5 header bytes, so the body ends 5 bytes into a 17th chunk.
    assert.equal(dataEvents, 17);
    assert.equal(decoder.messages, 1);
  });

  it('tracks message boundaries through a partial header and a partial body', () => {
    const decoder = decoderFor();
    const message = encodeGrpcMessage(Buffer.from('hello'));
    assert.equal(decoder.atMessageBoundary, true);
    assert.deepEqual(decoder.push(message.subarray(0, 3)), []);
    assert.equal(decoder.atMessageBoundary, false);
    decoder.push(message.subarray(3, 7));
    assert.equal(decoder.atMessageBoundary, false);
    assert.equal(decoder.messages, 0);
    decoder.push(message.subarray(7));
    assert.equal(decoder.atMessageBoundary, true);
    assert.equal(decoder.messages, 1);
    assert.deepEqual(decoder.push(Buffer.alloc(0)), []);
  });

  it('refuses a header claiming 2 GiB on its 5th byte, before any body arrives', () => {
    const decoder = decoderFor(1024);
    const header = Buffer.from([0, 0x80, 0, 0, 0]);
    assert.deepEqual(decoder.push(header.subarray(0, 4)), []);
    let first: unknown;
    assert.throws(
      () => decoder.push(header.subarray(4)),
      (error: unknown) => {
        first = error;
        return (
          error instanceof GatewayError &&
          error.code === 'GW_MESSAGE_TOO_LARGE' &&
          error.message ===
            "gRPC message of 2147483648 bytes is larger than the limit of 1024 bytes (1 KiB); send a smaller message or raise the gateway's message size limit"
        );
      },
    );
    // It stays failed: the same error again, whatever comes next.
    assert.throws(
      () => decoder.push(Buffer.from([1, 2, 3])),
      (error) => error === first,
    );
  });

  it('names the size and the limit in MiB', () => {
    const decoder = decoderFor(128 * 1024 * 1024);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(200_000_000, 1);
    assert.throws(
      () => decoder.push(header),
      (error: unknown) =>
        error instanceof GatewayError &&
        error.grpcStatus === 8 &&
        error.message.startsWith(
          'gRPC message of 200000000 bytes is larger than the limit of 134217728 bytes (128 MiB);',
        ),
    );
  });

  it('accepts a message of exactly the limit', () => {
    const decoder = decoderFor(10);
    const events = decoder.push(encodeGrpcMessage(Buffer.alloc(10)));
    assert.deepEqual(
      events.map((event) => event.kind),
      ['start', 'data', 'end'],
    );
  });

  it('says the stream is not gRPC, and what it looks like instead', () => {
    const cases: [Buffer, string][] = [
      [
        Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
        'the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1): it begins like an HTTP/1 request ("GET /"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port',
      ],
      [
        Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]),
        'the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1): it begins with a TLS record (16 03 01 02 00), so the client speaks TLS to a plaintext port; connect without TLS or enable TLS on the gateway',
      ],
      [
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        'the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1): it begins with the HTTP/2 connection preface, which belongs to the HTTP/2 layer, not inside a gRPC stream',
      ],
      [
        Buffer.from([2, 0, 0, 0, 1, 9]),
        'the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1): it begins with 02 00 00 00 01',
      ],
    ];
    for (const [bytes, message] of cases) {
      // Byte by byte gives the same verdict as all at once.
      for (const chunks of [[bytes], [...bytes].map((byte) => Buffer.from([byte]))]) {
        const decoder = decoderFor(16);
        assert.throws(
          () => pushAll(decoder, chunks),
          (error: unknown) =>
            error instanceof GatewayError &&
            error.code === 'GW_MALFORMED_MESSAGE' &&
            error.message === message,
        );
      }
    }
  });

  it('random bytes end in messages or a GatewayError, never anything else', () => {
    const random = prng(42);
    let failures = 0;
    for (let round = 0; round < 2000; round++) {
      const decoder = decoderFor(4096);
      const bytes = Buffer.from(Array.from({ length: 1 + random(300) }, () => random(256)));
      // Mostly valid flags, so that the length check and bodies get exercised too.
      if (random(4) !== 0) bytes[0] = random(2);
      const events: GrpcMessageEvent[] = [];
      try {
        for (let at = 0; at < bytes.length;) {
          const size = 1 + random(64);
          events.push(...decoder.push(bytes.subarray(at, at + size)));
          at += size;
        }
        messagesOf(events);
      } catch (error) {
        assert.ok(error instanceof GatewayError, String(error));
        failures++;
      }
    }
    assert.ok(failures > 0 && failures < 2000, `${failures} failures`);
  });
});
