// Lint for Kubernetes YAML: every Spark pod in the file (pods, pod templates, workloads,
// SparkApplications) checked for Istio exclusions of the Spark ports, executor zone placement and
// keepalive sysctls. Pods that are not Spark's are left alone.
import {
  keepaliveFix,
  keepaliveTimeIsShortEnough,
  LINUX_DEFAULT_KEEPALIVE,
  natIdleEvidence,
  natTimersExpiringBefore,
} from '../session-checks.ts';
import type { LintFinding } from './finding.ts';
import { describeGaps, meshExclusionFix, meshExclusionGaps } from './istio.ts';
import { isRecord, podsInYaml, type PodView } from './k8s-pods.ts';

/** The shuffle service and the UI: what peers outside the mesh reach on a Spark pod. */
const SPARK_PORTS = [7337, 4040];
const ZONE_KEYS = new Set([
  'topology.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/zone',
]);

export interface KubernetesLint {
  readonly documents: number;
  readonly sparkPods: number;
  readonly findings: LintFinding[];
}

export function lintKubernetesYaml(file: string, text: string): KubernetesLint {
  const { documents, pods } = podsInYaml(file, text);
  const sparkPods = pods.filter((pod) => pod.role !== 'other');
  const findings = sparkPods
    .flatMap((pod) => [...meshExclusions(pod), ...zonePlacement(pod), ...keepaliveSysctls(pod)])
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { documents, sparkPods: sparkPods.length, findings };
}

function meshExclusions(pod: PodView): LintFinding[] {
  const gaps = meshExclusionGaps(pod.annotations, pod.labels, SPARK_PORTS);
  if (gaps.meshedBecause === undefined) return [];
  if (gaps.missingInbound.length === 0 && gaps.missingOutbound.length === 0) return [];
  return [
    {
      rule: 'k8s.istio-exclusions',
      line: pod.lines.annotations,
      status: 'warn',
      reason: 'mesh-mtls',
      summary:
        `${pod.description}: the Istio sidecar (${gaps.meshedBecause}) still intercepts ` +
        `${describeGaps(gaps)}; shuffle fetches and UI requests from outside the mesh are reset`,
      evidence: {
        pod: pod.description,
        role: pod.role,
        meshedBecause: gaps.meshedBecause,
        missingInbound: gaps.missingInbound.join(','),
        missingOutbound: gaps.missingOutbound.join(','),
      },
      fix: meshExclusionFix(pod.annotations, gaps, { kind: 'pod' }),
    },
  ];
}

function zonePlacement(pod: PodView): LintFinding[] {
  if (pod.role !== 'executor') return [];
  const bySelector = Object.keys(pod.nodeSelector).some((key) => ZONE_KEYS.has(key));
  const affinity = isRecord(pod.affinity) ? pod.affinity : {};
  const byAffinity = mentionsZone(affinity.nodeAffinity) || mentionsZone(affinity.podAffinity);
  const bySpread =
    Array.isArray(pod.topologySpreadConstraints) &&
    pod.topologySpreadConstraints.some(
      (constraint) =>
        isRecord(constraint) &&
        typeof constraint.topologyKey === 'string' &&
        ZONE_KEYS.has(constraint.topologyKey),
    );
  if (bySelector || byAffinity || bySpread) return [];
  return [
    {
      rule: 'k8s.zone-affinity',
      line: pod.lines.placement,
      status: 'warn',
      reason: 'config-problem',
      summary:
        `${pod.description}: executors have no zone affinity, node selector or zone spread, so ` +
        'Kubernetes places them in any zone and shuffle traffic crosses zones (paid per GB, ' +
        'slower, more middleboxes on the path)',
      evidence: { pod: pod.description, zoneKey: 'topology.kubernetes.io/zone' },
      fix: {
        summary:
          'Pin executors to one zone (the driver’s and the storage endpoint’s), by node affinity ' +
          'or a zone node selector; or spread them deliberately with a zone topology constraint.',
        snippets: [
          {
            platform: 'k8s-yaml',
            text: [
              'spec:',
              '  affinity:',
              '    nodeAffinity:',
              '      requiredDuringSchedulingIgnoredDuringExecution:',
              '        nodeSelectorTerms:',
              '          - matchExpressions:',
              '              - key: topology.kubernetes.io/zone',
              '                operator: In',
              '                values:',
              '                  - us-east-1a',
            ].join('\n'),
          },
        ],
      },
    },
  ];
}

/** Whether a zone key appears as a selector key or topology key anywhere below this node. */
function mentionsZone(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(mentionsZone);
  if (!isRecord(node)) return false;
  return Object.entries(node).some(
    ([key, value]) =>
      ((key === 'key' || key === 'topologyKey') &&
        typeof value === 'string' &&
        ZONE_KEYS.has(value)) ||
      mentionsZone(value),
  );
}

function keepaliveSysctls(pod: PodView): LintFinding[] {
  // A host-network pod shares the node's namespace and may not set these: the node decides.
  if (pod.hostNetwork) return [];
  const entry = pod.sysctls.find((sysctl) => sysctl.name === 'net.ipv4.tcp_keepalive_time');
  const seconds = entry === undefined ? LINUX_DEFAULT_KEEPALIVE.time : Number(entry.value);
  if (Number.isInteger(seconds) && seconds > 0 && keepaliveTimeIsShortEnough(seconds)) return [];
  const why =
    entry === undefined
      ? `sets no net.ipv4.tcp_keepalive_time, so the pod keeps the kernel default of ` +
        `${LINUX_DEFAULT_KEEPALIVE.time} s (a pod does not inherit the node's value)`
      : `sets net.ipv4.tcp_keepalive_time to ${entry.value}`;
  const expiring = Number.isInteger(seconds) ? natTimersExpiringBefore(seconds) : [];
  return [
    {
      rule: 'k8s.keepalive-sysctls',
      line: entry === undefined ? pod.lines.pod : pod.lines.sysctls,
      status: 'warn',
      reason: 'keepalive-missing',
      summary:
        `${pod.description} ${why}: idle connections through ` +
        `${expiring.length > 0 ? expiring.join(', ') : 'a NAT gateway'} die before the first probe`,
      evidence: {
        pod: pod.description,
        tcpKeepaliveTime: entry?.value ?? null,
        ...natIdleEvidence(),
      },
      fix: keepaliveFix('the pod’s keepalive sysctls'),
    },
  ];
}
