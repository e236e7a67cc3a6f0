// Protocol-layer verdicts from exchanges made up in the test: the shared "not what was asked"
// rules (silence, reset, close, HTTP, TLS, an Envoy proxy without upstream), the Thrift choice
// between SASL, binary and HTTP mode, and Spark's auth refusals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBudget } from '../../../../src/doctor/probes/budget.ts';
import type { ExchangeResult } from '../../../../src/doctor/probes/connection.ts';
import {
  otherAnswerCheck,
  type ProtocolContext,
} from '../../../../src/doctor/probes/protocol-probe.ts';
import { grpcStatusName } from '../../../../src/doctor/probes/spark-connect.ts';
import { isAuthDemand } from '../../../../src/doctor/probes/spark-rpc.ts';
import { thriftVerdict } from '../../../../src/doctor/probes/thrift.ts';
import { identifyAnswer } from '../../../../src/doctor/probes/wire/fingerprint.ts';
import type { ServiceName } from '../../../../src/doctor/targets.ts';

function context(service: ServiceName, port = 7337): ProtocolContext {
  return {
    target: { host: 'node-3.internal', port, service },
    endpoint: { address: '10.0.2.7', port },
    secure: false,
    budget: createBudget(Date.now() + 1000),
  };
}

function exchanged(fields: Partial<ExchangeResult>): ExchangeResult {
  return { connected: true, bytes: Buffer.alloc(0), end: 'fin', elapsedMs: 3, ...fields };
}

describe('otherAnswerCheck', () => {
  it('calls a long silence no-answer, a short one cut by the deadline a timeout', () => {
    const silent = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({ end: 'timeout', timedOut: { end: 'limit', waitedMs: 5000 } }),
      'a shuffle RPC',
    );
    assert.deepEqual([silent.status, silent.reason], ['fail', 'no-answer']);
    const cut = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({ end: 'timeout', timedOut: { end: 'deadline', waitedMs: 200 } }),
      'a shuffle RPC',
    );
    assert.deepEqual([cut.status, cut.reason], ['warn', 'timeout']);
  });

  it('calls a reset on the request reset-after-connect and a silent close no-answer', () => {
    const reset = otherAnswerCheck(
      context('spark-master', 7077),
      exchanged({ end: 'reset', errno: 'ECONNRESET' }),
      'x',
    );
    assert.equal(reset.reason, 'reset-after-connect');
    const closed = otherAnswerCheck(context('spark-master', 7077), exchanged({ end: 'fin' }), 'x');
    assert.equal(closed.reason, 'no-answer');
    assert.match(closed.summary, /closed the connection/);
  });

  it('names HTTP on a binary port, with the server header and Envoy marks', () => {
    const check = otherAnswerCheck(
      context('hive-metastore', 9083),
      exchanged({
        bytes: Buffer.from(
          'HTTP/1.1 400 Bad Request\r\nserver: envoy\r\ncontent-length: 0\r\n\r\n',
        ),
        end: 'complete',
      }),
      'a Thrift call',
    );
    assert.equal(check.reason, 'wrong-protocol');
    assert.match(
      check.summary,
      /answers HTTP \(HTTP\/1\.1 400 Bad Request, server: envoy\), not the Hive metastore/,
    );
    assert.equal(check.evidence.envoy, 'server: envoy');
    assert.match(check.evidence.bytesText as string, /^HTTP\/1\.1 400/);
  });

  it('tells an Envoy proxy without upstream from a wrong service', () => {
    const check = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({
        bytes: Buffer.from(
          'HTTP/1.1 503 Service Unavailable\r\nserver: envoy\r\ncontent-length: 19\r\n\r\nno healthy upstream',
        ),
        end: 'complete',
      }),
      'a shuffle RPC',
    );
    assert.equal(check.reason, 'wrong-protocol');
    assert.match(check.summary, /Envoy proxy/);
    assert.match(check.fix?.summary ?? '', /cannot reach the service behind it/);
  });

  it('says TLS when a TLS record answers, and names other protocols', () => {
    const tls = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({ bytes: Buffer.from('15030300020228', 'hex') }),
      'x',
    );
    assert.equal(tls.reason, 'tls-required');
    const ssh = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({ bytes: Buffer.from('SSH-2.0-OpenSSH_9.6\r\n') }),
      'x',
    );
    assert.equal(ssh.reason, 'wrong-protocol');
    assert.match(ssh.summary, /another protocol \(text "SSH-2\.0-OpenSSH_9\.6"\)/);
  });

  it('reports a connect that failed for the protocol probe', () => {
    const check = otherAnswerCheck(
      context('spark-shuffle'),
      exchanged({ connected: false, end: 'error', errno: 'ECONNREFUSED' }),
      'x',
    );
    assert.equal(check.reason, 'refused');
  });
});

