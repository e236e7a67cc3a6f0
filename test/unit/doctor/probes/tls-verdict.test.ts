// The TLS layer's rules over what a ClientHello produced: plaintext services, TLS where plaintext
// is expected, mutual TLS with and without a mesh identity (TLS 1.3 alert after the handshake, TLS
// 1.2 CertificateRequest in clear), resets, silence and failed handshakes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alertOfErrorCode,
  classifyTls,
  type TlsObservation,
} from '../../../../src/doctor/probes/tls-verdict.ts';
import type { ServiceName } from '../../../../src/doctor/targets.ts';

const endpoint = { address: '10.0.2.7', port: 7337 };
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const meshCertificate = {
  subject: 'O=cluster.local',
  issuer: 'O=cluster.local',
  subjectAltName: 'URI:spiffe://cluster.local/ns/spark/sa/shuffle',
  validTo: 'Jan  2 00:00:00 2027 GMT',
  spiffeId: 'spiffe://cluster.local/ns/spark/sa/shuffle',
};

function verdict(service: ServiceName, seen: Partial<TlsObservation>) {
  return classifyTls({ host: 'ess.internal', port: 7337, service }, endpoint, {
    handshake: 'failed',
    raw: Buffer.alloc(0),
    elapsedMs: 5,
    ...seen,
  });
}

describe('classifyTls', () => {
  it('reads Node error codes as alert names', () => {
    assert.equal(
      alertOfErrorCode('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
      'certificate_required',
    );
    assert.equal(alertOfErrorCode('ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE'), 'handshake_failure');
    assert.equal(alertOfErrorCode('ERR_SSL_WRONG_VERSION_NUMBER'), undefined);
  });

  it('calls a TLS 1.3 server with a SPIFFE identity that wants a client certificate mesh mTLS', () => {
    const result = verdict('spark-shuffle', {
      handshake: 'complete',
      protocol: 'TLSv1.3',
      certificate: meshCertificate,
      postHandshakeError: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    });
    assert.equal(result.check.reason, 'mesh-mtls');
    assert.equal(result.check.status, 'fail');
    assert.equal(result.proceed, false);
    assert.equal(result.check.evidence.spiffeId, meshCertificate.spiffeId);
    const istio = result.check.fix?.snippets?.find((snippet) => snippet.platform === 'istio-yaml');
    assert.match(istio?.text ?? '', /portLevelMtls:\n {4}7337:\n {6}mode: PERMISSIVE/);
  });

  it('sees the CertificateRequest of a TLS 1.2 server in clear', () => {
    // ServerHello, then a CertificateRequest (type 13), then the handshake_failure alert.
    const raw = Buffer.concat([
      hex('16 03 03 00 2a 02 00 00 26 03 03' + '22'.repeat(32) + '00 c0 2f 00'),
      hex('16 03 03 00 08 0d 00 00 04 01 40 00 00'),
      hex('15 03 03 00 02 02 28'),
    ]);
    const result = verdict('hive-thrift', {
      raw,
      errorCode: 'ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE',
    });
    assert.equal(result.check.reason, 'client-cert-required');
    assert.match(result.check.fix?.snippets?.[0]?.text ?? '', /twoWay=true/);
  });

  it('says TLS is required where the service is plaintext, and probes inside TLS', () => {
    const result = verdict('hive-thrift', {
      handshake: 'complete',
      protocol: 'TLSv1.3',
      alpn: 'none',
      certificate: { subject: 'CN=hs2', issuer: 'CN=ca', subjectAltName: 'DNS:hs2', validTo: 'x' },
    });
    assert.equal(result.check.reason, 'tls-required');
    assert.equal(result.check.status, 'warn');
    assert.deepEqual([result.proceed, result.secure], [true, true]);
    assert.match(result.check.fix?.snippets?.[0]?.text ?? '', /;ssl=true/);
  });

  it('passes TLS on an HTTPS port, and fails plaintext there naming what answered', () => {
    assert.equal(
      verdict('https', { handshake: 'complete', protocol: 'TLSv1.3' }).check.reason,
      'tls-ok',
    );
    const plain = verdict('https', {
      errorCode: 'ERR_SSL_WRONG_VERSION_NUMBER',
      raw: Buffer.from('HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n'),
    });
    assert.equal(plain.check.reason, 'plaintext');
    assert.equal(plain.check.status, 'fail');
    assert.match(plain.check.summary, /HTTP\/1\.1 400 Bad Request, server: nginx/);
    assert.equal(plain.proceed, false);
  });

  it('takes a close without an answer as plaintext on a plaintext port', () => {
    const result = verdict('spark-shuffle', { peerEnd: 'fin', errorCode: 'ECONNRESET' });
    assert.equal(result.check.reason, 'plaintext');
    assert.equal(result.check.status, 'pass');
    assert.deepEqual([result.proceed, result.secure], [true, false]);
  });

  it('takes a reset on the ClientHello as a redirecting sidecar', () => {
    const result = verdict('spark-shuffle', { peerEnd: 'reset', errorCode: 'ECONNRESET' });
    assert.equal(result.check.reason, 'reset-after-connect');
    assert.equal(result.proceed, false);
  });

  it('takes silence until its own limit as no TLS, silence cut by the deadline as unknown', () => {
    const quiet = verdict('hive-thrift', {
      handshake: 'silent',
      timedOut: { end: 'limit', waitedMs: 1500 },
    });
    assert.equal(quiet.check.reason, 'plaintext');
    const cut = verdict('hive-thrift', {
      handshake: 'silent',
      timedOut: { end: 'deadline', waitedMs: 80 },
    });
    assert.equal(cut.check.reason, 'timeout');
    assert.equal(cut.proceed, false);
    const https = verdict('https', {
      handshake: 'silent',
      timedOut: { end: 'limit', waitedMs: 1500 },
    });
    assert.equal(https.check.reason, 'no-answer');
  });

  it('reports a TLS server whose handshake fails for another reason', () => {
    const result = verdict('https', {
      raw: hex('15 03 01 00 02 02 46'),
      errorCode: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    });
    assert.equal(result.check.reason, 'tls-handshake-failed');
    assert.match(result.check.summary, /protocol_version/);
  });

  it('reports the connect of the TLS probe failing like the transport layer does', () => {
    const result = verdict('spark-shuffle', { connectErrno: 'ECONNREFUSED' });
    assert.equal(result.check.reason, 'refused');
    assert.equal(result.check.status, 'fail');
  });
});
