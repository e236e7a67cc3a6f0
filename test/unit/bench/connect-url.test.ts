// Spark Connect URLs as PySpark 4.x's DefaultChannelBuilder reads them: what it accepts, with the
// values it takes from them, and what it refuses, with why. Each case was checked against
// PySpark 4.3.0's own DefaultChannelBuilder; port 0 is the one deliberate difference.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseConnectUrl,
  redactConnectUrl,
  type ConnectUrl,
} from '../../../src/bench/connect-url.ts';

function accept(text: string, env: NodeJS.ProcessEnv = {}): ConnectUrl {
  const result = parseConnectUrl(text, env);
  if (!result.ok) assert.fail(`${text} was refused: ${result.problem}`);
  return result.url;
}

function refuse(text: string, problem: RegExp): void {
  const result = parseConnectUrl(text);
  if (result.ok) assert.fail(`${text} was accepted`);
  assert.match(result.problem, problem);
}

describe('parseConnectUrl', () => {
  it('takes the host and port, and 15002 when there is no port', () => {
    assert.deepEqual(accept('sc://localhost'), {
      host: 'localhost',
      port: 15002,
      tls: false,
      metadata: {},
      endpoint: 'localhost:15002',
    });
    const url = accept('sc://10.0.0.5:443/');
    assert.equal(url.host, '10.0.0.5');
    assert.equal(url.port, 443);
    assert.equal(accept('sc://host:').port, 15002, 'an empty port is no port');
  });

  it('lowercases the host name as urlparse does', () => {
    assert.equal(accept('sc://Spark-Gateway.EXAMPLE.com:15002').host, 'spark-gateway.example.com');
  });

  it('takes IPv6 addresses in brackets only', () => {
    const url = accept('sc://[::1]:15003');
    assert.equal(url.host, '::1');
    assert.equal(url.port, 15003);
    assert.equal(url.endpoint, '[::1]:15003');
    assert.equal(accept('sc://[fe80::1]').port, 15002);
    refuse('sc://::1:15002', /host name is missing/);
    refuse('sc://[::1:15002', /IPv6/);
    refuse('sc://[not-an-address]:15002', /not a valid IPv6 address/);
  });

  it('reads the parameters after the path, percent-decoding their values', () => {
    const url = accept('sc://host:15002/;user_id=alice;token=abc%3D%3D;x-trace=on;user_agent=nb');
    assert.equal(url.userId, 'alice');
    assert.equal(url.token, 'abc==');
    assert.equal(url.userAgent, 'nb');
    assert.deepEqual(url.metadata, { 'x-trace': 'on' });
  });

  it('keeps the grpc keepalive parameters out of the metadata, as PySpark does', () => {
    const url = accept('sc://host/;grpc_keepalive_time_ms=30000;grpc_keepalive_enabled=false');
    assert.deepEqual(url.metadata, {});
  });

  it('uses TLS for use_ssl=true (any case) and for a token, except a token to localhost', () => {
    assert.equal(accept('sc://host/;use_ssl=true').tls, true);
    assert.equal(accept('sc://host/;use_ssl=TRUE').tls, true);
    assert.equal(accept('sc://host/;use_ssl=yes').tls, false);
    assert.equal(accept('sc://host/;token=t').tls, true);
    // PySpark 4.x sends a token to localhost over local (cleartext) channel credentials.
    assert.equal(accept('sc://localhost/;token=t').tls, false);
    assert.equal(accept('sc://localhost/;token=t;use_ssl=true').tls, true);
  });

  it('takes the token from SPARK_CONNECT_AUTHENTICATE_TOKEN when the URL has none', () => {
    const env = { SPARK_CONNECT_AUTHENTICATE_TOKEN: 'from-env' };
    assert.equal(accept('sc://host', env).token, 'from-env');
    assert.equal(accept('sc://host', env).tls, true);
    assert.equal(accept('sc://host/;token=url', env).token, 'url');
  });

  it('ignores a query and a fragment, which PySpark never reads', () => {
    assert.equal(accept('sc://host:1234/?a=b#frag').port, 1234);
    assert.equal(accept('sc://host:1234/;user_id=u?x=1').userId, 'u');
  });

  it('lets a later parameter win over an earlier one', () => {
    assert.equal(accept('sc://host/;user_id=a;user_id=b').userId, 'b');
  });

  it('accepts an empty parameter list after the semicolon', () => {
    assert.deepEqual(accept('sc://host/;').metadata, {});
  });

  it('accepts a session_id that is a UUID and refuses one that is not', () => {
    const id = '8d4c6a7e-7a1f-4d7c-9a63-3f0bd5f0e9a1';
    assert.equal(accept(`sc://host/;session_id=${id}`).sessionId, id);
    refuse('sc://host/;session_id=abc', /must be a UUID/);
  });

  it('refuses what PySpark refuses', () => {
    refuse('http://host:15002', /must start with 'sc:\/\/'/);
    refuse('SC://host:15002', /must start with 'sc:\/\/'/);
    refuse('sc://', /host name is missing/);
    refuse('sc://:15002', /host name is missing/);
    refuse('sc://host:15002/path', /path component '\/path' must be empty/);
    refuse('sc://host/a/;token=t', /path component '\/a\/' must be empty/);
    refuse('sc://host:abc', /port 'abc' is not a number/);
    refuse('sc://host:-1', /not a number/);
    refuse('sc://host:1:2', /port '1:2' is not a number/);
    refuse('sc://host:70000', /out of range/);
    refuse('sc://host:15002;token=t', /not a number/);
    refuse('sc://host/;token', /must be one key=value pair/);
    refuse('sc://host/;token=a=b', /must be one key=value pair/);
    refuse('sc://host/;;user_id=a', /must be one key=value pair/);
  });

  it('refuses port 0, which nothing can be reached on', () => {
    refuse('sc://host:0', /port 0/);
  });

  it('refuses parameters that cannot be gRPC metadata keys', () => {
    refuse('sc://host/;X-Trace=1', /gRPC metadata/);
  });

  it('takes the credentials part off the host, as urlparse does', () => {
    assert.equal(accept('sc://someone@host:15002').host, 'host');
  });
});

describe('redactConnectUrl', () => {
  it('hides the token and keeps the rest', () => {
    assert.equal(
      redactConnectUrl('sc://h:1/;token=secret;user_id=u'),
      'sc://h:1/;token=***;user_id=u',
    );
    assert.equal(redactConnectUrl('sc://h:1'), 'sc://h:1');
  });
});
