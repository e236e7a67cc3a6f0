// JDBC URL lint: parsing the Hive and Simba URL forms, keepalive and socket timeouts for idle BI
// sessions behind NAT gateways, TLS where the port or credentials call for it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { lintJdbcUrls, withOptions } from '../../../../src/doctor/lint/jdbc-lint.ts';
import { parseJdbcUrl } from '../../../../src/doctor/lint/jdbc-url.ts';
import { lintFile } from '../../../../src/doctor/lint/lint-file.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/doctor/lint');
const GOOD = ';ssl=true;tcpKeepAlive=true;socketTimeout=300000';
const rules = (text: string, rule: string): string[] =>
  lintJdbcUrls(text)
    .findings.filter((finding) => finding.rule === rule)
    .map((finding) => `${finding.status}:${finding.reason}`);

describe('parseJdbcUrl', () => {
  it('reads hosts, ports (default 10000), options; Hive confs and variables are not options', () => {
    const parsed = parseJdbcUrl(
      'jdbc:hive2://zk1:2181,zk2/default;serviceDiscoveryMode=zooKeeper;SSL=true?hive.exec.engine=spark#x=1',
    );
    assert.ok(parsed.ok);
    assert.equal(parsed.url.driver, 'hive2');
    assert.deepEqual(parsed.url.hosts, [
      { host: 'zk1', port: 2181 },
      { host: 'zk2', port: 10000 },
    ]);
    assert.deepEqual(
      [...parsed.url.options.entries()],
      [
        ['servicediscoverymode', { key: 'serviceDiscoveryMode', value: 'zooKeeper' }],
        ['ssl', { key: 'SSL', value: 'true' }],
      ],
    );
  });

  it('reads the Simba forms with their own default ports, and IPv6 literals', () => {
    const databricks = parseJdbcUrl('jdbc:databricks://dbc-1.cloud.databricks.com;SSL=1');
    assert.ok(databricks.ok);
    assert.deepEqual(databricks.url.hosts, [{ host: 'dbc-1.cloud.databricks.com', port: 443 }]);
    const spark = parseJdbcUrl('JDBC:SPARK://[fd00::7]:10015/default');
    assert.ok(spark.ok);
    assert.deepEqual(spark.url.hosts, [{ host: 'fd00::7', port: 10015 }]);
  });

  it('refuses other URLs and impossible ports', () => {
    assert.deepEqual(parseJdbcUrl('sc://h:15002'), {
      ok: false,
      problem: 'is not a jdbc:hive2://, jdbc:spark:// or jdbc:databricks:// URL',
    });
    assert.deepEqual(parseJdbcUrl('jdbc:hive2://h:99999/default'), {
      ok: false,
      problem: 'names "h:99999", not HOST[:PORT] with a port 1–65535',
    });
  });
});

describe('the JDBC URL fixtures', () => {
  it('finds each problem on its line, with the host and port as target', async () => {
    const checks = await lintFile(join(FIXTURES, 'jdbc-urls.txt'));
    assert.deepEqual(
      checks.map(
        (check) =>
          `${String(check.source?.line)}:${check.id}:${check.status}:${check.layer}:${check.target.host}:${check.target.port}`,
      ),
      [
        '3:lint.jdbc.socket-timeout:warn:config:iomete-endpoint:10000',
        '5:lint.jdbc.keepalive:warn:config:hs2.analytics.internal:10000',
        '5:lint.jdbc.socket-timeout:warn:config:hs2.analytics.internal:10000',
        '5:lint.jdbc.tls:warn:config:hs2.analytics.internal:10000',
        '7:lint.jdbc.tls:fail:tls:gateway.analytics.example.com:443',
        '9:lint.jdbc.transport-mode:warn:protocol:hs2.analytics.internal:10001',
        '11:lint.jdbc.url:warn:config::0',
      ],
    );
    assert.equal(checks[1]?.target.service, 'hive-thrift');
    assert.equal(checks[4]?.target.service, 'https');
  });

  it('passes the fixed list', async () => {
    const checks = await lintFile(join(FIXTURES, 'jdbc-urls-fixed.txt'));
    assert.deepEqual(
      checks.map((check) => [check.id, check.status, check.evidence.urls]),
      [['lint.jdbc-urls', 'pass', 5]],
    );
  });
});

