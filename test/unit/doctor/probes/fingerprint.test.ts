// Which protocol answered, from a server's first bytes: TLS alerts and ServerHellos, HTTP/1 status
// lines, HTTP/2 SETTINGS, Spark RPC frames, Thrift SASL and binary replies, banners and garbage;
// for every chunk boundary and for random bytes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  describeAnswer,
  hexPrefix,
  identifyAnswer,
  printable,
} from '../../../../src/doctor/probes/wire/fingerprint.ts';
import { encodeMessage } from '../../../../src/shuffle/protocol/messages.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Envoy's reply to bytes its HTTP/1 codec cannot parse (envoyproxy/envoy#37268). */
const ENVOY_400 = Buffer.from(
  'HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n' +
    'date: Thu, 01 Jan 2026 00:00:00 GMT\r\nserver: envoy\r\nconnection: close\r\n\r\nBad Request',
);
/** A server's connection preface: SETTINGS (3 settings), then GOAWAY PROTOCOL_ERROR. */
const H2_SETTINGS_GOAWAY = Buffer.concat([
  hex('00 00 12 04 00 00 00 00 00  00 03 00 00 00 64  00 04 00 00 ff ff  00 06 00 00 20 00'),
  hex('00 00 13 07 00 00 00 00 00  00 00 00 00 00 00 00 01'),
  Buffer.from('bad preface'),
]);
/** A fatal certificate_required alert (TLS 1.3 writes version 03 03). */
const TLS_ALERT = hex('15 03 03 00 02 02 74');
/** Thrift SASL: BAD "Unsupported mechanism type X". */
const SASL_BAD = Buffer.concat([
  hex('03 00 00 00 1e'),
  Buffer.from('Unsupported mechanism type X!!'),
]);
/** Thrift binary EXCEPTION reply to `probe`, seqid 1: TApplicationException(msg, UNKNOWN_METHOD). */
function thriftException(framed: boolean): Buffer {
  const message = Buffer.from("Invalid method name: 'probe'");
  const body = Buffer.concat([
    hex('80 01 00 03 00 00 00 05'),
    Buffer.from('probe'),
    hex('00 00 00 01'),
    hex('0b 00 01'),
    Buffer.from([0, 0, 0, message.length]),
    message,
    hex('08 00 02 00 00 00 01 00'),
  ]);
  if (!framed) return body;
  const length = Buffer.alloc(4);
  length.writeInt32BE(body.length);
  return Buffer.concat([length, body]);
}
const RPC_FAILURE = encodeMessage({
  type: 'RpcFailure',
  requestId: 1234567n,
  error: 'java.lang.IllegalArgumentException: Unknown message type: 127\n\tat org.apache.spark…',
});

const SAMPLES: { name: string; bytes: Buffer; kind: string; described: RegExp }[] = [
  {
    name: 'an Envoy 400',
    bytes: ENVOY_400,
    kind: 'http1',
    described: /^HTTP\/1\.1 400 Bad Request, server: envoy$/,
  },
  {
    name: 'HTTP/2 SETTINGS + GOAWAY',
    bytes: H2_SETTINGS_GOAWAY,
    kind: 'http2',
    described: /GOAWAY PROTOCOL_ERROR: bad preface/,
  },
  {
    name: 'a TLS alert',
    bytes: TLS_ALERT,
    kind: 'tls',
    described: /TLS alert \(certificate_required\)/,
  },
  {
    name: 'a Thrift SASL BAD',
    bytes: SASL_BAD,
    kind: 'thrift-sasl',
    described: /BAD "Unsupported mechanism type X!!"/,
  },
  {
    name: 'a Thrift exception',
    bytes: thriftException(false),
    kind: 'thrift-binary',
    described: /^Thrift binary \(TApplicationException "Invalid method name: 'probe'"\)$/,
  },
  {
    name: 'a framed Thrift exception',
    bytes: thriftException(true),
    kind: 'thrift-binary',
    described: /^Thrift framed binary/,
  },
  {
    name: 'a Spark RpcFailure',
    bytes: RPC_FAILURE,
    kind: 'spark-rpc',
    described:
      /^Spark RPC \(RpcFailure: java\.lang\.IllegalArgumentException: Unknown message type: 127\)$/,
  },
  {
    name: 'an SSH banner',
    bytes: Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'),
    kind: 'text',
    described: /^text "SSH-2\.0-OpenSSH_9\.6"$/,
  },
];

describe('identifyAnswer', () => {
  for (const sample of SAMPLES) {
    it(`names ${sample.name}`, () => {
      const { answer, complete } = identifyAnswer(sample.bytes);
      assert.equal(answer.kind, sample.kind);
      assert.ok(complete);
      assert.match(describeAnswer(answer), sample.described);
    });

    it(`is not complete on a prefix of ${sample.name}, whatever the split`, () => {
      // The answer is judged on what arrived so far: no prefix may claim to be the whole of a
      // different protocol's answer.
      for (let cut = 0; cut < sample.bytes.length; cut++) {
        const { answer, complete } = identifyAnswer(sample.bytes.subarray(0, cut));
        if (complete) assert.equal(answer.kind, sample.kind, `prefix of ${String(cut)} bytes`);
      }
    });
  }

  it('reads the TLS alert in a server flight, and the handshake without one', () => {
    const serverHello = hex(
      '16 03 03 00 32 02 00 00 2e 03 03' + '11'.repeat(32) + '00 13 01 00 00 06 00 2b 00 02 03 04',
    );
    const { answer } = identifyAnswer(serverHello);
    assert.equal(answer.kind, 'tls');
    assert.equal(answer.flight.version, 'TLSv1.3');
    assert.equal(describeAnswer(answer), 'a TLS handshake');
  });

  it('keeps the head and the start of the body of an HTTP answer', () => {
    const reply = Buffer.from(
      'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 19\r\nserver: envoy\r\n\r\nno healthy upstream',
    );
    const { answer, complete } = identifyAnswer(reply);
    assert.ok(complete);
    assert.equal(answer.kind, 'http1');
    assert.equal(answer.body, 'no healthy upstream');
    // Without the body yet, the answer waits for it.
    assert.equal(identifyAnswer(reply.subarray(0, reply.length - 5)).complete, false);
  });

  it('treats an HTTP head that never completes as a partial HTTP answer', () => {
    const { answer, complete } = identifyAnswer(Buffer.from('HTTP/1.1 200 OK\r\nserver: x\r\n'));
    assert.equal(complete, false);
    assert.equal(answer.kind, 'http1-partial');
    assert.match(describeAnswer(answer), /HTTP\/1 response \("HTTP\/1\.1 200 OK"\)/);
  });

  it('calls binary garbage unknown and shows it in hex', () => {
    const { answer, complete } = identifyAnswer(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.equal(answer.kind, 'unknown');
    assert.equal(complete, false, 'a few unknown bytes may still become something');
    assert.match(describeAnswer(answer), /de ad be ef/);
    assert.ok(identifyAnswer(randomBytesNot(128)).complete);
  });

  it('never throws on random bytes, and always names something', () => {
    for (let round = 0; round < 2000; round++) {
      const bytes = randomBytes(round % 97);
      // A few rounds start like each protocol, then turn to noise.
      const prefixes = [
        hex('16 03 03'),
        hex('80 01 00 03'),
        hex('00 00 00 00 00 00 00 20 05'),
        hex('03 00 00'),
        Buffer.from('HTTP/1.1 '),
      ];
      const input =
        round % 5 === 0
          ? Buffer.concat([prefixes[round % prefixes.length] ?? Buffer.alloc(0), bytes])
          : bytes;
      const { answer } = identifyAnswer(input);
      assert.ok(describeAnswer(answer).length > 0);
    }
  });

  it('shows bytes as hex and as printable text', () => {
    assert.equal(hexPrefix(Buffer.from([1, 2, 255])), '01 02 ff');
    assert.match(hexPrefix(Buffer.alloc(40)), / …$/);
    assert.equal(printable(Buffer.from('ab\x00c')), 'ab.c');
  });
});

/** Random bytes that cannot be read as text or a known protocol's first byte. */
function randomBytesNot(length: number): Buffer {
  const bytes = randomBytes(length);
  bytes[0] = 0xfe;
  return bytes;
}
