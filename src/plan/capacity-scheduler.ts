// YARN's capacity-scheduler.xml for a plan: two leaf queues under root, `default` and the Spark
// Connect queue, in Hadoop's <configuration><property><name/><value/></property> form.
import { formatSize } from '../core/units.ts';
import type { Plan } from './sizing.ts';

export interface SchedulerProperty {
  readonly name: string;
  readonly value: string;
  readonly description: string;
}

const PREFIX = 'yarn.scheduler.capacity.root';

export function schedulerProperties(plan: Plan): SchedulerProperty[] {
  const connect = plan.connectQueue;
  const other = plan.defaultQueue;
  const q = `${PREFIX}.${connect.name}`;
  return [
    {
      name: `${PREFIX}.queues`,
      value: `${other.name},${connect.name}`,
      description: `YARN's default queue for every other application; ${connect.name} for the Spark Connect servers`,
    },
    {
      name: `${PREFIX}.${other.name}.capacity`,
      value: String(other.capacity),
      description: `what ${connect.name} leaves: 100 - ${String(connect.capacity)}`,
    },
    {
      name: `${PREFIX}.${other.name}.maximum-capacity`,
      value: String(other.maximumCapacity),
      description: 'may use the whole cluster while Spark Connect is idle',
    },
    {
      name: `${q}.capacity`,
      value: String(connect.capacity),
      description: `max(30, ceil(2 x ${plan.neededPercent.toFixed(2)})): ${String(plan.servers)} servers x ${formatSize(plan.input.driverMemory)} drivers over ${formatSize(plan.input.clusterMemory)}, doubled for headroom`,
    },
    {
      name: `${q}.maximum-capacity`,
      value: String(connect.maximumCapacity),
      description: `capacity + 10: room to burst into while the default queue is idle`,
    },
    {
      name: `${q}.maximum-applications`,
      value: String(connect.maximumApplications),
      description: `one Spark application per server (${String(plan.servers)}), twice for restarts`,
    },
    {
      name: `${q}.user-limit-factor`,
      value: String(connect.userLimitFactor),
      description:
        'all servers run as one service user, who may then reach maximum-capacity / capacity',
    },
    {
      name: `${q}.state`,
      value: 'RUNNING',
      description: 'accepts applications',
    },
  ];
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function renderCapacityScheduler(plan: Plan, header: string): string {
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  // "--" may not appear inside an XML comment.
  lines.push(`<!-- ${header.replace(/-{2,}/g, '-')} -->`, '<configuration>');
  for (const property of schedulerProperties(plan)) {
    lines.push(
      '  <property>',
      `    <name>${escapeXml(property.name)}</name>`,
      `    <value>${escapeXml(property.value)}</value>`,
      `    <description>${escapeXml(property.description)}</description>`,
      '  </property>',
    );
  }
  lines.push('</configuration>', '');
  return lines.join('\n');
}
