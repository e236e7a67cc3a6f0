// The analyzer line by line: every finding class and variant the fixtures do not show, how records
// and ephemeral ports group findings, and the cap on distinct findings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogAnalyzer, MAX_FINDINGS } from '../../../../src/doctor/explain/log-analyzer.ts';
import type { Check } from '../../../../src/doctor/model.ts';

function analyze(lines: readonly string[]): Check[] {
  const analyzer = createLogAnalyzer('test.log');
  for (const line of lines) analyzer.line(line);
  return analyzer.finish();
}

const brief = (check: Check): string =>
  `${check.id}:${check.status}:${check.layer}:${check.reason}:${check.target.host}:${check.target.port}`;
const H = '25/02/17 10:00:00 ERROR X: ';

describe('Spark authentication variants', () => {
  for (const [text, summary] of [
    [
      'java.lang.IllegalArgumentException: Unknown challenge message.',
      /AuthEngine handshake and got SASL/,
    ],
    [
      'java.lang.IllegalStateException: Trying to authenticate non-registered app app-20240603140211-0007.',
      /no secret for application app-20240603140211-0007$/,
    ],
    [
      'java.lang.IllegalStateException: Unauthenticated call to receive().',
      /requires spark\.authenticate/,
    ],
    [
      'java.lang.RuntimeException: java.lang.IllegalArgumentException: Authentication failed.',
      /different secrets/,
    ],
    ['java.lang.IllegalArgumentException: Unknown message type: -5', /client authenticates/],
  ] as const) {
    it(`explains ${JSON.stringify(text)}`, () => {
      const checks = analyze([`${H}Error while invoking RpcHandler#receive() on RPC id 1`, text]);
      assert.deepEqual(checks.map(brief), ['explain.spark-auth:fail:protocol:auth-required::0']);
      assert.match(checks[0]?.summary ?? '', summary);
    });
  }

  it('ignores the doctor’s own probe, "Unknown message type: 127"', () => {
    const checks = analyze([
      `${H}Error while invoking`,
      'java.lang.IllegalArgumentException: Unknown message type: 127',
    ]);
    assert.deepEqual(
      checks.map((check) => check.id),
      ['explain.clean'],
    );
  });
});

describe('HiveServer2 authentication variants', () => {
  for (const [text, fix] of [
    ['org.apache.thrift.transport.TTransportException: Invalid status -128', /auth=noSasl/],
    ['javax.security.sasl.SaslException: GSS initiate failed', /kinit/],
    [
      'org.apache.thrift.transport.TTransportException: Peer indicated failure: Error validating the login',
      /credentials/,
    ],
  ] as const) {
    it(`explains ${JSON.stringify(text)}`, () => {
      const checks = analyze([text]);
      assert.deepEqual(checks.map(brief), ['explain.thrift-auth:fail:protocol:auth-required::0']);
      assert.match(checks[0]?.fix?.summary ?? '', fix);
    });
  }
});

describe('transport and route variants', () => {
  it('reads the epoll transport’s refusal with its address', () => {
    const checks = analyze([
      `${H}Failed`,
      'Caused by: io.netty.channel.AbstractChannel$AnnotatedConnectException: finishConnect(..) failed: Connection refused: /10.0.1.23:7337',
    ]);
    assert.deepEqual(checks.map(brief), [
      'explain.connection-refused:fail:transport:refused:10.0.1.23:7337',
    ]);
  });

  it('tells a connect timeout from an established connection timing out', () => {
    const checks = analyze([
      `${H}Failed`,
      'io.netty.channel.ConnectTimeoutException: connection timed out after 30000 ms: /10.0.0.5:7337',
      `${H}Exception in connection from /10.0.0.6:7337`,
      'java.io.IOException: Connection timed out',
    ]);
    assert.deepEqual(checks.map(brief), [
      'explain.connect-timeout:fail:transport:filtered:10.0.0.5:7337',
      'explain.connection-quiet:fail:session:idle-timeout:10.0.0.6:7337',
    ]);
    assert.match(checks[1]?.summary ?? '', /retransmissions went unanswered/);
  });

  it('explains a network without a route', () => {
    const checks = analyze([
      `${H}Failed to connect to /10.9.0.1:7077`,
      'java.net.SocketException: Network is unreachable',
    ]);
    assert.deepEqual(checks.map(brief), ['explain.no-route:fail:route:no-route:10.9.0.1:7077']);
    assert.match(checks[0]?.fix?.snippets?.[0]?.text ?? '', /^ip route get 10\.9\.0\.1$/);
  });

  it('names the service behind a refused port', () => {
    const summaries = [15002, 7077, 9083, 40123].map(
      (port) => analyze([`${H}Connection refused: /10.0.0.1:${port}`])[0]?.summary ?? '',
    );
    assert.match(summaries[0] ?? '', /Spark Connect/);
    assert.match(summaries[1] ?? '', /standalone master/);
    assert.match(summaries[2] ?? '', /Hive metastore/);
    assert.match(summaries[3] ?? '', /driver or block manager port/);
  });
});

