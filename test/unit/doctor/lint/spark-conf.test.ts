// spark-defaults.conf lint: the Properties syntax Spark reads, Spark's time strings, and every
// rule — each case below fails if its rule is removed or loosened.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LintFinding } from '../../../../src/doctor/lint/finding.ts';
import { lintFile } from '../../../../src/doctor/lint/lint-file.ts';
import { lintSparkConf } from '../../../../src/doctor/lint/spark-conf.ts';
import {
  parseSparkProperties,
  parseSparkTime,
} from '../../../../src/doctor/lint/spark-properties.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/doctor/lint');
const K8S = 'spark.master k8s://https://kubernetes.default.svc:443\n';
const TEMPLATES =
  'spark.kubernetes.driver.podTemplateFile /t/driver.yaml\n' +
  'spark.kubernetes.executor.podTemplateFile /t/executor.yaml\n';

const rules = (findings: readonly LintFinding[]): string[] =>
  findings.map((finding) => `${finding.rule}:${finding.status}:${String(finding.line)}`);
const only = (text: string, rule: string): LintFinding[] =>
  lintSparkConf(text).filter((finding) => finding.rule === rule);

describe('parseSparkProperties', () => {
  it('reads blank-, = and : separated entries, comments and continuations like Properties', () => {
    const props = parseSparkProperties(
      [
        '# comment',
        '! also a comment',
        'spark.a   1',
        'spark.b=2',
        'spark.c : 3',
        '  spark.d\t4  ',
        'spark.e one,\\',
        '    two',
        'spark.f\\=x y',
        'spark.a 5',
      ].join('\n'),
    );
    assert.deepEqual(
      [...props.values()].map(({ key, value, line }) => [key, value, line]),
      [
        ['spark.a', '5', 10],
        ['spark.b', '2', 4],
        ['spark.c', '3', 5],
        ['spark.d', '4', 6],
        ['spark.e', 'one,two', 7],
        ['spark.f=x', 'y', 9],
      ],
    );
  });
});

describe('parseSparkTime', () => {
  for (const [text, unit, ms] of [
    ['3s', 'ms', 3000],
    ['100ms', 's', 100],
    ['2min', 'ms', 120_000],
    ['1h', 'ms', 3_600_000],
    ['800', 's', 800_000],
    ['800', 'ms', 800],
    [' 10S ', 'ms', 10_000],
  ] as const) {
    it(`${JSON.stringify(text)} (bare unit ${unit}) is ${ms} ms`, () => {
      assert.equal(parseSparkTime(text, unit), ms);
    });
  }
  for (const text of ['3 sec', '1.5s', 's', '', '10 parsecs']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.equal(parseSparkTime(text, 'ms'), undefined);
    });
  }
});

describe('lintSparkConf on the seed-style file', () => {
  it('finds every problem, each with its line', async () => {
    const checks = await lintFile(join(FIXTURES, 'spark-defaults.conf'));
    assert.deepEqual(
      checks.map(
        (check) => `${check.id}:${check.status}:${check.reason}:${String(check.source?.line)}`,
      ),
      [
        'lint.spark-conf.zone-affinity:warn:config-problem:4',
        'lint.spark-conf.keepalive:warn:keepalive-missing:4',
        'lint.spark-conf.dynamic-allocation:fail:config-problem:9',
        'lint.spark-conf.locality-wait:warn:config-problem:16',
        'lint.spark-conf.dead-connection-detection:warn:idle-timeout:18',
        'lint.spark-conf.authenticate:warn:config-problem:21',
        'lint.spark-conf.istio-exclusions:warn:mesh-mtls:23',
      ],
    );
    for (const check of checks) {
      assert.equal(check.layer, 'config');
      assert.ok((check.fix?.summary.length ?? 0) > 20, `${check.id} has a fix`);
      assert.equal(check.source?.file, join(FIXTURES, 'spark-defaults.conf'));
    }
  });

  it('passes the fixed file', async () => {
    const checks = await lintFile(join(FIXTURES, 'spark-defaults-fixed.conf'));
    assert.deepEqual(
      checks.map((check) => [check.id, check.status, check.reason]),
      [['lint.spark-conf', 'pass', 'config-ok']],
    );
  });

  it('finds the standalone file’s problems', async () => {
    const checks = await lintFile(join(FIXTURES, 'spark-defaults-standalone.conf'));
    assert.deepEqual(
      checks.map((check) => `${check.id}:${check.status}:${String(check.source?.line)}`),
      [
        'lint.spark-conf.authenticate:fail:5',
        'lint.spark-conf.authenticate:warn:5',
        'lint.spark-conf.authenticate:warn:7',
        'lint.spark-conf.network-timeout:fail:8',
        'lint.spark-conf.locality-wait:fail:10',
      ],
    );
    const ess = checks.find((check) => check.target.port === 7337);
    assert.deepEqual(ess?.target, { host: '', port: 7337, service: 'spark-shuffle' });
  });
});

