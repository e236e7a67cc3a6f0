// explainLog over real and realistic Spark logs. The ess-*, connect-server-* fixtures are
// captured from Spark 3.5.9, 4.0.5 and 4.3.0 (a shuffle service fed an HTTP/2 preface, an HTTP GET
// and a TLS ClientHello; SASL with the wrong secret or none; Spark Connect servers); the driver,
// executor and HiveServer2 client logs are composed from the same versions' message texts.
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { isSparkplaneError } from '../../../../src/core/errors.ts';
import { explainLog } from '../../../../src/doctor/explain/explain-log.ts';
import type { Check } from '../../../../src/doctor/model.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/doctor/explain');

const line = (check: Check): string =>
  [
    check.id,
    check.status,
    check.layer,
    check.reason,
    check.target.host,
    check.target.port,
    check.source?.line,
    check.evidence.count,
  ].join(':');

async function explain(name: string): Promise<Check[]> {
  const checks = await explainLog(join(FIXTURES, name));
  for (const check of checks) {
    assert.equal(check.source?.file, join(FIXTURES, name));
    if (check.status === 'warn' || check.status === 'fail') {
      assert.ok((check.fix?.summary.length ?? 0) > 20, `${check.id} has a fix`);
    }
  }
  return checks;
}

describe('shuffle service logs of Spark 3.5.9, 4.0.5 and 4.0.5 with JSON logging', () => {
  const expected = (lines: readonly [number, number, number], ports: readonly number[]) =>
    lines.map(
      (at, index) =>
        `explain.wrong-bytes:fail:protocol:wrong-protocol:127.0.0.1:${String(ports[index])}:${at}:1`,
    );

  it('decodes the three wrong protocols a 3.5.9 shuffle service saw, naming who sent them', async () => {
    const checks = await explain('ess-3.5.9-wrong-protocol.log');
    assert.deepEqual(checks.map(line), expected([19, 40, 61], [58844, 58848, 58862]));
    assert.deepEqual(
      checks.map((check) => [
        check.evidence.firstBytesHex,
        check.evidence.firstBytesText,
        check.evidence.reportedFrameSize,
      ]),
      [
        ['505249202a204854', 'PRI * HT', '5787768873619048524'],
        ['474554202f204854', 'GET / HT', '5135603447292250188'],
        ['160301062f010006', '..../...', '1586112619834572798'],
      ],
    );
    assert.match(checks[0]?.summary ?? '', /HTTP\/2 connection preface/);
    assert.match(checks[0]?.fix?.summary ?? '', /Spark Connect port, 15002/);
    assert.match(checks[1]?.fix?.summary ?? '', /HTTP health/);
    assert.match(checks[2]?.summary ?? '', /TLS ClientHello/);
    assert.match(checks[2]?.fix?.summary ?? '', /spark\.ssl\.rpc\.enabled/);
    assert.match(String(checks[0]?.evidence.listeningInLog), /^shuffle service \d+/);
  });

  it('finds the same in 4.0.5, and the SASL refusal of a client without auth', async () => {
    const checks = await explain('ess-4.0.5-auth.log');
    assert.deepEqual(checks.map(line), [
      ...expected([111, 132, 153], [34926, 34942, 34956]),
      'explain.spark-auth:fail:protocol:auth-required::0:174:1',
    ]);
    assert.match(checks[3]?.summary ?? '', /requires spark\.authenticate.*Expected SaslMessage/);
  });

  it('reads structured (JSON) log lines', async () => {
    const checks = await explain('ess-4.0.5-structured.log');
    assert.deepEqual(checks.map(line), expected([18, 19, 20], [53914, 53920, 53936]));
    assert.equal(
      checks[0]?.evidence.line,
      'java.lang.IllegalArgumentException: Too large frame: 5787768873619048524',
    );
  });

  it('explains SASL with the wrong secret, once per record, in 3.5.9 and 4.0.5', async () => {
    for (const [name, at] of [
      ['ess-3.5.9-secret-mismatch.log', 19],
      ['ess-4.0.5-secret-mismatch.log', 111],
    ] as const) {
      const checks = await explain(name);
      assert.deepEqual(checks.map(line), [
        `explain.spark-auth:fail:protocol:auth-required::0:${at}:1`,
      ]);
      assert.match(checks[0]?.summary ?? '', /different secrets/);
      assert.match(String(checks[0]?.evidence.message), /Mismatched response/);
    }
  });

  it('explains a client that authenticates against a service that does not', async () => {
    const checks = await explain('ess-3.5.9-sasl-off.log');
    assert.deepEqual(checks.map(line), ['explain.spark-auth:fail:protocol:auth-required::0:19:1']);
    assert.match(checks[0]?.summary ?? '', /Unknown message type: -22/);
  });
});

