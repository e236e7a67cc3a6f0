// The pods a Kubernetes YAML file describes, whatever wraps them: a Pod or Spark pod template, a
// PodTemplate, the template of a Deployment, StatefulSet, DaemonSet, ReplicaSet or Job, a
// CronJob's job template, or the driver and executor of a spark-operator SparkApplication. Each
// comes with what the rules need, the lines to point at, and its Spark role.
import { basename } from 'node:path';
import { isMap, isNode, isScalar, LineCounter, parseAllDocuments, type Document } from 'yaml';
import { ConfigError } from '../../core/errors.ts';

export type SparkRole = 'executor' | 'driver' | 'spark' | 'other';

export interface PodView {
  /** How a person finds it, e.g. `Deployment iomete-executor (pod template)`. */
  readonly description: string;
  readonly role: SparkRole;
  readonly annotations: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly nodeSelector: Readonly<Record<string, string>>;
  readonly affinity: unknown;
  readonly topologySpreadConstraints: unknown;
  readonly sysctls: readonly { readonly name: string; readonly value: string }[];
  readonly hostNetwork: boolean;
  readonly lines: {
    readonly pod: number;
    readonly annotations: number;
    readonly placement: number;
    readonly sysctls: number;
  };
}

const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  PodTemplate: ['template'],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface ParsedYaml {
  readonly documents: number;
  readonly pods: PodView[];
}

/** Every pod in a (multi-document) YAML file; a syntax error throws naming file, line and column. */
export function podsInYaml(file: string, text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter });
  if (!Array.isArray(documents)) return { documents: 0, pods: [] };
  const pods: PodView[] = [];
  for (const document of documents) {
    const error = document.errors[0];
    if (error !== undefined) {
      const at = error.linePos?.[0];
      const where = at === undefined ? file : `${file}:${at.line}:${at.col}`;
      throw new ConfigError(
        'CONFIG_INVALID',
        `${where}: not valid YAML (${error.message.split('\n')[0] ?? error.code}); fix the file and run lint again`,
        { cause: error },
      );
    }
    pods.push(...podsInDocument(file, document, lineCounter));
  }
  return { documents: documents.length, pods };
}

type Path = readonly (string | number)[];

