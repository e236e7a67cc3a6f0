// The gateway config a plan writes: the gateway runs the planned number of Spark Connect servers
// itself, on YARN, in the planned queue. Keys are `sparkplane gateway` flags in camelCase, so
// the file loads with `sparkplane gateway --config FILE`.
import { stringify } from 'yaml';
import type { Plan } from './sizing.ts';

/** Where sparkplane-gateway.service keeps the session table (its StateDirectory). */
export const GATEWAY_STATE_DIR = '/var/lib/sparkplane/gateway';

export interface GatewayPlanSettings {
  /** Spark's folder on the gateway host (bin/spark-submit, jars/). */
  readonly sparkHome: string;
}

/** Spark's own size notation (`4g`, `512m`): the largest unit that divides the bytes evenly. */
export function sparkSize(bytes: number): string {
  for (const [suffix, factor] of [
    ['t', 1024 ** 4],
    ['g', 1024 ** 3],
    ['m', 1024 ** 2],
    ['k', 1024],
  ] as const) {
    if (bytes % factor === 0) return `${String(bytes / factor)}${suffix}`;
  }
  return `${String(bytes)}b`;
}

/** The `--conf KEY=VALUE` settings of every server the gateway launches. */
export function serverSparkConf(plan: Plan): string[] {
  return [
    `spark.yarn.queue=${plan.connectQueue.name}`,
    `spark.driver.memory=${sparkSize(plan.input.driverMemory)}`,
    // The gateway connects to each server where it started it; Spark 3.5 and 4.0 refuse any
    // other mode for a Connect server anyway.
    'spark.submit.deployMode=client',
  ];
}

export function gatewayConfig(
  plan: Plan,
  settings: GatewayPlanSettings,
): Readonly<Record<string, unknown>> {
  return {
    host: '0.0.0.0',
    port: 15002,
    adminHost: '127.0.0.1',
    adminPort: 15080,
    stateDir: GATEWAY_STATE_DIR,
    placement: 'least-sessions',
    logFormat: 'json',
    sparkHome: settings.sparkHome,
    sparkMaster: 'yarn',
    managedServers: plan.servers,
    managedMaxServers: plan.servers,
    isolation: 'shared',
    sparkConf: serverSparkConf(plan),
  };
}

export function renderGatewayConfig(
  plan: Plan,
  settings: GatewayPlanSettings,
  header: string,
): string {
  const comments = [
    header,
    'Keys are `sparkplane gateway` flags in camelCase; check it with',
    '`sparkplane gateway --config FILE --print-config`. The admin port (/metrics, the dashboard,',
    'drain) stays on loopback; before opening it, require credentials with adminAuthFile.',
    `managedServers = managedMaxServers = ${String(plan.servers)}: the queue "${plan.connectQueue.name}" is sized for that many.`,
  ];
  return `${comments.map((line) => `# ${line}`).join('\n')}\n${stringify(gatewayConfig(plan, settings))}`;
}