describe('Spark Connect server logs', () => {
  it('fails OPERATION_NOT_FOUND on reattach (3.5.9), with the handle', async () => {
    const checks = await explain('connect-server-3.5.9.log');
    assert.deepEqual(checks.map(line), [
      'explain.connect-session:fail:session:session-lost::0:49:1',
    ]);
    assert.equal(checks[0]?.evidence.errorClass, 'INVALID_HANDLE.OPERATION_NOT_FOUND');
    assert.equal(checks[0].evidence.operation, 'reattachExecute');
    assert.equal(checks[0].evidence.handle, 'ce95a6f4-9fd7-4409-b669-affb62953397');
  });

  it('only warns about SESSION_CLOSED racing a releaseExecute after stop (4.0.5, 4.3.0)', async () => {
    for (const [name, at] of [
      ['connect-server-4.0.5.log', 55],
      ['connect-server-4.3.0.log', 5],
    ] as const) {
      const checks = await explain(name);
      assert.deepEqual(checks.map(line), [
        `explain.connect-session:warn:session:session-lost::0:${at}:1`,
      ]);
      assert.equal(
        checks[0]?.summary,
        'Spark Connect answered INVALID_HANDLE.SESSION_CLOSED during releaseExecute',
      );
    }
  });
});

describe('driver and executor logs', () => {
  it('groups an executor’s refused shuffle fetches and tells the other failures apart (3.5)', async () => {
    const checks = await explain('executor-3.5-shuffle.log');
    assert.deepEqual(checks.map(line), [
      'explain.connection-refused:fail:transport:refused:10.0.1.23:7337:24:5',
      'explain.connection-reset:warn:transport:reset-after-connect:10.0.2.31:7337:63:1',
      'explain.connection-closed:warn:session:idle-timeout:10.0.2.31:7337:73:2',
      'explain.connection-quiet:fail:session:idle-timeout:10.0.3.9:7337:78:1',
      'explain.connect-timeout:fail:transport:filtered:10.0.4.17:7337:80:1',
    ]);
    const [refused, , , quiet, timeout] = checks;
    assert.equal(refused?.target.service, 'spark-shuffle');
    assert.equal(refused.evidence.lastLine, 59);
    assert.equal(refused.evidence.fetchFailures, 1);
    assert.match(refused.summary, /external shuffle service\) were refused \(5×\)/);
    assert.match(refused.fix?.snippets?.[0]?.text ?? '', /shuffleTracking\.enabled true/);
    assert.equal(quiet?.evidence.quietMs, 120000);
    assert.match(quiet.fix?.summary ?? '', /Azure NAT gateway 240 s/);
    assert.ok(quiet.fix?.snippets?.some((snippet) => snippet.platform === 'sysctl'));
    assert.equal(timeout?.evidence.timeoutMs, 120000);
    assert.deepEqual(
      timeout.fix?.snippets?.map((snippet) => snippet.platform),
      ['shell', 'aws-cli', 'azure-cli', 'gcloud'],
    );
  });

  it('folds a driver’s FetchFailed into its cause, and keeps the causeless ones (4.0)', async () => {
    const checks = await explain('driver-4.0-fetch-failed.log');
    assert.deepEqual(checks.map(line), [
      'explain.connection-refused:fail:transport:refused:10.0.1.23:7337:18:2',
      'explain.connect-timeout:fail:transport:filtered:10.0.5.12:7337:37:1',
      'explain.fetch-failed:fail:log:log-finding:10.0.6.8:40315:41:1',
      'explain.shuffle-output-lost:warn:log:log-finding::0:47:1',
      'explain.no-route:fail:route:no-route:10.0.4.4:35431:55:1',
      'explain.unknown-host:fail:dns:dns-failure:spark-exec-9.spark.svc:0:58:1',
    ]);
    const [refused, timeout, fetch, lost, noRoute] = checks;
    assert.equal(refused?.evidence.fetchFailures, 2);
    assert.equal(refused.evidence.blockManager, 'BlockManagerId(3, 10.0.1.23, 7337)');
    assert.equal(refused.evidence.firstFetchFailureLine, 8);
    assert.match(refused.summary, /2 shuffle fetch failures trace back to it/);
    assert.equal(timeout?.evidence.fetchFailures, 1);
    assert.match(fetch?.summary ?? '', /BlockManagerId\(6, 10\.0\.6\.8, 40315\)/);
    assert.equal(lost?.evidence.shuffleId, 6);
    assert.equal(noRoute?.evidence.address, 'spark-exec-4.spark.svc/10.0.4.4:35431');
    assert.match(noRoute.summary, /spark-exec-4\.spark\.svc \(10\.0\.4\.4:35431\)/);
  });

  it('explains what a wrong peer sent an executor, a real oversized frame and an auth mismatch', async () => {
    const checks = await explain('executor-4.0-wrong-peer.log');
    assert.deepEqual(checks.map(line), [
      'explain.wrong-bytes:fail:protocol:wrong-protocol:10.0.5.17:7337:4:1',
      'explain.connection-closed:warn:session:idle-timeout:10.0.5.17:7337:9:1',
      'explain.oversized-frame:fail:protocol:oversized-frame:10.0.6.2:41733:11:1',
      'explain.wrong-bytes:fail:protocol:wrong-protocol:10.0.8.30:51244:15:1',
      'explain.spark-auth:fail:protocol:auth-required::0:19:2',
    ]);
    const [http, , oversized, thrift, auth] = checks;
    assert.equal(http?.evidence.firstBytesText, 'HTTP/1.1');
    assert.match(http.fix?.summary ?? '', /Envoy HTTP listener/);
    assert.match(oversized?.fix?.snippets?.[0]?.text ?? '', /spark\.maxRemoteBlockSizeFetchToMem/);
    assert.equal(thrift?.evidence.firstBytesHex, '800100010000000c');
    assert.match(thrift.fix?.summary ?? '', /HiveServer2 \(10000\)/);
    assert.match(auth?.summary ?? '', /client authenticates but the server does not/);
  });

  it('explains HiveServer2 client failures', async () => {
    const checks = await explain('hiveserver2-client.log');
    assert.deepEqual(checks.map(line), [
      'explain.thrift-tls:fail:tls:tls-required::0:4:1',
      'explain.thrift-auth:fail:protocol:auth-required::0:8:1',
      'explain.connection-reset:warn:transport:reset-after-connect::0:11:1',
    ]);
    assert.match(checks[0]?.fix?.snippets?.[0]?.text ?? '', /;ssl=true/);
    assert.match(checks[1]?.summary ?? '', /Unsupported mechanism type GSSAPI/);
  });

  it('passes a log without failures, saying how many lines it read', async () => {
    assert.deepEqual(await explain('driver-3.5-clean.log'), [
      {
        id: 'explain.clean',
        target: { host: '', port: 0, service: 'tcp' },
        source: { file: join(FIXTURES, 'driver-3.5-clean.log') },
        layer: 'log',
        status: 'pass',
        reason: 'log-clean',
        summary: 'No known network failure in 11 lines',
        evidence: { lines: 11 },
      },
    ]);
  });
});