function podsInDocument(file: string, document: Document, lines: LineCounter): PodView[] {
  let root: unknown;
  try {
    root = document.toJS();
  } catch (error) {
    // yaml refuses documents that expand too many aliases; say where instead of what.
    throw new ConfigError(
      'CONFIG_INVALID',
      `${file}:${nodeLine(document, lines, [])}: YAML cannot be expanded (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  if (!isRecord(root)) return [];
  const kind = typeof root.kind === 'string' ? root.kind : undefined;
  const name = stringAt(root, ['metadata', 'name']) ?? stringAt(root, ['metadata', 'generateName']);
  const lineAt = (path: Path): number => nodeLine(document, lines, path);
  if (kind === 'SparkApplication') {
    return (['driver', 'executor'] as const).map((role) =>
      sparkApplicationPod(root, role, `SparkApplication ${name ?? ''} ${role}`.trim(), lineAt),
    );
  }
  const templatePath =
    kind === undefined ? (isRecord(root.spec) ? [] : undefined) : TEMPLATE_PATHS[kind];
  if (templatePath === undefined) return [];
  const template = valueAt(root, templatePath);
  if (!isRecord(template) || !isRecord(template.spec)) return [];
  const description =
    templatePath.length === 0
      ? `${kind ?? 'Pod'} ${name ?? '(pod template)'}`
      : `${kind ?? ''} ${name ?? ''} (pod template)`.replace(/\s+/g, ' ').trim();
  const spec = template.spec;
  const metadata = isRecord(template.metadata) ? template.metadata : {};
  const labels = stringMap(metadata.labels);
  const at = (...rest: string[]): Path => [...templatePath, ...rest];
  return [
    {
      description,
      role: roleOf({ file, names: [name, stringAt(metadata, ['name'])], labels, spec }),
      annotations: stringMap(metadata.annotations),
      labels,
      nodeSelector: stringMap(spec.nodeSelector),
      affinity: spec.affinity,
      topologySpreadConstraints: spec.topologySpreadConstraints,
      sysctls: sysctlList(valueAt(spec, ['securityContext', 'sysctls'])),
      hostNetwork: spec.hostNetwork === true,
      lines: {
        pod: lineAt(templatePath),
        annotations: lineAt(at('metadata', 'annotations')),
        placement: lineAt(at('spec', 'affinity')),
        sysctls: lineAt(at('spec', 'securityContext', 'sysctls')),
      },
    },
  ];
}

function sparkApplicationPod(
  root: Record<string, unknown>,
  role: 'driver' | 'executor',
  description: string,
  lineAt: (path: Path) => number,
): PodView {
  const pod = valueAt(root, ['spec', role]);
  const spec = isRecord(pod) ? pod : {};
  return {
    description,
    role,
    annotations: stringMap(spec.annotations),
    labels: stringMap(spec.labels),
    nodeSelector: {
      ...stringMap(valueAt(root, ['spec', 'nodeSelector'])),
      ...stringMap(spec.nodeSelector),
    },
    affinity: spec.affinity,
    topologySpreadConstraints: undefined,
    sysctls: sysctlList(valueAt(spec, ['podSecurityContext', 'sysctls'])),
    hostNetwork: spec.hostNetwork === true,
    lines: {
      pod: lineAt(['spec', role]),
      annotations: lineAt(['spec', role, 'annotations']),
      placement: lineAt(['spec', role, 'affinity']),
      sysctls: lineAt(['spec', role, 'podSecurityContext', 'sysctls']),
    },
  };
}

/**
 * Spark sets `spark-role` on the pods it creates and names their containers
 * spark-kubernetes-driver/-executor; templates and hand-written workloads are known by their names
 * (or the file's), and count as Spark at all when an image, name or port says so.
 */
function roleOf(input: {
  file: string;
  names: readonly (string | undefined)[];
  labels: Readonly<Record<string, string>>;
  spec: Record<string, unknown>;
}): SparkRole {
  const label = input.labels['spark-role'];
  if (label === 'executor' || label === 'driver') return label;
  const containers = Array.isArray(input.spec.containers)
    ? input.spec.containers.filter(isRecord)
    : [];
  const words = [
    ...input.names,
    ...containers.map((container) => stringAt(container, ['name'])),
    basename(input.file),
  ]
    .filter((word): word is string => word !== undefined)
    .map((word) => word.toLowerCase());
  if (words.some((word) => word.includes('executor'))) return 'executor';
  if (words.some((word) => word.includes('driver'))) return 'driver';
  const images = containers.map((container) => stringAt(container, ['image'])?.toLowerCase());
  const ports = containers.flatMap((container) =>
    Array.isArray(container.ports)
      ? container.ports.filter(isRecord).map((port) => port.containerPort)
      : [],
  );
  const spark =
    words.some((word) => word.includes('spark')) ||
    images.some((image) => image?.includes('spark') === true) ||
    Object.keys(input.labels).some((key) => key.includes('spark')) ||
    ports.some((port) => port === 7337 || port === 4040 || port === 7077 || port === 15002);
  return spark ? 'spark' : 'other';
}

/**
 * The line of the key that names `path` (`affinity:`), or of the nearest ancestor key the file
 * has; the document's first line for the empty path.
 */
function nodeLine(document: Document, lines: LineCounter, path: Path): number {
  const lineOf = (node: unknown): number | undefined =>
    isNode(node) && node.range !== undefined && node.range !== null
      ? lines.linePos(node.range[0]).line
      : undefined;
  let node: unknown = document.contents;
  let line = lineOf(node) ?? 1;
  for (const step of path) {
    const pair = isMap(node)
      ? node.items.find((item) => isScalar(item.key) && item.key.value === step)
      : undefined;
    if (pair === undefined) break;
    line = lineOf(pair.key) ?? line;
    node = pair.value;
  }
  return line;
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const step of path) {
    if (Array.isArray(node) && typeof step === 'number') node = node[step];
    else if (isRecord(node) && typeof step === 'string') node = node[step];
    else return undefined;
  }
  return node;
}

function stringAt(root: unknown, path: Path): string | undefined {
  const found = valueAt(root, path);
  return typeof found === 'string' ? found : undefined;
}

/** Labels, annotations and selectors as strings (YAML may have typed `true` or `7337`). */
function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const result: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string' || typeof entry === 'number' || typeof entry === 'boolean') {
      result[key] = String(entry);
    }
  }
  return result;
}

function sysctlList(value: unknown): { name: string; value: string }[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(isRecord)
    .flatMap((entry) =>
      typeof entry.name === 'string' && entry.value !== undefined && entry.value !== null
        ? [{ name: entry.name, value: String(entry.value as string | number) }]
        : [],
    );
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
