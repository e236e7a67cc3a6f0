// How lint and explain findings become checks: the target a file line names (or none), the source
// file and line, and the one pass check a file without findings gets.
import type { Check, CheckTarget, Fix, Layer, Reason } from '../model.ts';
import { SPARK_PROFILE, type ServiceName } from '../targets.ts';

/** The target of a finding whose line names no host or port. */
export const NO_TARGET: CheckTarget = { host: '', port: 0, service: 'tcp' };

const SERVICE_BY_PORT = new Map<number, ServiceName>(
  SPARK_PROFILE.map(({ port, service }) => [port, service]),
);

/** The target for a host and port a line names; Spark's well-known ports name their service. */
export function targetFor(host: string, port: number): CheckTarget {
  const valid = Number.isInteger(port) && port >= 1 && port <= 65535;
  return {
    host,
    port: valid ? port : 0,
    service: valid ? (SERVICE_BY_PORT.get(port) ?? 'tcp') : 'tcp',
  };
}

/** One problem found in a configuration file: always warn or fail, always with a fix. */
export interface LintFinding {
  /** The rule, e.g. `spark-conf.locality-wait`; the check id is `lint.<rule>`. */
  readonly rule: string;
  readonly line?: number | undefined;
  readonly status: 'warn' | 'fail';
  readonly reason: Reason;
  readonly summary: string;
  readonly evidence: Readonly<Record<string, string | number | boolean | null>>;
  readonly fix: Fix;
  readonly target?: CheckTarget;
  /** Lint findings are about configuration unless a rule says which network layer it breaks. */
  readonly layer?: Layer;
}

export function lintCheck(file: string, finding: LintFinding): Check {
  return {
    id: `lint.${finding.rule}`,
    target: finding.target ?? NO_TARGET,
    source: finding.line === undefined ? { file } : { file, line: finding.line },
    layer: finding.layer ?? 'config',
    status: finding.status,
    reason: finding.reason,
    summary: finding.summary,
    evidence: finding.evidence,
    fix: finding.fix,
  };
}

/** The single check of a file in which no rule found anything. */
export function configOk(
  file: string,
  kind: string,
  evidence: Readonly<Record<string, string | number | boolean | null>>,
): Check {
  return {
    id: `lint.${kind}`,
    target: NO_TARGET,
    source: { file },
    layer: 'config',
    status: 'pass',
    reason: 'config-ok',
    summary: `${kind}: no problem found`,
    evidence: { kind, ...evidence },
  };
}