describe('large and odd files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sparkplane-explain-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('streams a large log into one grouped check with the first line and the count', async () => {
    const path = join(dir, 'big.log');
    const out = createWriteStream(path);
    for (let index = 0; index < 200_000; index += 1) {
      out.write(`24/06/03 14:05:40 INFO Executor: Running task ${index}.0 in stage 3.0\n`);
      if (index % 200 === 199) {
        out.write(
          '24/06/03 14:05:40 WARN TransportChannelHandler: Exception in connection from /10.0.9.9:7337\n',
        );
        out.write('java.io.IOException: Connection reset by peer\n');
      }
    }
    out.end();
    await finished(out);
    const checks = await explainLog(path);
    assert.deepEqual(checks.map(line), [
      'explain.connection-reset:warn:transport:reset-after-connect:10.0.9.9:7337:202:1000',
    ]);
    assert.equal(checks[0]?.evidence.lastLine, 202_000);
  });

  it('looks only at the first bytes of an over-long line', async () => {
    const path = join(dir, 'long.log');
    const out = createWriteStream(path);
    out.write(
      `24/06/03 14:05:40 ERROR X: Connection refused: /10.0.0.1:7337 ${'x'.repeat(4096)}\n`,
    );
    out.write(
      `24/06/03 14:05:41 ERROR X: ${'y'.repeat(4096)} Connection refused: /10.0.0.2:7337\n`,
    );
    out.end();
    await finished(out);
    const checks = await explainLog(path, { maxLineBytes: 1024 });
    assert.deepEqual(
      checks.map((check) => check.target.host),
      ['10.0.0.1'],
    );
  });

  it('throws CONFIG_UNREADABLE naming a log it cannot read', async () => {
    const path = join(dir, 'missing.log');
    await assert.rejects(explainLog(path), (error: unknown) => {
      assert.ok(isSparkplaneError(error));
      assert.equal(error.code, 'CONFIG_UNREADABLE');
      assert.match(error.message, new RegExp(`cannot read ${path}: .*\\(ENOENT\\)`));
      return true;
    });
    await assert.rejects(explainLog(dir), /EISDIR/);
  });
});
