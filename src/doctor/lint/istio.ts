// The Istio rule shared by pod specs and spark-defaults.conf: a Spark pod that gets an Envoy
// sidecar must keep the ports Spark peers reach without the mesh (the external shuffle service,
// 7337, and the UI, 4040) out of the sidecar's interception, inbound and outbound.
import type { Fix } from '../model.ts';

const INJECT = 'sidecar.istio.io/inject';
export const EXCLUDE_INBOUND = 'traffic.sidecar.istio.io/excludeInboundPorts';
export const EXCLUDE_OUTBOUND = 'traffic.sidecar.istio.io/excludeOutboundPorts';
const INCLUDE_INBOUND = 'traffic.sidecar.istio.io/includeInboundPorts';
const INCLUDE_OUTBOUND_RANGES = 'traffic.sidecar.istio.io/includeOutboundIPRanges';

export interface MeshGaps {
  /** Why the pod counts as meshed, e.g. `label sidecar.istio.io/inject=true`; undefined if not. */
  readonly meshedBecause: string | undefined;
  readonly missingInbound: readonly number[];
  readonly missingOutbound: readonly number[];
}

/**
 * The namespace's `istio-injection` label is not in the file, so a pod counts as meshed when it
 * asks for injection itself or carries sidecar settings; `inject: "false"` opts it out.
 */
export function meshExclusionGaps(
  annotations: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
  ports: readonly number[],
): MeshGaps {
  const none: MeshGaps = { meshedBecause: undefined, missingInbound: [], missingOutbound: [] };
  const inject = labels[INJECT] ?? annotations[INJECT];
  if (inject?.trim().toLowerCase() === 'false') return none;
  const meshedBecause =
    inject?.trim().toLowerCase() === 'true'
      ? `${INJECT in labels ? 'label' : 'annotation'} ${INJECT}=true`
      : sidecarAnnotation(annotations);
  if (meshedBecause === undefined) return none;

  const inboundCaptured = (port: number): boolean => {
    const include = annotations[INCLUDE_INBOUND];
    if (include !== undefined && include.trim() !== '*') {
      if (!portList(include).includes(port)) return false;
    }
    return !portList(annotations[EXCLUDE_INBOUND]).includes(port);
  };
  const outboundCaptured = (port: number): boolean => {
    if (annotations[INCLUDE_OUTBOUND_RANGES]?.trim() === '') return false;
    return !portList(annotations[EXCLUDE_OUTBOUND]).includes(port);
  };
  return {
    meshedBecause,
    missingInbound: ports.filter(inboundCaptured),
    missingOutbound: ports.filter(outboundCaptured),
  };
}

function sidecarAnnotation(annotations: Readonly<Record<string, string>>): string | undefined {
  const key = Object.keys(annotations).find(
    (name) =>
      name.startsWith('traffic.sidecar.istio.io/') ||
      name.startsWith('sidecar.istio.io/') ||
      name.startsWith('proxy.istio.io/'),
  );
  return key === undefined ? undefined : `Istio sidecar annotation ${key}`;
}

/** Istio's port lists: comma-separated port numbers. */
export function portList(text: string | undefined): number[] {
  if (text === undefined) return [];
  return text
    .split(',')
    .map((part) => Number(part.trim()))
    .filter((port) => Number.isInteger(port) && port > 0);
}

/** The annotation values after the fix: the existing list plus the missing ports. */
export function mergedPortList(existing: string | undefined, add: readonly number[]): string {
  const ports = portList(existing);
  for (const port of add) if (!ports.includes(port)) ports.push(port);
  return ports.join(',');
}

/**
 * The fix in the form the file uses: pod annotations, or spark-defaults.conf's
 * `spark.kubernetes.<role>.annotation.*` entries.
 */
export function meshExclusionFix(
  annotations: Readonly<Record<string, string>>,
  gaps: MeshGaps,
  form: { kind: 'pod' } | { kind: 'spark-conf'; role: 'executor' | 'driver' },
): Fix {
  const inbound = mergedPortList(annotations[EXCLUDE_INBOUND], gaps.missingInbound);
  const outbound = mergedPortList(annotations[EXCLUDE_OUTBOUND], gaps.missingOutbound);
  const summary =
    'Keep the Spark ports out of the Envoy sidecar: peers outside the mesh (a shuffle service on ' +
    'the host network, executors or clients without a sidecar) speak plaintext Spark RPC and are ' +
    'reset by a STRICT mTLS sidecar. Annotations take effect when pods are created; or relax mTLS ' +
    'on the shuffle port with a PeerAuthentication.';
  const peerAuthentication = [
    'apiVersion: security.istio.io/v1',
    'kind: PeerAuthentication',
    'metadata:',
    '  name: spark-shuffle-plaintext',
    'spec:',
    '  selector:',
    '    matchLabels:',
    '      spark-role: executor',
    '  portLevelMtls:',
    '    7337:',
    '      mode: PERMISSIVE',
  ].join('\n');
  if (form.kind === 'spark-conf') {
    const prefix = `spark.kubernetes.${form.role}.annotation.`;
    return {
      summary,
      snippets: [
        {
          platform: 'spark-conf',
          text: `${prefix}${EXCLUDE_INBOUND} ${inbound}\n${prefix}${EXCLUDE_OUTBOUND} ${outbound}`,
        },
        { platform: 'istio-yaml', text: peerAuthentication },
      ],
    };
  }
  return {
    summary,
    snippets: [
      {
        platform: 'istio-yaml',
        text: [
          'metadata:',
          '  annotations:',
          `    ${EXCLUDE_INBOUND}: "${inbound}"`,
          `    ${EXCLUDE_OUTBOUND}: "${outbound}"`,
        ].join('\n'),
      },
      { platform: 'istio-yaml', text: peerAuthentication },
    ],
  };
}

/** One sentence naming what the sidecar still intercepts. */
export function describeGaps(gaps: MeshGaps): string {
  const parts: string[] = [];
  if (gaps.missingInbound.length > 0) parts.push(`inbound ${gaps.missingInbound.join(', ')}`);
  if (gaps.missingOutbound.length > 0) parts.push(`outbound ${gaps.missingOutbound.join(', ')}`);
  return parts.join(' and ');
}