describe('dynamic allocation and the shuffle service', () => {
  const base = 'spark.dynamicAllocation.enabled true\n';
  it('fails without shuffle service, tracking, decommission or a shuffle plugin', () => {
    const found = only(
      `${base}spark.dynamicAllocation.shuffleTracking.enabled false\n`,
      'spark-conf.dynamic-allocation',
    );
    assert.deepEqual(rules(found), ['spark-conf.dynamic-allocation:fail:1']);
    assert.match(found[0]?.fix.snippets?.[0]?.text ?? '', /shuffleTracking\.enabled true/);
  });
  for (const extra of [
    '', // shuffle tracking is on by default since 3.4
    'spark.dynamicAllocation.shuffleTracking.enabled false\nspark.shuffle.service.enabled true\n',
    'spark.dynamicAllocation.shuffleTracking.enabled false\nspark.decommission.enabled true\n',
    'spark.dynamicAllocation.shuffleTracking.enabled false\nspark.shuffle.sort.io.plugin.class x.Y\n',
  ]) {
    it(`accepts ${JSON.stringify(extra)}`, () => {
      assert.deepEqual(only(base + extra, 'spark-conf.dynamic-allocation'), []);
    });
  }

  it('warns that Spark on Kubernetes has no shuffle service at the executor’s address', () => {
    const found = only(`${K8S}spark.shuffle.service.enabled true\n`, 'spark-conf.shuffle-service');
    assert.deepEqual(rules(found), ['spark-conf.shuffle-service:warn:2']);
    assert.deepEqual(found[0]?.target, { host: '', port: 7337, service: 'spark-shuffle' });
    assert.deepEqual(
      only('spark.shuffle.service.enabled true\n', 'spark-conf.shuffle-service'),
      [],
    );
  });

  it('fails a shuffle service port that is no port', () => {
    const found = only(
      'spark.shuffle.service.enabled true\nspark.shuffle.service.port 73370\n',
      'spark-conf.shuffle-service',
    );
    assert.deepEqual(rules(found), ['spark-conf.shuffle-service:fail:2']);
  });
});

describe('locality waits', () => {
  it('warns at 0 and above 30 s, fails what is no time, accepts the seed’s 10s/5s', () => {
    const found = only(
      [
        'spark.locality.wait 10s',
        'spark.locality.wait.node 5s',
        'spark.locality.wait.process 0',
        'spark.locality.wait.rack 2min',
        'spark.locality.wait.node 5s',
      ].join('\n') + '\nspark.locality.wait.process 0s\nspark.locality.wait.node 5 seconds\n',
      'spark-conf.locality-wait',
    );
    assert.deepEqual(rules(found), [
      'spark-conf.locality-wait:warn:4',
      'spark-conf.locality-wait:warn:6',
      'spark-conf.locality-wait:fail:7',
    ]);
    assert.match(found[0]?.summary ?? '', /2 min|120 s/);
    assert.match(found[1]?.summary ?? '', /is 0/);
  });
});

describe('network timeouts', () => {
  it('fails a network timeout not above the heartbeat interval', () => {
    const found = only(
      'spark.network.timeout 30\nspark.executor.heartbeatInterval 30000\n',
      'spark-conf.network-timeout',
    );
    assert.deepEqual(rules(found), ['spark-conf.network-timeout:fail:1']);
    assert.deepEqual(
      only(
        'spark.network.timeout 31\nspark.executor.heartbeatInterval 30000\n',
        'spark-conf.network-timeout',
      ),
      [],
    );
  });

  it('warns when a dead connection is noticed only after the NAT idle timer', () => {
    const found = only(
      'spark.network.timeout 200s\nspark.shuffle.io.connectionTimeout 600s\n',
      'spark-conf.dead-connection-detection',
    );
    assert.deepEqual(rules(found), ['spark-conf.dead-connection-detection:warn:2']);
    assert.equal(found[0]?.reason, 'idle-timeout');
    assert.equal(found[0].evidence.azureNatGatewayIdleS, 240);
    assert.ok(found[0].fix.snippets?.some((snippet) => snippet.platform === 'sysctl'));
    assert.deepEqual(
      only('spark.network.timeout 240s\n', 'spark-conf.dead-connection-detection'),
      [],
    );
  });
});

