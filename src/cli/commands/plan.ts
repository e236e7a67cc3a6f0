// `sparkplane plan`: size a Spark Connect deployment from the number of concurrent users.
import { z } from 'zod';
import { path, positiveInt, size } from '../../core/config/fields.ts';
import { VERSION } from '../../core/version.ts';
import { serverSparkConf, sparkSize } from '../../plan/gateway-config.ts';
import { planFiles, writePlanFiles } from '../../plan/plan-files.ts';
import { planSteps, renderPlanText } from '../../plan/reasoning.ts';
import { planDeployment, type Plan } from '../../plan/sizing.ts';
import { defineCommand, option } from '../command.ts';

export const planCommand = defineCommand({
  name: 'plan',
  summary: 'size Spark Connect servers and the YARN queue for a number of users',
  description:
    'Work out how many Spark Connect servers the gateway runs for a number of concurrent users ' +
    'and what share of a YARN cluster their queue gets, printing each step with its formula. ' +
    'With --output-dir, also write capacity-scheduler.xml, a gateway config that runs those ' +
    'servers, and the systemd units of the gateway and the shuffle service (docs/plan.md).',
  configFile: true,
  options: {
    concurrentUsers: option.integer('N', positiveInt(), 'users working at the same time'),
    driverMemory: option.string(
      'SIZE',
      size(),
      'driver memory of one Spark Connect server (spark.driver.memory), e.g. 4g',
    ),
    clusterMemory: option.string(
      'SIZE',
      size(),
      'memory YARN hands out across the whole cluster, e.g. 640g (10 nodes × 64g)',
    ),
    usersPerServer: option.integer(
      'N',
      positiveInt().default(5),
      'users one Spark Connect server serves',
    ),
    queue: option.string(
      'NAME',
      z.string().min(1, { error: 'must be a YARN queue name' }).default('sparkconnect'),
      'YARN queue of the Spark Connect servers (a leaf next to default)',
    ),
    sparkHome: option.string(
      'DIR',
      path().default('/usr/lib/spark'),
      'Spark folder on the gateway host, written into the gateway config',
    ),
    outputDir: option.string(
      'DIR',
      path().optional(),
      'write capacity-scheduler.xml, gateway.yaml and the systemd units here (nothing written when unset)',
    ),
    json: option.boolean(z.boolean().default(false), 'print the plan as JSON'),
    printConfig: option.boolean(
      z.boolean().default(false),
      'print the validated configuration as JSON and exit',
    ),
  },
  run(config, io) {
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    const plan = planDeployment({
      concurrentUsers: config.concurrentUsers,
      usersPerServer: config.usersPerServer,
      driverMemory: config.driverMemory,
      clusterMemory: config.clusterMemory,
      queue: config.queue,
    });
    const command = [
      'sparkplane plan',
      `--concurrent-users ${String(config.concurrentUsers)}`,
      `--users-per-server ${String(config.usersPerServer)}`,
      `--driver-memory ${sparkSize(config.driverMemory)}`,
      `--cluster-memory ${sparkSize(config.clusterMemory)}`,
      `--queue ${config.queue}`,
    ].join(' ');
    const files = planFiles(
      plan,
      { sparkHome: config.sparkHome },
      `Written by \`${command}\` (sparkplane ${VERSION}).`,
    );
    const written =
      config.outputDir === undefined
        ? []
        : writePlanFiles(config.outputDir, files).map((filePath, index) => ({
            path: filePath,
            purpose: files[index]?.purpose ?? '',
          }));
    io.stdout(
      config.json
        ? `${JSON.stringify(planJson(plan, written), null, 2)}\n`
        : renderPlanText(plan, written),
    );
    return Promise.resolve(0);
  },
});

function planJson(plan: Plan, written: readonly { path: string; purpose: string }[]): unknown {
  return {
    input: {
      concurrentUsers: plan.input.concurrentUsers,
      usersPerServer: plan.input.usersPerServer,
      driverMemoryBytes: plan.input.driverMemory,
      clusterMemoryBytes: plan.input.clusterMemory,
      queue: plan.input.queue,
    },
    servers: plan.servers,
    driversMemoryBytes: plan.driversMemory,
    driverHostMemoryBytes: plan.driverHostMemory,
    neededPercent: plan.neededPercent,
    queues: [plan.connectQueue, plan.defaultQueue],
    sparkConf: serverSparkConf(plan),
    steps: planSteps(plan),
    files: written,
  };
}
