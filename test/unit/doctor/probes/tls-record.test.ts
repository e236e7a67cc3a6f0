// A server's TLS flight in raw bytes: alerts, the negotiated version, and in TLS 1.2 the
// certificate chain and the CertificateRequest, across record boundaries; garbage never throws.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  completeRecordBytes,
  looksLikeTlsRecord,
  readServerFlight,
} from '../../../../src/doctor/probes/wire/tls-record.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

function record(type: number, body: Buffer): Buffer {
  const head = Buffer.from([type, 3, 3, 0, 0]);
  head.writeUInt16BE(body.length, 3);
  return Buffer.concat([head, body]);
}

function handshake(type: number, body: Buffer): Buffer {
  const head = Buffer.from([type, 0, 0, 0]);
  head.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([head, body]);
}

const serverHello12 = handshake(
  2,
  Buffer.concat([hex('03 03'), Buffer.alloc(32, 7), hex('00 c0 2f 00')]),
);
const der = Buffer.from('a certificate in DER');
const certificateList = (() => {
  const entry = Buffer.concat([Buffer.from([0, 0, der.length]), der]);
  return handshake(11, Buffer.concat([Buffer.from([0, 0, entry.length]), entry]));
})();
const certificateRequest = handshake(13, hex('01 40 00 00'));

describe('readServerFlight', () => {
  it('reads a TLS 1.2 flight: version, certificate and the request for one', () => {
    const bytes = Buffer.concat([
      record(22, serverHello12),
      record(22, Buffer.concat([certificateList, certificateRequest])),
      record(21, hex('02 28')),
    ]);
    const flight = readServerFlight(bytes);
    assert.ok(flight);
    assert.equal(flight.version, 'TLSv1.2');
    assert.equal(flight.records, 3);
    assert.equal(flight.certificateRequested, true);
    assert.deepEqual(flight.certificates, [der]);
    assert.deepEqual(flight.alert, { level: 'fatal', description: 40, name: 'handshake_failure' });
  });

  it('joins a handshake message split across records', () => {
    const messages = Buffer.concat([serverHello12, certificateList]);
    const bytes = Buffer.concat([
      record(22, messages.subarray(0, 20)),
      record(22, messages.subarray(20)),
    ]);
    assert.deepEqual(readServerFlight(bytes)?.certificates, [der]);
  });

  it('stops at ChangeCipherSpec: what follows is encrypted', () => {
    const bytes = Buffer.concat([
      record(22, serverHello12),
      record(20, hex('01')),
      record(22, certificateRequest),
    ]);
    assert.equal(readServerFlight(bytes)?.certificateRequested, false);
  });

  it('reads the TLS 1.3 version from supported_versions', () => {
    const hello = handshake(
      2,
      Buffer.concat([hex('03 03'), Buffer.alloc(32), hex('00 13 01 00 00 06 00 2b 00 02 03 04')]),
    );
    assert.equal(readServerFlight(record(22, hello))?.version, 'TLSv1.3');
  });

  it('says undefined for bytes that are not TLS, and never throws on garbage', () => {
    assert.equal(readServerFlight(Buffer.from('HTTP/1.1 400')), undefined);
    assert.equal(looksLikeTlsRecord(hex('16 03 05')), false, 'no TLS 1.5');
    assert.equal(looksLikeTlsRecord(hex('16 03 03 ff ff')), false, 'record too long');
    for (let round = 0; round < 2000; round++) {
      const noise = Buffer.concat([hex('16 03 03'), randomBytes(round % 300)]);
      readServerFlight(noise);
    }
  });

  it('counts the bytes of complete records', () => {
    const alert = record(21, hex('02 74'));
    assert.equal(completeRecordBytes(alert.subarray(0, 6)), 0);
    assert.equal(completeRecordBytes(Buffer.concat([alert, alert.subarray(0, 3)])), 7);
  });
});