describe('what other bytes on a Spark port mean', () => {
  const sent = (size: string) =>
    analyze([
      `${H}Exception in connection from /10.0.0.9:7337`,
      `java.lang.IllegalArgumentException: Too large frame: ${size}`,
    ])[0];

  it('a TLS server answering: turn TLS on here', () => {
    const check = sent('1586114793390079992');
    assert.equal(check?.evidence.firstBytesHex, '1603030041020000');
    assert.match(check.fix?.summary ?? '', /spoke plaintext to a TLS port/);
  });

  it('unknown bytes: an encryption or authentication mismatch', () => {
    const check = sent('-7188217831219303156');
    assert.match(check?.summary ?? '', /bytes of no known protocol/);
    assert.match(check?.fix?.summary ?? '', /spark\.network\.crypto\.enabled/);
  });
});

describe('Spark Connect error classes', () => {
  for (const [errorClass, operation, status] of [
    ['INVALID_HANDLE.SESSION_NOT_FOUND', 'executePlan', 'fail'],
    ['INVALID_HANDLE.SESSION_CHANGED', 'analyzePlan', 'fail'],
    ['INVALID_HANDLE.SESSION_CLOSED', 'config', 'fail'],
    ['INVALID_HANDLE.SESSION_NOT_FOUND', 'releaseSession', 'warn'],
    ['INVALID_HANDLE.OPERATION_ABANDONED', 'reattachExecute', 'fail'],
    ['INVALID_HANDLE.FORMAT', 'executePlan', 'warn'],
    ['INVALID_CURSOR.DISCONNECTED', 'reattachExecute', 'fail'],
  ] as const) {
    it(`${errorClass} during ${operation} is ${status}`, () => {
      const checks = analyze([
        `${H.replace('X', 'ErrorUtils')}Spark Connect RPC error during: ${operation}. UserId: u. SessionId: 0bd4c3a6-1f5d-4a52-9d7e-6c1d4b9b8b77.`,
        `org.apache.spark.SparkSQLException: [${errorClass}] The handle 0bd4c3a6-1f5d-4a52-9d7e-6c1d4b9b8b77 is invalid. SQLSTATE: HY000`,
      ]);
      assert.deepEqual(checks.map(brief), [
        `explain.connect-session:${status}:session:session-lost::0`,
      ]);
      assert.equal(checks[0]?.evidence.errorClass, errorClass);
      assert.ok((checks[0].fix?.summary.length ?? 0) > 40);
    });
  }

  it('groups the same error class from many records', () => {
    const record = [
      `${H}Spark Connect RPC error during: executePlan. UserId: u. SessionId: s.`,
      'org.apache.spark.SparkSQLException: [INVALID_HANDLE.SESSION_NOT_FOUND] The handle s is invalid. Session not found.',
    ];
    const checks = analyze([...record, ...record, ...record]);
    assert.deepEqual(
      checks.map((check) => [
        check.evidence.count,
        check.evidence.firstLine,
        check.evidence.lastLine,
      ]),
      [[3, 2, 6]],
    );
  });
});

describe('grouping', () => {
  it('counts a finding once per record, however many causes repeat it', () => {
    const checks = analyze([
      `${H}Exception while beginning fetch of 1 outstanding blocks`,
      'java.io.IOException: Failed to connect to /10.0.1.23:7337',
      'Caused by: io.netty.channel.AbstractChannel$AnnotatedConnectException: Connection refused: /10.0.1.23:7337',
      'Caused by: java.net.ConnectException: Connection refused',
    ]);
    assert.equal(checks[0]?.evidence.count, 1);
  });

  it('groups one host’s ephemeral ports, and keeps service ports apart', () => {
    const checks = analyze([
      `${H}Exception in connection from /10.0.0.9:50001`,
      'java.lang.IllegalArgumentException: Too large frame: 5787768873619048524',
      `${H}Exception in connection from /10.0.0.9:50002`,
      'java.lang.IllegalArgumentException: Too large frame: 5787768873619048524',
      `${H}Connection refused: /10.0.0.9:7337`,
      `${H}Connection refused: /10.0.0.9:7077`,
    ]);
    assert.deepEqual(
      checks.map((check) => [check.id, check.evidence.count, check.evidence.distinctPorts ?? null]),
      [
        ['explain.wrong-bytes', 2, 2],
        ['explain.connection-refused', 1, null],
        ['explain.connection-refused', 1, null],
      ],
    );
  });

  it('keeps at most MAX_FINDINGS findings and says how many more there were', () => {
    const lines = Array.from(
      { length: MAX_FINDINGS + 25 },
      (_, index) => `${H}Connection refused: /10.${Math.floor(index / 250)}.${index % 250}.1:7337`,
    );
    const checks = analyze(lines);
    assert.equal(checks.length, MAX_FINDINGS + 1);
    const more = checks.at(-1);
    assert.deepEqual(
      [more?.id, more?.status, more?.evidence.notListed],
      ['explain.more', 'warn', 25],
    );
  });
});
