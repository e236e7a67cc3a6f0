// The Kubernetes part of spark-defaults.conf lint: what Spark's own settings can say about its
// pods (annotations, labels, node selectors, pod templates) — Istio exclusions of the Spark ports,
// executor zone placement — and the keepalive sysctls that only a pod template can carry.
import { keepaliveFix, natIdleEvidence } from '../session-checks.ts';
import type { LintFinding } from './finding.ts';
import { describeGaps, meshExclusionFix, meshExclusionGaps } from './istio.ts';
import { essPort, lineOf, value, type Props } from './spark-properties.ts';

const ESS_DEFAULT_PORT = 7337;
const UI_DEFAULT_PORT = 4040;
const ZONE_KEYS = ['topology.kubernetes.io/zone', 'failure-domain.beta.kubernetes.io/zone'];

export function kubernetesPods(props: Props): LintFinding[] {
  const findings: LintFinding[] = [];
  const uiPort = Number(value(props, 'spark.ui.port') ?? UI_DEFAULT_PORT);
  const ports = [...new Set([ESS_DEFAULT_PORT, essPort(props), UI_DEFAULT_PORT, uiPort])].filter(
    (port) => Number.isInteger(port) && port > 0,
  );
  for (const role of ['executor', 'driver'] as const) {
    // A pod template carries its own annotations, placement and sysctls; lint that file instead.
    if (props.has(`spark.kubernetes.${role}.podTemplateFile`)) continue;
    const annotations = prefixed(props, `spark.kubernetes.${role}.annotation.`);
    const labels = prefixed(props, `spark.kubernetes.${role}.label.`);
    const gaps = meshExclusionGaps(annotations.values, labels.values, ports);
    if (gaps.meshedBecause === undefined) continue;
    if (gaps.missingInbound.length === 0 && gaps.missingOutbound.length === 0) continue;
    findings.push({
      rule: 'spark-conf.istio-exclusions',
      line: annotations.firstLine ?? labels.firstLine,
      status: 'warn',
      reason: 'mesh-mtls',
      summary:
        `${role} pods get an Istio sidecar (${gaps.meshedBecause}) that still intercepts ` +
        describeGaps(gaps),
      evidence: {
        role,
        meshedBecause: gaps.meshedBecause,
        missingInbound: gaps.missingInbound.join(','),
        missingOutbound: gaps.missingOutbound.join(','),
      },
      fix: meshExclusionFix(annotations.values, gaps, { kind: 'spark-conf', role }),
    });
  }
  const zoned = ZONE_KEYS.some(
    (zone) =>
      props.has(`spark.kubernetes.node.selector.${zone}`) ||
      props.has(`spark.kubernetes.executor.node.selector.${zone}`),
  );
  if (!zoned && !props.has('spark.kubernetes.executor.podTemplateFile')) {
    findings.push({
      rule: 'spark-conf.zone-affinity',
      line: lineOf(props, 'spark.master'),
      status: 'warn',
      reason: 'config-problem',
      summary:
        'Executors have no zone placement (no zone node selector, no executor pod template): ' +
        'Kubernetes spreads them over zones, so shuffle crosses zone boundaries (paid per GB, ' +
        'slower, more middleboxes)',
      evidence: { zoneKey: 'topology.kubernetes.io/zone' },
      fix: {
        summary:
          'Pin executors to one zone (the driver’s), or give them a pod template with zone affinity.',
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.kubernetes.executor.node.selector.topology.kubernetes.io/zone us-east-1a',
          },
        ],
      },
    });
  }
  const withoutTemplate = (['driver', 'executor'] as const).filter(
    (role) => !props.has(`spark.kubernetes.${role}.podTemplateFile`),
  );
  if (withoutTemplate.length > 0) {
    const fix = keepaliveFix('the pods’ TCP keepalive (in a pod template)');
    findings.push({
      rule: 'spark-conf.keepalive',
      line: lineOf(props, 'spark.master'),
      status: 'warn',
      reason: 'keepalive-missing',
      summary:
        `${withoutTemplate.join(' and ')} pods have no pod template, so no keepalive sysctls: ` +
        'every pod starts with the kernel default tcp_keepalive_time of 7200 s, and idle ' +
        'connections through a NAT gateway die unnoticed',
      evidence: { podsWithoutTemplate: withoutTemplate.join(','), ...natIdleEvidence() },
      fix: {
        ...fix,
        snippets: [
          {
            platform: 'spark-conf',
            text: withoutTemplate
              .map(
                (role) =>
                  `spark.kubernetes.${role}.podTemplateFile /opt/spark/conf/${role}-pod.yaml`,
              )
              .join('\n'),
          },
          ...(fix.snippets ?? []),
        ],
      },
    });
  }
  return findings;
}

function prefixed(
  props: Props,
  prefix: string,
): { values: Record<string, string>; firstLine: number | undefined } {
  const values: Record<string, string> = {};
  let firstLine: number | undefined;
  for (const [key, entry] of props) {
    if (!key.startsWith(prefix)) continue;
    values[key.slice(prefix.length)] = entry.value;
    firstLine = Math.min(firstLine ?? entry.line, entry.line);
  }
  return { values, firstLine };
}
