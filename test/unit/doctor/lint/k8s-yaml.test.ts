// Kubernetes YAML lint: which pods are Spark's, the Istio exclusions of 7337/4040, executor zone
// placement and keepalive sysctls, across pods, templates, workloads and SparkApplications.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isSparkplaneError } from '../../../../src/core/errors.ts';
import { meshExclusionGaps, mergedPortList, portList } from '../../../../src/doctor/lint/istio.ts';
import { lintKubernetesYaml } from '../../../../src/doctor/lint/k8s-yaml.ts';
import { podsInYaml } from '../../../../src/doctor/lint/k8s-pods.ts';
import { lintFile } from '../../../../src/doctor/lint/lint-file.ts';

const FIXTURES = join(import.meta.dirname, '../../../fixtures/doctor/lint');

const summary = (file: string, text: string): string[] =>
  lintKubernetesYaml(file, text).findings.map(
    (finding) => `${finding.rule}:${finding.status}:${String(finding.line)}`,
  );

/** A pod manifest with the given metadata and spec lines (indented by the caller). */
const pod = (metadata: string, spec: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: spark-exec-1\n${metadata}spec:\n${spec}  containers:\n    - name: spark-kubernetes-executor\n      image: apache/spark:3.5.1\n`;
const KEEPALIVE =
  '  securityContext:\n    sysctls:\n      - name: net.ipv4.tcp_keepalive_time\n        value: "120"\n';
const ZONE = '  nodeSelector:\n    topology.kubernetes.io/zone: us-east-1a\n';

describe('the executor pod template fixtures', () => {
  it('finds the missing exclusions, zone affinity and keepalive of the meshed template', async () => {
    const file = join(FIXTURES, 'executor-pod-template.yaml');
    const checks = await lintFile(file);
    assert.deepEqual(
      checks.map(
        (check) => `${check.id}:${check.status}:${check.reason}:${String(check.source?.line)}`,
      ),
      [
        'lint.k8s.keepalive-sysctls:warn:keepalive-missing:3',
        'lint.k8s.istio-exclusions:warn:mesh-mtls:9',
        'lint.k8s.zone-affinity:warn:config-problem:12',
      ],
    );
    const mesh = checks.find((check) => check.id === 'lint.k8s.istio-exclusions');
    assert.equal(mesh?.evidence.meshedBecause, 'label sidecar.istio.io/inject=true');
    assert.equal(mesh.evidence.missingInbound, '7337,4040');
    assert.equal(mesh.evidence.missingOutbound, '7337,4040');
    const annotations = mesh.fix?.snippets?.[0];
    assert.equal(annotations?.platform, 'istio-yaml');
    assert.match(annotations.text, /excludeInboundPorts: "7337,4040"/);
    assert.match(annotations.text, /excludeOutboundPorts: "7337,4040"/);
    assert.match(
      mesh.fix?.snippets?.[1]?.text ?? '',
      /kind: PeerAuthentication[\s\S]*7337:\n\s+mode: PERMISSIVE/,
    );
    const zone = checks.find((check) => check.id === 'lint.k8s.zone-affinity');
    assert.equal(zone?.fix?.snippets?.[0]?.platform, 'k8s-yaml');
    assert.match(zone.fix.snippets[0].text, /key: topology\.kubernetes\.io\/zone/);
  });

  it('passes the fixed template', async () => {
    const checks = await lintFile(join(FIXTURES, 'executor-pod-template-fixed.yaml'));
    assert.deepEqual(
      checks.map((check) => [check.id, check.status, check.reason, check.evidence.sparkPods]),
      [['lint.k8s-yaml', 'pass', 'config-ok', 1]],
    );
  });
});

describe('multi-document files', () => {
  it('checks the Spark workloads of a Deployment file and leaves the rest alone', async () => {
    const checks = await lintFile(join(FIXTURES, 'deployment.yaml'));
    assert.deepEqual(
      checks.map(
        (check) => `${check.id}:${String(check.source?.line)}:${String(check.evidence.pod)}`,
      ),
      [
        'lint.k8s.keepalive-sysctls:13:Deployment iomete-executor (pod template)',
        'lint.k8s.zone-affinity:20:Deployment iomete-executor (pod template)',
        'lint.k8s.istio-exclusions:41:Deployment spark-connect-server (pod template)',
        'lint.k8s.keepalive-sysctls:46:Deployment spark-connect-server (pod template)',
      ],
    );
    // The seed's own 240 s is not below Azure's 240 s idle timer.
    const connectKeepalive = checks.at(-1);
    assert.equal(connectKeepalive?.evidence.tcpKeepaliveTime, '240');
    assert.match(connectKeepalive.summary, /Azure NAT gateway \(240 s\)/);
  });

  it('reads the driver and executor of a SparkApplication', async () => {
    const checks = await lintFile(join(FIXTURES, 'spark-application.yaml'));
    assert.deepEqual(
      checks.map(
        (check) => `${check.id}:${String(check.source?.line)}:${String(check.evidence.pod)}`,
      ),
      [
        'lint.k8s.keepalive-sysctls:15:SparkApplication nightly-aggregate driver',
        'lint.k8s.istio-exclusions:23:SparkApplication nightly-aggregate executor',
      ],
    );
    const mesh = checks[1];
    assert.equal(mesh?.evidence.missingInbound, '4040');
    assert.equal(mesh.evidence.missingOutbound, '');
    assert.match(mesh.fix?.snippets?.[0]?.text ?? '', /excludeInboundPorts: "7337,4040"/);
  });

  it('finds pods in PodTemplates, StatefulSets, DaemonSets, Jobs and CronJobs', () => {
    const template = (kind: string, path: string[]): string => {
      const indent = (depth: number) => '  '.repeat(depth);
      let text = `apiVersion: v1\nkind: ${kind}\nmetadata:\n  name: spark-executor-${kind.toLowerCase()}\n`;
      path.forEach((step, depth) => (text += `${indent(depth)}${step}:\n`));
      const depth = path.length;
      text += `${indent(depth)}spec:\n${indent(depth + 1)}containers:\n${indent(depth + 2)}- name: executor\n${indent(depth + 3)}image: apache/spark:3.5.1\n`;
      return text;
    };
    const documents = [
      template('PodTemplate', ['template']),
      template('StatefulSet', ['spec', 'template']),
      template('DaemonSet', ['spec', 'template']),
      template('Job', ['spec', 'template']),
      template('CronJob', ['spec', 'jobTemplate', 'spec', 'template']),
    ].join('---\n');
    const { pods } = podsInYaml('x.yaml', documents);
    assert.deepEqual(
      pods.map((found) => [found.description, found.role]),
      [
        ['PodTemplate spark-executor-podtemplate (pod template)', 'executor'],
        ['StatefulSet spark-executor-statefulset (pod template)', 'executor'],
        ['DaemonSet spark-executor-daemonset (pod template)', 'executor'],
        ['Job spark-executor-job (pod template)', 'executor'],
        ['CronJob spark-executor-cronjob (pod template)', 'executor'],
      ],
    );
  });

  it('tells Spark pods by label, container name, file name, image or port', () => {
    const role = (file: string, text: string) => podsInYaml(file, text).pods[0]?.role;
    const bare = (extra: string, image = 'nginx:1.27') =>
      `kind: Pod\nmetadata:\n  name: web\n${extra}spec:\n  containers:\n    - name: main\n      image: ${image}\n`;
    assert.equal(role('a.yaml', bare('  labels:\n    spark-role: driver\n')), 'driver');
    assert.equal(role('executor-template.yaml', bare('')), 'executor');
    assert.equal(role('a.yaml', bare('', 'apache/spark:4.0.0')), 'spark');
    assert.equal(role('a.yaml', bare('')), 'other');
    assert.equal(
      role('a.yaml', 'spec:\n  containers:\n    - name: spark-kubernetes-driver\n'),
      'driver',
    );
  });

  it('ignores workloads that are not Spark’s', () => {
    const result = lintKubernetesYaml(
      'web.yaml',
      'kind: Pod\nmetadata:\n  name: web\n  annotations:\n    sidecar.istio.io/inject: "true"\nspec:\n  containers:\n    - name: web\n      image: nginx\n',
    );
    assert.deepEqual(result, { documents: 1, sparkPods: 0, findings: [] });
  });
});

describe('Istio exclusions', () => {
  it('counts a pod as meshed by inject label or annotation, or any sidecar annotation', () => {
    assert.equal(
      meshExclusionGaps({}, { 'sidecar.istio.io/inject': 'true' }, [7337]).meshedBecause,
      'label sidecar.istio.io/inject=true',
    );
    assert.equal(
      meshExclusionGaps({ 'sidecar.istio.io/inject': 'true' }, {}, [7337]).meshedBecause,
      'annotation sidecar.istio.io/inject=true',
    );
    assert.equal(
      meshExclusionGaps({ 'proxy.istio.io/config': '{}' }, {}, [7337]).meshedBecause,
      'Istio sidecar annotation proxy.istio.io/config',
    );
    assert.equal(meshExclusionGaps({}, {}, [7337]).meshedBecause, undefined);
    assert.equal(
      meshExclusionGaps(
        { 'proxy.istio.io/config': '{}' },
        { 'sidecar.istio.io/inject': 'false' },
        [7337],
      ).meshedBecause,
      undefined,
    );
  });

  it('treats ports left out of includeInboundPorts, or no outbound capture, as excluded', () => {
    const gaps = meshExclusionGaps(
      {
        'sidecar.istio.io/inject': 'true',
        'traffic.sidecar.istio.io/includeInboundPorts': '8080',
        'traffic.sidecar.istio.io/includeOutboundIPRanges': '',
      },
      {},
      [7337, 4040],
    );
    assert.deepEqual([gaps.missingInbound, gaps.missingOutbound], [[], []]);
    const star = meshExclusionGaps(
      { 'sidecar.istio.io/inject': 'true', 'traffic.sidecar.istio.io/includeInboundPorts': '*' },
      {},
      [7337],
    );
    assert.deepEqual(star.missingInbound, [7337]);
  });

  it('parses and merges port lists', () => {
    assert.deepEqual(portList(' 7337, 4040 ,x,'), [7337, 4040]);
    assert.equal(mergedPortList('15002', [7337, 4040]), '15002,7337,4040');
    assert.equal(mergedPortList(undefined, [7337]), '7337');
  });

  it('is satisfied by annotations written as numbers', () => {
    const text = pod(
      '  annotations:\n    sidecar.istio.io/inject: "true"\n    traffic.sidecar.istio.io/excludeInboundPorts: 7337,4040\n    traffic.sidecar.istio.io/excludeOutboundPorts: "4040,7337"\n',
      KEEPALIVE + ZONE,
    );
    assert.deepEqual(summary('p.yaml', text), []);
  });
});

describe('executor zone placement', () => {
  const placed = (spec: string) => summary('p.yaml', pod('', KEEPALIVE + spec));
  it('warns about an executor with no zone rule', () => {
    // No affinity: the line of `spec:`.
    assert.deepEqual(placed(''), ['k8s.zone-affinity:warn:5']);
  });
  for (const [name, spec] of [
    ['a zone node selector', ZONE],
    [
      'node affinity on the zone',
      '  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n        - weight: 100\n          preference:\n            matchExpressions:\n              - key: failure-domain.beta.kubernetes.io/zone\n                operator: In\n                values: [a]\n',
    ],
    [
      'pod affinity in one zone',
      '  affinity:\n    podAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        - topologyKey: topology.kubernetes.io/zone\n          labelSelector:\n            matchLabels:\n              spark-role: driver\n',
    ],
    [
      'a zone spread constraint',
      '  topologySpreadConstraints:\n    - maxSkew: 1\n      topologyKey: topology.kubernetes.io/zone\n      whenUnsatisfiable: DoNotSchedule\n',
    ],
  ] as const) {
    it(`accepts ${name}`, () => {
      assert.deepEqual(placed(spec), []);
    });
  }
  it('does not take anti-affinity across zones for zone affinity', () => {
    const spec =
      '  affinity:\n    podAntiAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        - topologyKey: topology.kubernetes.io/zone\n          labelSelector:\n            matchLabels:\n              spark-role: executor\n';
    // The line of `affinity:`.
    assert.deepEqual(placed(spec), ['k8s.zone-affinity:warn:10']);
  });
  it('leaves drivers to their own placement', () => {
    const text = pod('  labels:\n    spark-role: driver\n', KEEPALIVE);
    assert.deepEqual(summary('d.yaml', text), []);
  });
});

describe('keepalive sysctls', () => {
  const sysctl = (value: string) =>
    `  securityContext:\n    sysctls:\n      - name: net.ipv4.tcp_keepalive_time\n        value: "${value}"\n`;
  it('warns without the sysctl, at or above 240 s, and on nonsense; passes below', () => {
    assert.deepEqual(summary('p.yaml', pod('', ZONE)), ['k8s.keepalive-sysctls:warn:1']);
    // The line of `sysctls:`.
    assert.deepEqual(summary('p.yaml', pod('', ZONE + sysctl('300'))), [
      'k8s.keepalive-sysctls:warn:9',
    ]);
    assert.deepEqual(summary('p.yaml', pod('', ZONE + sysctl('soon'))), [
      'k8s.keepalive-sysctls:warn:9',
    ]);
    assert.deepEqual(summary('p.yaml', pod('', ZONE + sysctl('239'))), []);
  });
  it('leaves host-network pods to the node’s settings', () => {
    assert.deepEqual(summary('p.yaml', pod('', `${ZONE}  hostNetwork: true\n`)), []);
  });
});

describe('files that are not valid YAML', () => {
  it('throws a ConfigError naming file, line and column', async () => {
    const file = join(FIXTURES, 'broken.yaml');
    await assert.rejects(lintFile(file), (error: unknown) => {
      assert.ok(isSparkplaneError(error));
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.equal(error.exitCode, 2);
      assert.ok(error.message.startsWith(`${file}:7:1: not valid YAML`), error.message);
      return true;
    });
  });

  it('refuses alias bombs instead of expanding them', () => {
    const bomb =
      'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n' +
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n';
    assert.throws(() => podsInYaml('bomb.yaml', bomb), /bomb\.yaml:1: YAML cannot be expanded/);
  });
});