describe('thriftVerdict', () => {
  const attempt = (
    opening: 'sasl' | 'binary' | 'framed',
    bytes: Buffer,
    end: ExchangeResult['end'] = 'complete',
  ) => ({
    opening,
    result: exchanged({ bytes, end }),
    answer: identifyAnswer(bytes).answer,
  });
  const saslBad = Buffer.concat([
    Buffer.from('0300000028', 'hex'),
    Buffer.from('Unsupported mechanism type SPARKPLANE-DO'),
  ]);
  const silence = (opening: 'sasl' | 'binary' | 'framed') => ({
    opening,
    result: exchanged({ end: 'timeout', timedOut: { end: 'aborted' as const, waitedMs: 10 } }),
    answer: identifyAnswer(Buffer.alloc(0)).answer,
  });

  it('reads a SASL answer as HiveServer2 over SASL, and as a Kerberized metastore', () => {
    const attempts = [attempt('sasl', saslBad), silence('binary'), silence('framed')];
    const hive = thriftVerdict(context('hive-thrift', 10000), 'hive-thrift', attempts);
    assert.deepEqual(
      [hive.status, hive.reason, hive.evidence.transport],
      ['pass', 'protocol-ok', 'sasl'],
    );
    const metastore = thriftVerdict(context('hive-metastore', 9083), 'hive-metastore', attempts);
    assert.deepEqual([metastore.status, metastore.reason], ['warn', 'auth-required']);
    assert.match(metastore.fix?.snippets?.[0]?.text ?? '', /hive\.metastore\.sasl\.enabled=true/);
  });

  it('reads HTTP on the HiveServer2 port as HTTP transport mode', () => {
    const http = Buffer.from(
      'HTTP/1.1 400 Bad Request\r\nServer: Jetty\r\ncontent-length: 0\r\n\r\n',
    );
    const check = thriftVerdict(context('hive-thrift', 10001), 'hive-thrift', [
      attempt('sasl', http),
      silence('binary'),
      silence('framed'),
    ]);
    assert.equal(check.reason, 'wrong-protocol');
    assert.match(check.fix?.snippets?.[0]?.text ?? '', /transportMode=http;httpPath=cliservice/);
  });

  it('falls back to the most telling failure when nothing recognisable came', () => {
    const check = thriftVerdict(context('hive-thrift', 10000), 'hive-thrift', [
      attempt('sasl', Buffer.alloc(0), 'fin'),
      attempt('binary', Buffer.alloc(0), 'reset'),
      silence('framed'),
    ]);
    assert.equal(check.reason, 'reset-after-connect');
  });
});

describe('Spark and gRPC answers', () => {
  it("recognises Spark's auth handlers refusing a first RPC", () => {
    assert.ok(
      isAuthDemand(
        'java.lang.IllegalStateException: Expected SaslMessage, received something else (maybe your client does not have SASL enabled?)',
      ),
    );
    assert.ok(isAuthDemand('java.lang.IllegalArgumentException: Unknown challenge message.'));
    assert.ok(
      !isAuthDemand('java.lang.RuntimeException: Executor is not registered (appId=a, execId=1)'),
    );
  });

  it('names gRPC status codes', () => {
    assert.equal(grpcStatusName(16), 'UNAUTHENTICATED');
    assert.equal(grpcStatusName(12), 'UNIMPLEMENTED');
    assert.equal(grpcStatusName(99), '99');
  });
});