describe('keepalive', () => {
  const url = 'jdbc:hive2://h:10000/default;ssl=true;socketTimeout=300000';
  it('warns without keepalive, with it off, or with a first probe at or above 240 s', () => {
    assert.deepEqual(rules(url, 'jdbc.keepalive'), ['warn:keepalive-missing']);
    assert.deepEqual(rules(`${url};tcpKeepAlive=false`, 'jdbc.keepalive'), [
      'warn:keepalive-missing',
    ]);
    assert.deepEqual(rules(`${url};KeepAlive=true;KeepAliveInterval=240`, 'jdbc.keepalive'), [
      'warn:keepalive-missing',
    ]);
    assert.deepEqual(rules(`${url};KeepAlive=true;KeepAliveInterval=120`, 'jdbc.keepalive'), []);
    assert.deepEqual(rules(`${url};TCPKeepAlive=1`, 'jdbc.keepalive'), []);
  });

  it('gives the URL with keepalive and the client host’s sysctls as the fix', () => {
    const [finding] = lintJdbcUrls(url).findings;
    assert.equal(finding?.evidence.azureNatGatewayIdleS, 240);
    assert.deepEqual(
      finding.fix.snippets?.map((snippet) => snippet.platform),
      ['jdbc-url', 'sysctl'],
    );
    assert.equal(finding.fix.snippets[0]?.text, `${url};tcpKeepAlive=true`);
  });
});

describe('socket timeout', () => {
  it('warns when missing or zero, in the unit of the driver', () => {
    const hive = lintJdbcUrls(
      'jdbc:hive2://h:10000/default;ssl=true;tcpKeepAlive=true;socketTimeout=0',
    ).findings;
    assert.deepEqual(
      hive.map((finding) => finding.rule),
      ['jdbc.socket-timeout'],
    );
    assert.match(hive[0]?.fix.snippets?.[0]?.text ?? '', /;socketTimeout=300000$/);
    const simba = lintJdbcUrls('jdbc:spark://h:443/default;SSL=1;TCPKeepAlive=1').findings;
    assert.match(simba[0]?.fix.snippets?.[0]?.text ?? '', /;socketTimeout=300$/);
    assert.deepEqual(rules(`jdbc:hive2://h:10000/d${GOOD}`, 'jdbc.socket-timeout'), []);
  });
});

describe('TLS and transport', () => {
  it('fails plaintext to 443 and 8443, passes with ssl', () => {
    assert.deepEqual(rules('jdbc:hive2://h:8443/default;transportMode=http', 'jdbc.tls'), [
      'fail:tls-required',
    ]);
    assert.deepEqual(rules('jdbc:spark://h:443/default;SSL=1', 'jdbc.tls'), []);
  });

  it('warns about credentials without TLS, and never repeats them', () => {
    const { findings } = lintJdbcUrls('jdbc:hive2://h:10000/default;user=bi;password=Secr3t?x=1');
    assert.deepEqual(
      findings.filter((finding) => finding.rule === 'jdbc.tls').map((finding) => finding.reason),
      ['plaintext'],
    );
    const everything = JSON.stringify(findings);
    assert.ok(!everything.includes('Secr3t'), everything);
    assert.match(everything, /password=\*\*\*/);
  });

  it('warns about binary Thrift on 10001', () => {
    assert.deepEqual(rules(`jdbc:hive2://h:10001/d${GOOD}`, 'jdbc.transport-mode'), [
      'warn:wrong-protocol',
    ]);
    assert.deepEqual(
      rules(`jdbc:hive2://h:10001/d${GOOD};transportMode=http`, 'jdbc.transport-mode'),
      [],
    );
  });
});

describe('withOptions', () => {
  it('replaces a key in any case and keeps Hive confs and variables', () => {
    assert.equal(
      withOptions('jdbc:hive2://h/d;SSL=false;a=1?conf=2#var=3', { ssl: 'true' }),
      'jdbc:hive2://h/d;a=1;ssl=true?conf=2#var=3',
    );
  });
});

describe('lines that are not JDBC URLs', () => {
  it('warns about other URLs and fails broken JDBC ones, skipping comments and blanks', () => {
    const { urls, findings } = lintJdbcUrls('# c\n\nsc://h:15002\njdbc:hive2://h:0/d\n');
    assert.equal(urls, 0);
    assert.deepEqual(
      findings.map((finding) => `${String(finding.line)}:${finding.status}`),
      ['3:warn', '4:fail'],
    );
  });
});
