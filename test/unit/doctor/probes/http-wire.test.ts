// HTTP/1 heads and HTTP/2 server prefaces in raw bytes, and Envoy's marks on an answer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeHttp1Head,
  encodeHttp1Get,
  envoyMarks,
  readHttp1Head,
  wantedBodyBytes,
} from '../../../../src/doctor/probes/wire/http1.ts';
import { readHttp2ServerStart } from '../../../../src/doctor/probes/wire/http2.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

describe('HTTP/1 heads', () => {
  const reply = Buffer.from(
    'HTTP/1.1 503 Service Unavailable\r\nServer: envoy\r\nX-Envoy-Upstream-Service-Time: 3\r\n' +
      'Content-Length: 91\r\n\r\nupstream connect error or disconnect/reset before headers. reset reason: connection failure',
  );

  it('reads the status line and headers, and where the body starts', () => {
    const read = readHttp1Head(reply);
    assert.equal(read.kind, 'head');
    assert.equal(read.head.status, 503);
    assert.equal(read.head.headers.get('server'), 'envoy');
    assert.equal(describeHttp1Head(read.head), 'HTTP/1.1 503 Service Unavailable, server: envoy');
    assert.equal(wantedBodyBytes(read.head), 91);
    const body = reply.subarray(read.head.bodyOffset).toString();
    assert.deepEqual(envoyMarks(read.head, body), [
      'server: envoy',
      'x-envoy-upstream-service-time',
      'body: upstream connect error',
    ]);
  });

  it('says partial for every prefix of the head, and not-http for anything else', () => {
    const headEnd = reply.indexOf('\r\n\r\n') + 4;
    for (let cut = 0; cut < headEnd; cut++)
      assert.equal(readHttp1Head(reply.subarray(0, cut)).kind, 'partial', `cut at ${String(cut)}`);
    assert.equal(readHttp1Head(Buffer.from('HTTP/2 200\r\n')).kind, 'not-http');
    assert.equal(readHttp1Head(Buffer.from('HTTPX')).kind, 'not-http');
    assert.equal(readHttp1Head(Buffer.from('HTTP/1.1 2xx nope\r\n\r\n')).kind, 'not-http');
    assert.equal(readHttp1Head(Buffer.from('SSH-2.0')).kind, 'not-http');
  });

  it('waits for no body on 204, 304 and bodies without a length', () => {
    const head = (text: string) => {
      const read = readHttp1Head(Buffer.from(text));
      assert.equal(read.kind, 'head');
      return read.head;
    };
    const noContent = head('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    assert.equal(wantedBodyBytes(noContent), 0);
    const chunked = head('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.equal(wantedBodyBytes(chunked), 0);
    const big = head('HTTP/1.0 200 OK\r\nContent-Length: 99999\r\n\r\n');
    assert.equal(wantedBodyBytes(big), 1024);
  });

  it('writes a GET that asks the server to close', () => {
    const text = encodeHttp1Get('ui.internal:4040').toString();
    assert.match(text, /^GET \/ HTTP\/1\.1\r\nHost: ui\.internal:4040\r\n/);
    assert.match(text, /Connection: close\r\n\r\n$/);
  });
});

describe('HTTP/2 server preface', () => {
  it('recognises an empty and a full SETTINGS frame', () => {
    assert.deepEqual(readHttp2ServerStart(hex('00 00 00 04 00 00 00 00 00')), { settingsBytes: 0 });
    assert.deepEqual(readHttp2ServerStart(hex('00 00 06 04 00 00 00 00 00 00 03 00 00 00 64')), {
      settingsBytes: 6,
    });
  });

  it('reads a GOAWAY that follows', () => {
    const start = readHttp2ServerStart(
      hex('00 00 00 04 00 00 00 00 00  00 00 08 07 00 00 00 00 00  00 00 00 00 00 00 00 0d'),
    );
    assert.deepEqual(start, {
      settingsBytes: 0,
      goaway: { error: 'HTTP_1_1_REQUIRED', debug: '' },
    });
  });

  it('says partial on a short prefix and rejects other first frames', () => {
    assert.equal(readHttp2ServerStart(hex('00 00')), 'partial');
    assert.equal(readHttp2ServerStart(hex('00 00 00 01 04')), undefined, 'HEADERS first');
    assert.equal(readHttp2ServerStart(hex('00 00 05 04 00 00 00 00 00')), undefined, 'length 5');
    assert.equal(readHttp2ServerStart(hex('00 00 00 04 00 00 00 00 01')), undefined, 'stream 1');
    assert.equal(readHttp2ServerStart(Buffer.from('HTTP/1.1 400')), undefined);
  });
});
