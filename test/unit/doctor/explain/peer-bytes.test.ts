// "Too large frame: N" decoded back to the 8 bytes the peer sent (N + 8, big-endian), and who
// sends such bytes. The first three numbers were logged by Spark 3.5.9 and 4.0.5 shuffle services
// receiving an HTTP/2 preface, an HTTP GET and a TLS ClientHello.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  bytesOfReportedFrameSize,
  decodeReportedFrameSize,
  printable,
} from '../../../../src/doctor/explain/peer-bytes.ts';

describe('decodeReportedFrameSize', () => {
  for (const [reported, hex, text, kind] of [
    ['5787768873619048524', '505249202a204854', 'PRI * HT', 'http2-preface'],
    ['5135603447292250188', '474554202f204854', 'GET / HT', 'http1-request'],
    ['1586112619834572798', '160301062f010006', '..../...', 'tls-client-hello'],
    ['5211883372140375593', '485454502f312e31', 'HTTP/1.1', 'http1-response'],
    ['-9223090557583097852', '800100010000000c', '........', 'thrift-binary'],
    ['72057594127076409', '0100000005504c41', '.....PLA', 'thrift-sasl'],
    ['2241971176', '0000000085a1c3f0', '........', 'spark-frame'],
    ['1514057198295197688', '1503030002022800', '......(.', 'tls-alert'],
    ['1586114793390079992', '1603030041020000', '....A...', 'tls-server-hello'],
    ['6004222087167619109', '5353482d322e302d', 'SSH-2.0-', 'ssh'],
    ['-7188217831219303156', '9c3e51f7a20b6d14', '.>Q...m.', 'unknown'],
  ] as const) {
    it(`${reported} → ${hex} "${text}" (${kind})`, () => {
      const peer = decodeReportedFrameSize(BigInt(reported));
      assert.equal(peer.hex, hex);
      assert.equal(peer.text, text);
      assert.equal(peer.kind, kind);
      assert.ok(peer.sender.length > 10);
    });
  }

  it('gives back any 8 bytes a peer sent, negative lengths included', () => {
    for (let round = 0; round < 1000; round += 1) {
      const sent = randomBytes(8);
      const reported = sent.readBigInt64BE(0) - 8n;
      assert.deepEqual(Buffer.from(bytesOfReportedFrameSize(reported)), sent);
    }
  });

  it('wraps at the ends of the 64-bit range', () => {
    const top = bytesOfReportedFrameSize(2n ** 63n - 1n);
    assert.equal(Buffer.from(top).toString('hex'), '8000000000000007');
    const bottom = bytesOfReportedFrameSize(-(2n ** 63n));
    assert.equal(Buffer.from(bottom).toString('hex'), '8000000000000008');
  });
});

describe('printable', () => {
  it('keeps printable ASCII and dots the rest', () => {
    assert.equal(printable(Uint8Array.from([0x41, 0x20, 0x7e, 0x7f, 0x00, 0xff])), 'A ~...');
  });
});
