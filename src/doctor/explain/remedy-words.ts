// The shared vocabulary of the explain remedies: a finding group, a remedy, and the phrases and
// snippets several remedies use (who the peer is, which service a port is, the keepalive and
// Istio snippets).
import { KEEPALIVE_SYSCTL_SNIPPET } from '../session-checks.ts';
import type { Fix, Layer, Reason } from '../model.ts';
import type { LogAddress } from './log-address.ts';
import type { FindingKind } from './log-patterns.ts';

/** One finding as the log showed it, however many times. */
export interface FindingGroup {
  readonly kind: FindingKind;
  readonly variant: string;
  readonly address: LogAddress | undefined;
  readonly count: number;
  readonly firstLine: number;
  readonly lastLine: number;
  /** The first line it was seen on, trimmed. */
  readonly text: string;
  readonly details: Readonly<Record<string, string | number>>;
  /** Shuffle fetch failures from the same host and port, folded into this cause. */
  readonly fetchFailures: number;
}

export interface Remedy {
  readonly layer: Layer;
  readonly reason: Reason;
  readonly status: 'warn' | 'fail';
  readonly summary: string;
  readonly fix: Fix;
}

export const times = (group: FindingGroup): string =>
  group.count === 1 ? '' : ` (${group.count}×)`;

/** ` with 10.0.1.23:7337` and the like, or nothing when the log named no peer. */
export function peer(preposition: string, address: LogAddress | undefined): string {
  return address === undefined ? '' : ` ${preposition} ${where(address)}`;
}

export function where(address: LogAddress | undefined): string {
  if (address === undefined) return 'an unnamed peer';
  const hostPort = address.port === 0 ? address.host : `${address.host}:${address.port}`;
  return address.name === undefined ? hostPort : `${address.name} (${hostPort})`;
}

export function serviceAt(port: number | undefined): string {
  switch (port) {
    case 7337:
      return 'the external shuffle service';
    case 4040:
      return 'the Spark UI';
    case 7077:
      return 'the standalone master';
    case 15002:
      return 'Spark Connect';
    case 10000:
      return 'HiveServer2 / the Thrift server';
    case 10001:
      return 'HiveServer2 HTTP or Spark Connect';
    case 9083:
      return 'the Hive metastore';
    default:
      return 'a driver or block manager port (random unless spark.driver.port or spark.blockManager.port fix it)';
  }
}

export const EXCLUDE_SPARK_PORTS = [
  'metadata:',
  '  annotations:',
  '    traffic.sidecar.istio.io/excludeInboundPorts: "7337,4040"',
  '    traffic.sidecar.istio.io/excludeOutboundPorts: "7337,4040"',
].join('\n');

export const TCP_SERVICE_PORT = [
  'ports:',
  '  - name: tcp-spark-rpc',
  '    port: 7337',
  '    appProtocol: tcp',
].join('\n');

export const KEEPALIVE = { platform: 'sysctl', text: KEEPALIVE_SYSCTL_SNIPPET } as const;

export const probe = (address: LogAddress | undefined) =>
  ({
    platform: 'shell',
    text:
      address === undefined || address.port === 0
        ? 'sparkplane doctor HOST:PORT'
        : `sparkplane doctor ${address.host}:${address.port}`,
  }) as const;

export function fetchNote(group: FindingGroup): string {
  if (group.fetchFailures === 0) return '';
  return group.fetchFailures === 1
    ? '; a shuffle fetch failure traces back to it'
    : `; ${group.fetchFailures} shuffle fetch failures trace back to it`;
}
