// Doctor targets: HOST:PORT[=SERVICE] parsing and the spark profile.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTarget, profileTargets, SERVICES } from '../../../src/doctor/targets.ts';

const BAD_ADDRESS = 'must be HOST:PORT[=SERVICE] with a port 1–65535';

describe('parseTarget', () => {
  for (const [text, host, port, service] of [
    ['10.0.0.1:7337', '10.0.0.1', 7337, 'spark-shuffle'],
    ['h:15002', 'h', 15002, 'spark-connect'],
    ['h:10001', 'h', 10001, 'spark-connect'],
    ['h:10000', 'h', 10000, 'hive-thrift'],
    ['h:9083', 'h', 9083, 'hive-metastore'],
    ['h:4040', 'h', 4040, 'spark-ui'],
    ['h:7077', 'h', 7077, 'spark-master'],
    ['h:443', 'h', 443, 'https'],
    ['h:8443', 'h', 8443, 'https'],
    ['h:22', 'h', 22, 'tcp'],
    ['[::1]:7337', '::1', 7337, 'spark-shuffle'],
  ] as const) {
    it(`${text} → ${service} on ${host}:${port} by its port`, () => {
      assert.deepEqual(parseTarget(text), { ok: true, target: { host, port, service } });
    });
  }

  it('takes the service after "=" over the port default', () => {
    assert.deepEqual(parseTarget('h:7337=http'), {
      ok: true,
      target: { host: 'h', port: 7337, service: 'http' },
    });
    assert.deepEqual(parseTarget('[fe80::1]:8080=spark-connect'), {
      ok: true,
      target: { host: 'fe80::1', port: 8080, service: 'spark-connect' },
    });
  });

  for (const text of ['h', 'h:0', 'h:65536', ':7337', '=http', '::1:7337', 'h :1']) {
    it(`rejects the address ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseTarget(text), { ok: false, problem: BAD_ADDRESS });
    });
  }

  it('rejects an unknown service and lists the known ones', () => {
    assert.deepEqual(parseTarget('h:1=bogus'), {
      ok: false,
      problem: `names unknown service "bogus" (known: ${SERVICES.join(', ')})`,
    });
    assert.deepEqual(parseTarget('h:1='), {
      ok: false,
      problem: `names unknown service "" (known: ${SERVICES.join(', ')})`,
    });
  });

  it('rejects a second "="', () => {
    assert.deepEqual(parseTarget('h:1=http=tcp'), { ok: false, problem: 'has more than one "="' });
  });
});

describe('profileTargets', () => {
  it("lists the spark profile's nine ports for the host, in order", () => {
    assert.deepEqual(profileTargets('hostA'), [
      { host: 'hostA', port: 443, service: 'https' },
      { host: 'hostA', port: 8443, service: 'https' },
      { host: 'hostA', port: 10000, service: 'hive-thrift' },
      { host: 'hostA', port: 10001, service: 'spark-connect' },
      { host: 'hostA', port: 15002, service: 'spark-connect' },
      { host: 'hostA', port: 4040, service: 'spark-ui' },
      { host: 'hostA', port: 7337, service: 'spark-shuffle' },
      { host: 'hostA', port: 9083, service: 'hive-metastore' },
      { host: 'hostA', port: 7077, service: 'spark-master' },
    ]);
  });

  it('keeps an IPv6 host as given', () => {
    assert.deepEqual(
      profileTargets('::1').map((target) => target.host),
      Array.from({ length: 9 }, () => '::1'),
    );
  });

  it('every profile service is a known service', () => {
    for (const target of profileTargets('h')) assert.ok(SERVICES.includes(target.service));
  });
});
