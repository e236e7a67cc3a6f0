// The HPACK codec against nghttp2, the codec inside node:http2. The decoder reads what nghttp2's
// encoder really puts on the wire (dynamic table filling and evicting, Huffman, CONTINUATION, a
// table size update), and nghttp2's decoder reads the stateless encoder's blocks interleaved
// with replayed nghttp2 blocks on one connection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  createHpackDecoder,
  encodeHeaderBlock,
  type HeaderField,
} from '../../../src/gateway/wire/hpack.ts';
import { activeResources, assertNothingLeaked, type ResourceCounts } from '../../support/leaks.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const SETTINGS = 0x4;
const GOAWAY = 0x7;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
const ACK = 0x1;
const MAX_FRAME = 16_384;
// The server announces a small table, so the client's encoder must send a size update and evict.
const SERVER_TABLE = 1024;
const SERVICE = '/spark.connect.SparkConnectService';

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits bytes into whole frames; returns them and how many bytes they took. */
function framesOf(bytes: Buffer, from = 0): { frames: Frame[]; used: number } {
  const frames: Frame[] = [];
  let at = from;
  while (at + 9 <= bytes.length) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    frames.push({
      type: bytes[at + 3] ?? 0,
      flags: bytes[at + 4] ?? 0,
      streamId: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return { frames, used: at };
}

interface HeaderBlock {
  streamId: number;
  block: Buffer;
  frames: number;
}

/** Joins each HEADERS frame (padding and priority removed) with its CONTINUATION frames. */
function headerBlocksOf(frames: Frame[]): HeaderBlock[] {
  const blocks: HeaderBlock[] = [];
  let open: { streamId: number; parts: Buffer[] } | undefined;
  for (const { type, flags, streamId, payload } of frames) {
    if (type === HEADERS) {
      assert.equal(open, undefined, 'HEADERS inside an open header block');
      const padding = (flags & PADDED) !== 0 ? (payload[0] ?? 0) : 0;
      const start = ((flags & PADDED) !== 0 ? 1 : 0) + ((flags & PRIORITY) !== 0 ? 5 : 0);
      open = { streamId, parts: [payload.subarray(start, payload.length - padding)] };
    } else if (type === CONTINUATION) {
      assert.equal(open?.streamId, streamId, 'CONTINUATION outside its header block');
      open.parts.push(payload);
    } else continue;
    if ((flags & END_HEADERS) !== 0) {
      blocks.push({ streamId, block: Buffer.concat(open.parts), frames: open.parts.length });
      open = undefined;
    }
  }
  return blocks;
}

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** A request's HEADERS frame, with CONTINUATION frames when the block exceeds one frame. */
function requestFrames(streamId: number, block: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += MAX_FRAME) {
    const last = at + MAX_FRAME >= block.length ? END_HEADERS : 0;
    const chunk = block.subarray(at, at + MAX_FRAME);
    parts.push(
      at === 0
        ? frame(HEADERS, END_STREAM | last, streamId, chunk)
        : frame(CONTINUATION, last, streamId, chunk),
    );
  }
  return Buffer.concat(parts);
}

function pairs(raw: string[]): HeaderField[] {
  const fields: HeaderField[] = [];
  for (let index = 0; index + 1 < raw.length; index += 2)
    fields.push([raw[index] ?? '', raw[index + 1] ?? '']);
  return fields;
}

async function listen(server: net.Server | http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

async function close(server: net.Server | http2.Http2Server): Promise<void> {
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

/** Resolves once `done()` holds, checking every 10 ms for at most `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * Printable ASCII in a rotating order, so every common Huffman code appears. Bracketed because
 * nghttp2 silently drops a field whose value starts or ends with a space (RFC 9113 §8.2.1).
 */
const printable = (shift: number): string =>
  `<${Array.from({ length: 95 }, (_, index) => String.fromCharCode(32 + ((index + shift) % 95))).join('')}>`;
// 20 KB that Huffman coding barely shrinks: its block must span two frames.
const HUGE = printable(0).repeat(206);

/** Compares field lists, naming the first difference without printing 20 KB values. */
function assertSameFields(
  actual: readonly HeaderField[] | undefined,
  expected: readonly HeaderField[] | undefined,
  what: string,
): void {
  const show = (field: HeaderField | undefined): string =>
    field === undefined
      ? 'nothing'
      : `${field[0]}: ${field[1].slice(0, 60)} (${field[1].length} bytes)`;
  assert.ok(actual !== undefined && expected !== undefined, `${what}: missing`);
  for (let index = 0; index < Math.max(actual.length, expected.length); index++) {
    const [got, want] = [actual[index], expected[index]];
    assert.ok(
      got?.[0] === want?.[0] && got?.[1] === want?.[1],
      `${what}, field ${index}: got ${show(got)}, expected ${show(want)}`,
    );
  }
}

function requestHeaders(index: number): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': `${SERVICE}/${['Config', 'ExecutePlan', 'AnalyzePlan'][index % 3] ?? ''}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': 'grpc-python/1.71.0 grpc-c/46.0.0 (linux; chttp2)',
    [`x-session-${index % 7}`]: `4f1c2d3e-${String(index).padStart(4, '0')}`,
    'x-blob': 'b'.repeat(100 + ((index * 37) % 400)),
    authorization: `Bearer token-${index % 3}`,
  };
  if (index % 10 === 3) headers['x-printable'] = printable(index);
  if (index === 25) headers['x-huge'] = HUGE;
  return headers;
}

describe('HPACK against nghttp2 (node:http2)', () => {
  let resources: ResourceCounts;
  const cleanups: (() => Promise<void>)[] = [];
  // Filled by the first test, replayed by the second.
  const captured: { block: Buffer; fields: HeaderField[] }[] = [];

  before(() => {
    resources = activeResources();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await assertNothingLeaked(resources, 'the HPACK interop test');
  });

  it('decodes what nghttp2 sends both ways: requests, responses and trailers', async () => {
    const received = new Map<number, HeaderField[]>();
    const server = http2.createServer({ settings: { headerTableSize: SERVER_TABLE } });
    server.on('stream', (stream, _headers, _flags, raw) => {
      received.set(stream.id ?? -1, pairs(raw));
      const index = received.size;
      const response: http2.OutgoingHttpHeaders = {
        ':status': 200,
        'content-type': 'application/grpc',
        [`x-reply-${index % 5}`]: 'r'.repeat((index * 13) % 300),
      };
      if (index === 40) response['x-huge-reply'] = HUGE;
      stream.respond(response, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': `done ${index}` });
      });
      stream.end('ok');
    });
    const serverPort = await listen(server);
    cleanups.push(() => close(server));

    const toServer: Buffer[] = [];
    const toClient: Buffer[] = [];
    const piped = new Set<net.Socket>();
    const proxy = net.createServer((inbound) => {
      const outbound = net.connect(serverPort, '127.0.0.1');
      for (const socket of [inbound, outbound]) {
        piped.add(socket);
        // Without it, Nagle and delayed ACKs hold each small frame for 40 ms.
        socket.setNoDelay(true);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.on('data', (chunk: Buffer) => {
        toServer.push(chunk);
        outbound.write(chunk);
      });
      outbound.on('data', (chunk: Buffer) => {
        toClient.push(chunk);
        inbound.write(chunk);
      });
    });
    const proxyPort = await listen(proxy);
    cleanups.push(async () => {
      for (const socket of piped) socket.destroy();
      await close(proxy);
    });

    const client = http2.connect(`http://127.0.0.1:${proxyPort}`);
    cleanups.push(async () => {
      if (!client.closed)
        await new Promise<void>((resolve) => {
          client.close(resolve);
        });
    });
    // Only once the server's table size is known does the client encode for it.
    await once(client, 'remoteSettings');
    const responses = new Map<number, HeaderField[]>();
    const trailers = new Map<number, HeaderField[]>();
    for (let index = 0; index < 50; index++) {
      const request = client.request(requestHeaders(index), { endStream: true });
      request.on('response', (_headers, _flags, raw: string[]) => {
        responses.set(request.id ?? -1, pairs(raw));
      });
      request.on('trailers', (_headers, _flags, raw: string[]) => {
        trailers.set(request.id ?? -1, pairs(raw));
      });
      request.resume();
      await once(request, 'close');
    }
    await new Promise<void>((resolve) => {
      client.close(resolve);
    });
    await until(
      () => piped.size === 2 && [...piped].every((s) => s.destroyed),
      3000,
      'proxy close',
    );
    assert.equal(piped.size, 2, 'one connection through the proxy');

    const upstream = Buffer.concat(toServer);
    assert.ok(upstream.subarray(0, PREFACE.length).equals(PREFACE));
    const requestBlocks = headerBlocksOf(framesOf(upstream, PREFACE.length).frames);
    assert.equal(requestBlocks.length, 50);
    // nghttp2 used Huffman or the table: the user agent never appears as plain bytes.
    assert.equal(upstream.indexOf('grpc-python/1.71.0'), -1);
    assert.ok(
      requestBlocks.some(({ frames }) => frames > 1),
      'a request needed CONTINUATION',
    );
    assert.ok((requestBlocks[0]?.block[0] ?? 0) >> 5 === 1, 'the first block resized the table');
    const requestDecoder = createHpackDecoder({ maxTableSize: SERVER_TABLE });
    for (const { streamId, block } of requestBlocks) {
      const fields = requestDecoder.decode(block);
      assertSameFields(fields, received.get(streamId), `request on stream ${streamId}`);
      captured.push({ block, fields });
    }

    const downstream = framesOf(Buffer.concat(toClient)).frames;
    const replyBlocks = headerBlocksOf(downstream);
    assert.equal(replyBlocks.length, 100);
    assert.ok(
      replyBlocks.some(({ frames }) => frames > 1),
      'a response needed CONTINUATION',
    );
    const replyDecoder = createHpackDecoder();
    const seen = new Set<number>();
    for (const { streamId, block } of replyBlocks) {
      const expected = seen.has(streamId) ? trailers.get(streamId) : responses.get(streamId);
      seen.add(streamId);
      assertSameFields(replyDecoder.decode(block), expected, `reply on stream ${streamId}`);
    }
  });

  it('nghttp2 decodes stateless blocks interleaved with replayed nghttp2 blocks', async () => {
    assert.equal(captured.length, 50, 'the capture of the first test');
    const received = new Map<number, HeaderField[]>();
    const server = http2.createServer({ settings: { headerTableSize: SERVER_TABLE } });
    server.on('stream', (stream, _headers, _flags, raw) => {
      received.set(stream.id ?? -1, pairs(raw));
      stream.respond({ ':status': 200 }, { endStream: true });
    });
    server.on('sessionError', () => undefined);
    const port = await listen(server);
    cleanups.push(() => close(server));

    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(async () => {
      socket.destroy();
      if (!socket.closed) await once(socket, 'close');
    });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    let inbound = Buffer.alloc(0);
    let goaway = false;
    socket.on('data', (chunk: Buffer) => {
      inbound = Buffer.concat([inbound, chunk]);
      const { frames, used } = framesOf(inbound);
      inbound = inbound.subarray(used);
      for (const { type, flags } of frames) {
        if (type === SETTINGS && (flags & ACK) === 0)
          socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        if (type === GOAWAY) goaway = true;
      }
    });
    socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(0))]));

    const expected = new Map<number, HeaderField[]>();
    let streamId = 1;
    const send = (block: Buffer, fields: HeaderField[]): void => {
      expected.set(streamId, fields);
      socket.write(requestFrames(streamId, block));
      streamId += 2;
    };
    captured.forEach(({ block, fields }, index) => {
      send(block, fields);
      if (index % 3 !== 0) return;
      const own: HeaderField[] = [
        [':method', 'POST'],
        [':scheme', 'http'],
        [':path', `${SERVICE}/Config`],
        [':authority', `127.0.0.1:${port}`],
        ['content-type', 'application/grpc'],
        ['x-session-1', `stateless-${index}`],
        ['x-blob', 'c'.repeat(index * 20)],
        ['user-agent', printable(index)],
      ];
      if (index === 30) own.push(['x-huge', HUGE]);
      send(encodeHeaderBlock(own), own);
    });
    await until(() => goaway || received.size === expected.size, 5000, 'all streams');
    assert.equal(goaway, false, 'the server closed the connection (a COMPRESSION_ERROR?)');
    assert.equal(received.size, 50 + 17);
    for (const [id, fields] of expected) assertSameFields(received.get(id), fields, `stream ${id}`);
  });
});