describe('authentication', () => {
  it('warns that network crypto needs spark.authenticate', () => {
    assert.deepEqual(
      rules(only('spark.network.crypto.enabled true\n', 'spark-conf.authenticate')),
      ['spark-conf.authenticate:warn:1'],
    );
    assert.deepEqual(
      only(
        'spark.authenticate true\nspark.network.crypto.enabled true\n',
        'spark-conf.authenticate',
      ),
      [],
    );
  });

  it('fails a standalone master without a secret, but not YARN or Kubernetes', () => {
    const standalone = only(
      'spark.master spark://m:7077\nspark.authenticate true\n',
      'spark-conf.authenticate',
    );
    assert.deepEqual(rules(standalone), ['spark-conf.authenticate:fail:2']);
    assert.equal(standalone[0]?.reason, 'auth-required');
    assert.deepEqual(
      only('spark.master yarn\nspark.authenticate true\n', 'spark-conf.authenticate'),
      [],
    );
    assert.deepEqual(only(`${K8S}spark.authenticate true\n`, 'spark-conf.authenticate'), []);
    assert.deepEqual(
      only(
        'spark.master spark://m:7077\nspark.authenticate true\nspark.authenticate.secret s\n',
        'spark-conf.authenticate',
      ),
      [],
    );
  });

  it('reminds that a shuffle service outside YARN needs the same secret', () => {
    const text =
      'spark.authenticate true\nspark.authenticate.secret s\nspark.shuffle.service.enabled true\n';
    assert.deepEqual(rules(only(text, 'spark-conf.authenticate')), [
      'spark-conf.authenticate:warn:1',
    ]);
    assert.deepEqual(only(`spark.master yarn\n${text}`, 'spark-conf.authenticate'), []);
  });

  it('warns about the GCM cipher', () => {
    const found = only(
      'spark.authenticate true\nspark.network.crypto.enabled true\nspark.network.crypto.cipher AES/GCM/NoPadding\n',
      'spark-conf.authenticate',
    );
    assert.deepEqual(rules(found), ['spark-conf.authenticate:warn:3']);
  });
});

describe('Kubernetes settings in spark-defaults.conf', () => {
  const meshed = `${K8S}spark.kubernetes.executor.annotation.sidecar.istio.io/inject true\n`;

  it('asks a meshed executor to exclude 7337 and 4040 both ways, merging existing lists', () => {
    const found = only(
      `${meshed}spark.kubernetes.executor.annotation.traffic.sidecar.istio.io/excludeOutboundPorts 7337,9090\n`,
      'spark-conf.istio-exclusions',
    );
    assert.deepEqual(rules(found), ['spark-conf.istio-exclusions:warn:2']);
    assert.equal(found[0]?.evidence.missingInbound, '7337,4040');
    assert.equal(found[0].evidence.missingOutbound, '4040');
    const conf = found[0].fix.snippets?.find((snippet) => snippet.platform === 'spark-conf');
    assert.equal(
      conf?.text,
      'spark.kubernetes.executor.annotation.traffic.sidecar.istio.io/excludeInboundPorts 7337,4040\n' +
        'spark.kubernetes.executor.annotation.traffic.sidecar.istio.io/excludeOutboundPorts 7337,9090,4040',
    );
  });

  it('uses the configured shuffle service and UI ports', () => {
    const found = only(
      `${meshed}spark.shuffle.service.port 7447\nspark.ui.port 4050\n` +
        'spark.kubernetes.executor.annotation.traffic.sidecar.istio.io/excludeInboundPorts 7337,7447,4040,4050\n' +
        'spark.kubernetes.executor.annotation.traffic.sidecar.istio.io/excludeOutboundPorts 7337,4040\n',
      'spark-conf.istio-exclusions',
    );
    assert.equal(found[0]?.evidence.missingOutbound, '7447,4050');
    assert.equal(found[0].evidence.missingInbound, '');
  });

  it('leaves pods alone that opt out of injection or bring a pod template', () => {
    assert.deepEqual(
      only(
        `${K8S}spark.kubernetes.executor.label.sidecar.istio.io/inject false\n`,
        'spark-conf.istio-exclusions',
      ),
      [],
    );
    assert.deepEqual(
      only(
        `${meshed}spark.kubernetes.executor.podTemplateFile /t/e.yaml\n`,
        'spark-conf.istio-exclusions',
      ),
      [],
    );
  });

  it('warns about executors without zone placement unless a zone selector or template is given', () => {
    assert.deepEqual(rules(only(K8S, 'spark-conf.zone-affinity')), [
      'spark-conf.zone-affinity:warn:1',
    ]);
    for (const extra of [
      'spark.kubernetes.node.selector.topology.kubernetes.io/zone us-east-1a\n',
      'spark.kubernetes.executor.node.selector.topology.kubernetes.io/zone us-east-1a\n',
      'spark.kubernetes.executor.podTemplateFile /t/e.yaml\n',
    ]) {
      assert.deepEqual(only(K8S + extra, 'spark-conf.zone-affinity'), [], extra);
    }
  });

  it('warns that pods without a template keep the kernel’s 7200 s keepalive', () => {
    const found = only(K8S, 'spark-conf.keepalive');
    assert.deepEqual(rules(found), ['spark-conf.keepalive:warn:1']);
    assert.equal(found[0]?.evidence.podsWithoutTemplate, 'driver,executor');
    assert.match(found[0].fix.snippets?.[0]?.text ?? '', /podTemplateFile/);
    assert.deepEqual(only(K8S + TEMPLATES, 'spark-conf.keepalive'), []);
  });

  it('checks none of this outside Kubernetes', () => {
    assert.deepEqual(lintSparkConf('spark.master yarn\nspark.locality.wait 3s\n'), []);
  });
});
