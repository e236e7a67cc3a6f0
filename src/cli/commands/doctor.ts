// `sparkplane doctor`: diagnose why Spark traffic fails in a private network, layer by layer;
// `doctor lint` checks config files, `doctor explain` reads Spark logs, `doctor agent` runs the
// far end of two-ended checks and `doctor matrix` asks agents to probe each other. All print one
// report: text grouped by layer (plain without a terminal or with NO_COLOR), --json, --junit FILE.
import { z } from 'zod';
import { duration, oneOf, path, portOrZero } from '../../core/config/fields.ts';
import { UsageError } from '../../core/errors.ts';
import { DEFAULT_CALLBACK_PORT } from '../../doctor/agent/messages.ts';
import { idleProbeAgents, openCallback } from '../../doctor/agent-run.ts';
import { explainLog } from '../../doctor/explain/explain-log.ts';
import { lintFile } from '../../doctor/lint/lint-file.ts';
import type { Check } from '../../doctor/model.ts';
import { probeTarget } from '../../doctor/probe-target.ts';
import { probeAll, terminalProgress } from '../../doctor/run-doctor.ts';
import { checkLocalKeepalive } from '../../doctor/session-checks.ts';
import { parseTarget, profileTargets, type Target } from '../../doctor/targets.ts';
import { defineCommand, option } from '../command.ts';
import { doctorAgentCommand } from './doctor-agent.ts';
import { isBareHost, listFileLines } from './doctor-inputs.ts';
import { doctorMatrixCommand } from './doctor-matrix.ts';
import { report, reportOptions } from './doctor-report.ts';

export const doctorLintCommand = defineCommand({
  name: 'doctor lint',
  summary: 'check spark-defaults.conf, Kubernetes pod specs and JDBC URLs',
  description:
    'Check config files for what breaks Spark traffic in private networks: spark-defaults.conf, ' +
    'Kubernetes pod templates and workloads (Istio port exclusions, zone affinity, keepalive ' +
    'sysctls) and files of JDBC URLs (keepalive, timeouts, TLS), each finding with its fix.',
  configFile: false,
  options: {
    files: option.positional('FILE', z.array(path()).default([]), 'files to check'),
    ...reportOptions,
  },
  async run(config, io) {
    if (config.files.length === 0)
      throw new UsageError('name the files to check: sparkplane doctor lint FILE...');
    const started = new Date();
    const checks: Check[] = [];
    for (const file of config.files) checks.push(...(await lintFile(file)));
    return report(checks, started, config, io);
  },
});

