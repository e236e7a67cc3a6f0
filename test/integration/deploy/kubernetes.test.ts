// deploy/kubernetes checked three ways: every object against the Kubernetes OpenAPI schema
// (kubernetes-models' validators), every field name against the same API's TypeScript types
// (the schema validators let unknown fields through, a misspelt probe would pass them), and the
// wiring: ports, probes, selectors, and the config the containers get loaded by sparkplane itself.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import { ROOT, printedConfig } from '../../support/sparkplane-cli.ts';

const DIR = join(ROOT, 'deploy', 'kubernetes');

/** kind → the model that validates it and the module and interface that type it. */
const KINDS = {
  'v1/Namespace': {
    model: Namespace,
    module: 'kubernetes-models/v1/Namespace',
    type: 'INamespace',
  },
  'v1/ConfigMap': {
    model: ConfigMap,
    module: 'kubernetes-models/v1/ConfigMap',
    type: 'IConfigMap',
  },
  'v1/Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'apps/v1/Deployment': {
    model: Deployment,
    module: 'kubernetes-models/apps/v1/Deployment',
    type: 'IDeployment',
  },
  'apps/v1/DaemonSet': {
    model: DaemonSet,
    module: 'kubernetes-models/apps/v1/DaemonSet',
    type: 'IDaemonSet',
  },
  'networking.k8s.io/v1/NetworkPolicy': {
    model: NetworkPolicy,
    module: 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    type: 'INetworkPolicy',
  },
} as const;

type KindKey = keyof typeof KINDS;

interface Manifest {
  readonly file: string;
  readonly key: KindKey;
  readonly object: Record<string, unknown> & { metadata: { name: string } };
}

function loadManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(DIR).filter((name) => name.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      assert.deepEqual(document.errors, [], `${file}: ${document.errors.join('; ')}`);
      const object = document.toJS() as Manifest['object'] & { apiVersion: string; kind: string };
      const key = `${object.apiVersion}/${object.kind}`;
      assert.ok(key in KINDS, `${file}: no schema here for ${key}`);
      manifests.push({ file, key: key as KindKey, object });
    }
  }
  return manifests;
}

function validate(key: KindKey, object: unknown): void {
  const Model = KINDS[key].model as unknown as new (data: unknown) => { validate(): void };
  new Model(object).validate();
}

/** TypeScript's excess-property errors for the objects typed as their API kinds. */
function unknownFields(objects: readonly { key: KindKey; object: unknown }[]): string[] {
  const imports = [...new Set(objects.map(({ key }) => key))].map(
    (key) => `import type { ${KINDS[key].type} } from '${KINDS[key].module}';`,
  );
  const lines = objects.map(
    ({ key, object }, index) =>
      `export const m${String(index)}: ${KINDS[key].type} = ${JSON.stringify(object)};`,
  );
  const fileName = join(ROOT, 'test', 'integration', 'deploy', '__manifests__.ts');
  const text = [...imports, ...lines].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
}

const manifests = loadManifests();

interface KindTypes {
  'v1/ConfigMap': IConfigMap;
  'v1/Service': IService;
  'apps/v1/Deployment': IDeployment;
  'apps/v1/DaemonSet': IDaemonSet;
}

function one<K extends keyof KindTypes>(key: K, name: string): KindTypes[K] {
  const found = manifests.find((m) => m.key === key && m.object.metadata.name === name);
  assert.ok(found !== undefined, `no ${key} named ${name} in deploy/kubernetes`);
  return found.object as unknown as KindTypes[K];
}

describe('deploy/kubernetes against the Kubernetes API schema', () => {
  it('holds the objects sparkplane needs', () => {
    assert.deepEqual(manifests.map((m) => `${m.key} ${m.object.metadata.name}`).sort(), [
      'apps/v1/DaemonSet sparkplane-shuffle',
      'apps/v1/Deployment sparkplane-gateway',
      'networking.k8s.io/v1/NetworkPolicy sparkplane-gateway',
      'v1/ConfigMap sparkplane-gateway',
      'v1/Namespace sparkplane',
      'v1/Service sparkplane-gateway',
    ]);
  });

  for (const { file, key, object } of manifests)
    it(`${file}: ${key} ${object.metadata.name} is valid`, () => {
      validate(key, object);
    });

  it('every field name is one the API knows', () => {
    assert.deepEqual(unknownFields(manifests), []);
  });

  it('the checks catch a wrong type and a misspelt field', () => {
    const deployment = structuredClone(one('apps/v1/Deployment', 'sparkplane-gateway'));
    const container = deployment.spec?.template.spec?.containers[0];
    assert.ok(container?.ports?.[0] !== undefined);
    const typed = structuredClone(deployment);
    const typedPort = typed.spec?.template.spec?.containers[0]?.ports?.[0];
    assert.ok(typedPort !== undefined);
    (typedPort as { containerPort: unknown }).containerPort = 'fifteen';
    assert.throws(() => {
      validate('apps/v1/Deployment', typed);
    }, /containerPort must be integer/);
    const misspelt = { ...container, readinesProbe: container.readinessProbe } as unknown;
    const withTypo = structuredClone(deployment);
    (withTypo.spec?.template.spec as { containers: unknown[] }).containers = [misspelt];
    const errors = unknownFields([{ key: 'apps/v1/Deployment', object: withTypo }]);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0] ?? '', /'"readinesProbe"' does not exist in type 'IContainer'/);
  });
});

