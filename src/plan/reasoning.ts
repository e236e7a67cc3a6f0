// The plan explained step by step: each number with the formula that made it, the values put in,
// and why the rule holds (the EMR guide's rule where there is one, and where it was changed).
import { formatSize } from '../core/units.ts';
import {
  BURST_PERCENT,
  HEADROOM_FACTOR,
  MIN_DEFAULT_PERCENT,
  MIN_QUEUE_PERCENT,
  MIN_SERVERS,
  driverOverhead,
  type Plan,
} from './sizing.ts';

export interface PlanStep {
  readonly title: string;
  /** The rule, the values put in, and the result. */
  readonly formula: string;
  readonly why: string;
}

/** A percentage as people write it: at most two decimals, none when whole. */
export function percent(value: number): string {
  return `${String(Number(value.toFixed(2)))} %`;
}

export function planSteps(plan: Plan): PlanStep[] {
  const { input, servers, connectQueue: queue, defaultQueue } = plan;
  const driver = formatSize(input.driverMemory);
  const doubled = HEADROOM_FACTOR * plan.neededPercent;
  return [
    {
      title: 'Spark Connect servers',
      formula: `max(${String(MIN_SERVERS)}, ceil(concurrent users / users per server)) = max(${String(MIN_SERVERS)}, ceil(${String(input.concurrentUsers)} / ${String(input.usersPerServer)})) = ${String(servers)}`,
      why: `One server per ${String(input.usersPerServer)} users and never fewer than ${String(MIN_SERVERS)}, so one can fail or restart while two still serve (the guide's rule). Each server is one Spark application whose sessions share one driver.`,
    },
    {
      title: "Drivers' memory",
      formula: `servers × driver memory = ${String(servers)} × ${driver} = ${formatSize(plan.driversMemory)}`,
      why: "The guide multiplies max concurrent sessions by driver memory (its example: 20 × 4 GB = 80 GB), as if each session had a driver. Spark Connect sessions share their server's driver, so the count here is servers, not users or sessions.",
    },
    {
      title: 'Where the drivers run',
      formula: `servers × (driver memory + max(384 MiB, 10 %)) = ${String(servers)} × (${driver} + ${formatSize(driverOverhead(input.driverMemory))}) = ${formatSize(plan.driverHostMemory)} on the gateway host`,
      why: 'The gateway starts each server in client deploy mode (spark.submit.deployMode=client) and connects to it where it started it, so each driver runs on the gateway host; Spark 3.5 and 4.0 allow no other mode for a Connect server ("Cluster deploy mode is not applicable to Spark Connect server"). In YARN each server holds its Application Master and its executors in the queue.',
    },
    {
      title: 'Needed share',
      formula: `drivers' memory / cluster memory = ${formatSize(plan.driversMemory)} / ${formatSize(input.clusterMemory)} = ${percent(plan.neededPercent)}`,
      why: "The guide's queue formula with servers as the count (its example: 80 GB / 640 GB = 12.5 %). More than 100 % cannot be planned.",
    },
    {
      title: `Queue ${queue.name}: capacity`,
      formula: `max(${String(MIN_QUEUE_PERCENT)} %, ceil(${String(HEADROOM_FACTOR)} × needed share)) = max(${String(MIN_QUEUE_PERCENT)} %, ceil(${percent(doubled)})) = ${String(queue.capacity)} %`,
      why: `Guaranteed capacity is never preempted. ×${String(HEADROOM_FACTOR)}: each server's driver-sized share once more, for its first executors and for a restarted server's new application while YARN still holds the old one's containers. ${String(MIN_QUEUE_PERCENT)} % at least: the guide's value for its example (12.5 % → 30 %, the middle of its 25–35 %). Rounded up to a whole percent.`,
    },
    {
      title: `Queue ${queue.name}: maximum-capacity`,
      formula: `min(100 %, capacity + ${String(BURST_PERCENT)}) = ${String(queue.maximumCapacity)} %`,
      why: "The guide's 30 → 40: the servers' executors may grow into idle default capacity by 10 points; what they take there is preemptible.",
    },
    {
      title: 'Queue default',
      formula: `100 % − capacity = ${String(defaultQueue.capacity)} %, maximum-capacity ${String(defaultQueue.maximumCapacity)} %`,
      why: `Every application that is not Spark Connect. It keeps at least ${String(MIN_DEFAULT_PERCENT)} %, else the plan is refused.`,
    },
    {
      title: `Queue ${queue.name}: applications and user limit`,
      formula: `maximum-applications = 2 × servers = ${String(queue.maximumApplications)}; user-limit-factor = maximum-capacity / capacity rounded up to a tenth = ${String(queue.userLimitFactor)}`,
      why: "Each server is one YARN application, twice for restarts; nothing else belongs in this queue. Every server is submitted by the gateway's one service user, who with YARN's default factor of 1 could never go past capacity.",
    },
  ];
}

export interface WrittenFile {
  readonly path: string;
  readonly purpose: string;
}

export function renderPlanText(plan: Plan, files: readonly WrittenFile[]): string {
  const { input } = plan;
  const lines = [
    `Plan for ${String(input.concurrentUsers)} concurrent users, ${formatSize(input.driverMemory)} drivers, ${formatSize(input.clusterMemory)} of cluster memory`,
    '("the guide": Scaling SparkConnect on Amazon EMR on EC2; docs/plan.md explains each rule)',
    '',
  ];
  planSteps(plan).forEach((step, index) => {
    lines.push(`${String(index + 1)}. ${step.title}`, `   ${step.formula}`);
    lines.push(...wrap(step.why, 96).map((line) => `   ${line}`), '');
  });
  if (files.length === 0) {
    lines.push('Nothing written: give --output-dir DIR for capacity-scheduler.xml, gateway.yaml,');
    lines.push('the systemd units and their config files.');
  } else {
    lines.push('Written:');
    for (const file of files) lines.push(`  ${file.path}  ${file.purpose}`);
    lines.push(
      '',
      'Next: docs/deploy.md (install the units, the YARN queues, the gateway config).',
    );
  }
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}