export const doctorExplainCommand = defineCommand({
  name: 'doctor explain',
  summary: 'explain network errors in Spark logs',
  description:
    'Read Spark driver, executor or shuffle service logs and explain FetchFailedException, ' +
    'Connection refused, "Too large frame: N" (decoded to the bytes the peer sent), SASL and ' +
    'Spark Connect session errors, each with the layer that failed and the fix.',
  configFile: false,
  options: {
    logs: option.positional('LOGFILE', z.array(path()).default([]), 'log files to read'),
    ...reportOptions,
  },
  async run(config, io) {
    if (config.logs.length === 0)
      throw new UsageError('name the log files: sparkplane doctor explain LOGFILE...');
    const started = new Date();
    const checks: Check[] = [];
    for (const log of config.logs) checks.push(...(await explainLog(log)));
    return report(checks, started, config, io);
  },
});

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'diagnose Spark connectivity layer by layer',
  description:
    'Probe Spark ports layer by layer (DNS, route, TCP, TLS and mesh, protocol) and print the fix. ' +
    "Targets are HOST:PORT[=SERVICE]; with --profile spark, give hosts and Spark's usual ports " +
    'are probed. All targets are probed at once within --timeout. HOST:PORT=agent targets a ' +
    '`sparkplane doctor agent` on the far end: NAT, MTU ladder and return-path checks; ' +
    '--idle-probe then tests idle survival after the budget (slow by design). Exit codes: ' +
    '0 nothing failed, 1 problems found, 2 usage error, 3 could not run.',
  configFile: true,
  options: {
    targets: option.positional(
      'TARGET',
      z.array(z.string()).default([]),
      'HOST:PORT[=SERVICE], or a HOST with --profile',
    ),
    profile: option.string(
      'NAME',
      oneOf(['spark']).optional(),
      "probe a host's usual Spark ports (spark)",
    ),
    targetsFile: option.string(
      'FILE',
      path().optional(),
      'file with one target per line (# comments)',
    ),
    timeout: {
      ...option.string('DURATION', duration().default(3000), 'budget for all probes, DNS included'),
      defaultHelp: '3s',
    },
    callbackPort: {
      ...option.integer(
        'PORT',
        portOrZero().default(DEFAULT_CALLBACK_PORT),
        "with agent targets: port this machine listens on for agents' half-open reports during the run (0 = off)",
      ),
    },
    idleProbe: option.string(
      'DURATION',
      duration().optional(),
      'with agent targets: hold a connection idle this long, then test it (NAT idle timeouts); runs after, outside --timeout',
    ),
    ...reportOptions,
    printConfig: option.boolean(
      z.boolean().default(false),
      'print the validated configuration and targets as JSON and exit',
    ),
  },
  subcommands: [doctorLintCommand, doctorExplainCommand, doctorAgentCommand, doctorMatrixCommand],
  async run(config, io) {
    const targets = [
      ...resolveTargets(config.targets, config.profile),
      ...(config.targetsFile === undefined
        ? []
        : await targetsFromFile(config.targetsFile, config.profile)),
    ];
    if (targets.length === 0)
      throw new UsageError(
        'no targets: give HOST:PORT[=SERVICE] arguments, --profile spark HOST, or --targets-file FILE',
      );
    if (config.printConfig) {
      io.stdout(`${JSON.stringify({ ...config, targets }, null, 2)}\n`);
      return 0;
    }
    const started = new Date();
    const progress = io.isTty && !config.json ? terminalProgress(io.stderr) : undefined;
    const hasAgents = targets.some((target) => target.service === 'agent');
    if (config.idleProbe !== undefined && !hasAgents)
      throw new UsageError(
        '--idle-probe needs an agent target: run `sparkplane doctor agent` there and give HOST:PORT=agent',
      );
    const callback =
      hasAgents && config.callbackPort !== 0 ? await openCallback(config.callbackPort) : {};
    const checks: Check[] = callback.check === undefined ? [] : [callback.check];
    try {
      const agents = callback.listener === undefined ? undefined : { callback: callback.listener };
      checks.push(
        ...(await probeAll(targets, {
          timeoutMs: config.timeout,
          probe: (target, options) =>
            probeTarget(target, { ...options, ...(agents === undefined ? {} : { agents }) }),
          ...(progress === undefined ? {} : { progress: progress.update }),
        })),
      );
    } finally {
      progress?.clear();
      await callback.listener?.close();
    }
    if (config.idleProbe !== undefined) {
      io.stderr(
        `idle probe: holding connections to ${String(targets.filter((t) => t.service === 'agent').length)} agent(s) idle for ${String(Math.round(config.idleProbe / 1000))} s (outside --timeout; slow by design)\n`,
      );
      checks.push(...(await idleProbeAgents(targets, checks, config.idleProbe)));
    }
    checks.push(await checkLocalKeepalive());
    return report(checks, started, config, io);
  },
});

async function targetsFromFile(file: string, profile: 'spark' | undefined): Promise<Target[]> {
  const lines = await listFileLines(file, 'targets file');
  return lines.flatMap((line, index) => {
    if (line === '') return [];
    try {
      return resolveTargets(line.split(/\s+/), profile);
    } catch (error) {
      throw new UsageError(
        `${file} line ${String(index + 1)}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  });
}

function resolveTargets(args: readonly string[], profile: 'spark' | undefined): Target[] {
  if (profile !== undefined) {
    return args.flatMap((hostName) => {
      if (!isBareHost(hostName)) {
        throw new UsageError(
          `with --profile, "${hostName}" must be a bare host (the profile supplies the ports)`,
        );
      }
      return profileTargets(hostName);
    });
  }
  return args.map((text) => {
    const parsed = parseTarget(text);
    if (!parsed.ok) throw new UsageError(`target "${text}" ${parsed.problem}`);
    return parsed.target;
  });
}