describe('deploy/kubernetes wiring', () => {
  it('the gateway listens where its Service, probes and Prometheus look', async () => {
    const configMap = one('v1/ConfigMap', 'sparkplane-gateway');
    const gatewayYaml = configMap.data?.['gateway.yaml'];
    assert.ok(gatewayYaml !== undefined);
    const dir = mkdtempSync(join(tmpdir(), 'sparkplane-k8s-'));
    let config: Record<string, unknown>;
    try {
      writeFileSync(join(dir, 'gateway.yaml'), gatewayYaml);
      config = await printedConfig('gateway', ['--config', join(dir, 'gateway.yaml')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const deployment = one('apps/v1/Deployment', 'sparkplane-gateway');
    const pod = deployment.spec?.template;
    const container = pod?.spec?.containers[0];
    assert.ok(container !== undefined);
    assert.deepEqual(container.args, ['gateway', '--config', '/etc/sparkplane/gateway.yaml']);
    const ports = Object.fromEntries(
      (container.ports ?? []).map((p) => [p.name ?? '', p.containerPort]),
    );
    assert.deepEqual(ports, { 'spark-connect': config.port, admin: config.adminPort });
    assert.equal(config.adminHost, '0.0.0.0', 'the kubelet probes the pod address');
    assert.deepEqual(container.readinessProbe?.httpGet, { path: '/healthz', port: 'admin' });
    assert.equal(pod?.metadata?.annotations?.['prometheus.io/port'], String(config.adminPort));
    const mounts = Object.fromEntries(
      (container.volumeMounts ?? []).map((m) => [m.mountPath, m.name]),
    );
    assert.equal(mounts['/etc/sparkplane'], 'config');
    assert.equal(mounts[String(config.stateDir)], 'state');
    assert.deepEqual(deployment.spec?.selector.matchLabels, {
      'app.kubernetes.io/name': 'sparkplane-gateway',
    });
    assert.equal(pod.metadata.labels?.['app.kubernetes.io/name'], 'sparkplane-gateway');

    const service = one('v1/Service', 'sparkplane-gateway');
    assert.deepEqual(service.spec?.selector, deployment.spec.selector.matchLabels);
    assert.deepEqual(
      service.spec.ports?.map((p) => [p.port, p.targetPort]),
      [
        [15002, 'spark-connect'],
        [15080, 'admin'],
      ],
    );
  });

  it('the shuffle service takes its args, listens on 7337 on the node and keeps its state there', async () => {
    const daemonSet = one('apps/v1/DaemonSet', 'sparkplane-shuffle');
    const spec = daemonSet.spec?.template.spec;
    const container = spec?.containers[0];
    assert.ok(spec !== undefined && container !== undefined);
    const [command, ...args] = container.args ?? [];
    assert.equal(command, 'shuffle');
    const config = await printedConfig('shuffle', args);
    assert.equal(config.port, 7337);
    assert.equal(spec.hostNetwork, true);
    const ports = Object.fromEntries(
      (container.ports ?? []).map((p) => [p.name ?? '', [p.containerPort, p.hostPort]]),
    );
    assert.deepEqual(ports, {
      shuffle: [config.port, config.port],
      metrics: [config.metricsPort, config.metricsPort],
    });
    const volumes = Object.fromEntries((spec.volumes ?? []).map((v) => [v.name, v.hostPath?.path]));
    const mounts = Object.fromEntries(
      (container.volumeMounts ?? []).map((m) => [m.name, m.mountPath]),
    );
    assert.deepEqual(config.allowedRoot, [mounts['local-dirs']]);
    assert.equal(volumes['local-dirs'], mounts['local-dirs']);
    assert.equal(config.stateDir, mounts.state);
    assert.equal(volumes.state, mounts.state);
    const init = spec.initContainers?.[0];
    assert.deepEqual(init?.command, ['chown', '185:185', config.stateDir]);
    assert.equal(spec.securityContext?.runAsUser, 185);
  });

  it('the image tag is the version in package.json', () => {
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    for (const { file, object } of manifests)
      for (const image of JSON.stringify(object).match(/"image":"[^"]+"/g) ?? [])
        assert.equal(image, `"image":"sparkplane:${version}"`, file);
  });
});
