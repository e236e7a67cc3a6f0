// The files a plan writes. The systemd units and the files they read come verbatim from deploy/
// (one source of truth: what the plan writes is what docs/deploy.md installs); the YARN queue
// config and the gateway config are made for the plan.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlanError } from './errors.ts';
import { renderCapacityScheduler } from './capacity-scheduler.ts';
import { renderGatewayConfig, type GatewayPlanSettings } from './gateway-config.ts';
import type { Plan } from './sizing.ts';

/** deploy/systemd of this installation (src/plan and dist/plan both sit two levels down). */
export const SYSTEMD_TEMPLATES = new URL('../../deploy/systemd/', import.meta.url);

/** Files copied as they are, and what each is for. */
export const SYSTEMD_FILES = [
  ['sparkplane-gateway.service', 'systemd unit of the gateway (/etc/systemd/system/)'],
  ['sparkplane-shuffle.service', 'systemd unit of the shuffle service (/etc/systemd/system/)'],
  ['gateway.env', 'environment of the gateway: HADOOP_CONF_DIR, JAVA_HOME (/etc/sparkplane/)'],
  ['shuffle.yaml', 'shuffle service config: set allowedRoot to your local dirs (/etc/sparkplane/)'],
  ['shuffle.env', 'environment of the shuffle service (/etc/sparkplane/)'],
] as const;

export interface PlanFile {
  readonly name: string;
  readonly purpose: string;
  readonly content: string;
}

export function readSystemdTemplate(name: string): string {
  try {
    return readFileSync(new URL(name, SYSTEMD_TEMPLATES), 'utf8');
  } catch (error) {
    throw new PlanError(
      'PLAN_TEMPLATE_MISSING',
      `cannot read the template ${new URL(name, SYSTEMD_TEMPLATES).pathname}: this installation lacks its deploy/ folder; reinstall sparkplane with deploy/ beside src/ or dist/`,
      { cause: error, exitCode: 1 },
    );
  }
}

export function planFiles(plan: Plan, settings: GatewayPlanSettings, header: string): PlanFile[] {
  return [
    {
      name: 'capacity-scheduler.xml',
      purpose: `YARN queues default and ${plan.connectQueue.name} (merge into the ResourceManager's, then yarn rmadmin -refreshQueues)`,
      content: renderCapacityScheduler(plan, header),
    },
    {
      name: 'gateway.yaml',
      purpose: `gateway config running ${String(plan.servers)} Spark Connect servers on YARN (/etc/sparkplane/)`,
      content: renderGatewayConfig(plan, settings, header),
    },
    ...SYSTEMD_FILES.map(([name, purpose]) => ({
      name,
      purpose,
      content: readSystemdTemplate(name),
    })),
  ];
}

/** Writes every file into `dir` (made if missing), replacing files of the same names. */
export function writePlanFiles(dir: string, files: readonly PlanFile[]): string[] {
  const written: string[] = [];
  try {
    mkdirSync(dir, { recursive: true });
    for (const file of files) {
      const path = join(dir, file.name);
      writeFileSync(path, file.content);
      written.push(path);
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PlanError(
      'PLAN_OUTPUT_UNWRITABLE',
      `cannot write the plan's files into ${dir} (${reason}); wrote ${String(written.length)} of ${String(files.length)}: give a folder you can write with --output-dir`,
      { cause: error, exitCode: 1 },
    );
  }
  return written;
}
