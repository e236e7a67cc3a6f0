// What the doctor reports: one check per target and layer, with a status, a reason from a fixed
// vocabulary, the evidence it rests on and the fix. The JSON report is this model as is, so these
// names are a stable, documented interface (docs/doctor.md); add to them, never rename.
import type { ServiceName } from './targets.ts';

export const LAYERS = [
  'dns',
  'route',
  'transport',
  'return-path',
  'tls',
  'protocol',
  'session',
  'path-mtu',
  'config',
  'log',
] as const;
export type Layer = (typeof LAYERS)[number];

export const STATUSES = ['pass', 'warn', 'fail', 'skip'] as const;
export type Status = (typeof STATUSES)[number];

/**
 * Why a check came out as it did. The first group is the required vocabulary; the rest
 * name finer outcomes. Every reason is documented in docs/doctor.md.
 */
export const REASONS = [
  // Required vocabulary.
  'open',
  'refused',
  'filtered',
  'unreachable',
  'no-route',
  'dns-failure',
  'tls-required',
  'mesh-mtls',
  'reset-after-connect',
  'wrong-protocol',
  'auth-required',
  'return-path-blocked',
  'nat-detected',
  'idle-timeout',
  'mtu-blackhole',
  // Finer outcomes.
  'resolved',
  'timeout',
  'tls-ok',
  'plaintext',
  'client-cert-required',
  'tls-handshake-failed',
  'protocol-ok',
  'no-answer',
  'keepalive-ok',
  'keepalive-missing',
  'no-nat',
  'mtu-ok',
  'config-ok',
  'config-problem',
  'log-finding',
  'not-checked',
  // Lint and log findings.
  /** A real Spark frame larger than the receiver accepts (a block over 2 GiB), not a stray protocol. */
  'oversized-frame',
  /** A Spark Connect session or operation the server does not hold (closed, expired, restarted). */
  'session-lost',
  /** A log with none of the failure patterns the doctor knows. */
  'log-clean',
  // Agent checks.
  /** A connection left idle for the probe's duration (no keepalive) still answered. */
  'idle-ok',
  /** The kernel has a route to the address (`ip route get`): device, source, next hop. */
  'routed',
] as const;
export type Reason = (typeof REASONS)[number];

export interface CheckTarget {
  readonly host: string;
  readonly port: number;
  readonly service: ServiceName;
}

/** A concrete fix: what to do, and snippets to paste, each for one platform. */
export interface Fix {
  readonly summary: string;
  readonly snippets?: readonly {
    readonly platform:
      | 'aws-cli'
      | 'azure-cli'
      | 'gcloud'
      | 'k8s-yaml'
      | 'istio-yaml'
      | 'sysctl'
      | 'spark-conf'
      | 'jdbc-url'
      | 'shell';
    readonly text: string;
  }[];
}

export interface Check {
  /** Stable id, e.g. `transport.connect`, `tls.handshake`, `protocol.spark-shuffle`. */
  readonly id: string;
  /**
   * What was probed. Findings of lint and explain name the host and port the file or log line
   * names, or host '' and port 0 when it names none.
   */
  readonly target: CheckTarget;
  /** For lint and explain findings: the file, and the line (1-based) when there is one. */
  readonly source?: { readonly file: string; readonly line?: number };
  readonly layer: Layer;
  readonly status: Status;
  readonly reason: Reason;
  /** One sentence a person reads: what was seen. */
  readonly summary: string;
  /** What it rests on: errno, elapsed ms, addresses, bytes seen (hex), certificate names… */
  readonly evidence: Readonly<Record<string, string | number | boolean | null>>;
  /** Present for warn and fail. */
  readonly fix?: Fix;
}

/** The outcome of probing one target: its checks, layer by layer, in order. */
export type TargetChecks = readonly Check[];

/** `doctor matrix`: which node reaches which on one port, one letter per pair. */
export interface MatrixGrid {
  readonly port: number;
  /** Row and column order: sources are rows, destinations columns. */
  readonly nodes: readonly { readonly host: string; readonly agent: string | null }[];
  /** One string per source node, one letter per destination (see `legend`). */
  readonly rows: readonly string[];
  readonly legend: Readonly<Record<string, string>>;
}

export interface Report {
  readonly schemaVersion: 1;
  readonly tool: { readonly name: 'sparkplane doctor'; readonly version: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly summary: Readonly<Record<Status, number>>;
  readonly checks: readonly Check[];
  /** Only from `doctor matrix`. */
  readonly matrix?: MatrixGrid;
}
