// `sparkplane doctor`: diagnose why Spark traffic fails in a private network, layer by layer;
// `doctor lint` checks config files and `doctor explain` reads Spark logs. All three print one
// report: text grouped by layer (plain without a terminal or with NO_COLOR), --json, --junit FILE.
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, oneOf, path } from '../../core/config/fields.ts';
import { ConfigError, UsageError } from '../../core/errors.ts';
import { explainLog } from '../../doctor/explain/explain-log.ts';
import { lintFile } from '../../doctor/lint/lint-file.ts';
import type { Check } from '../../doctor/model.ts';
import { probeTarget } from '../../doctor/probe-target.ts';
import {
  buildReport,
  exitCodeOf,
  renderJson,
  renderJunit,
  renderText,
} from '../../doctor/report.ts';
import { probeAll, terminalProgress } from '../../doctor/run-doctor.ts';
import { checkLocalKeepalive } from '../../doctor/session-checks.ts';
import { parseTarget, profileTargets, type Target } from '../../doctor/targets.ts';
import { defineCommand, option, type CommandIo } from '../command.ts';

const reportOptions = {
  json: option.boolean(z.boolean().default(false), 'print the report as JSON (docs/doctor.md)'),
  junit: option.string('FILE', path().optional(), 'also write the report as JUnit XML to FILE'),
  strict: option.boolean(
    z.boolean().default(false),
    'exit 1 on warnings too (by default only failures do)',
  ),
  verbose: option.boolean(
    z.boolean().default(false),
    'list passing and skipped checks too, not only their count',
  ),
};

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
    'Probe Spark ports layer by layer (DNS, TCP, TLS and mesh, protocol) and print the fix. ' +
    "Targets are HOST:PORT[=SERVICE]; with --profile spark, give hosts and Spark's usual ports " +
    'are probed. All targets are probed at once within --timeout. Exit codes: 0 nothing failed, ' +
    '1 problems found, 2 usage error, 3 could not run.',
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
    ...reportOptions,
    printConfig: option.boolean(
      z.boolean().default(false),
      'print the validated configuration and targets as JSON and exit',
    ),
  },
  subcommands: [doctorLintCommand, doctorExplainCommand],
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
    const checks = await probeAll(targets, {
      timeoutMs: config.timeout,
      probe: probeTarget,
      ...(progress === undefined ? {} : { progress: progress.update }),
    });
    progress?.clear();
    checks.push(await checkLocalKeepalive());
    return report(checks, started, config, io);
  },
});

async function report(
  checks: readonly Check[],
  started: Date,
  config: { json: boolean; junit: string | undefined; strict: boolean; verbose: boolean },
  io: CommandIo,
): Promise<number> {
  const result = buildReport(checks, started, new Date());
  if (config.json) io.stdout(renderJson(result));
  else
    io.stdout(
      renderText(result, {
        fancy: io.isTty && (io.env.NO_COLOR ?? '') === '',
        verbose: config.verbose,
      }),
    );
  if (config.junit !== undefined) {
    try {
      await writeFile(config.junit, renderJunit(result));
    } catch (error) {
      throw new ConfigError(
        'CONFIG_UNREADABLE',
        `cannot write the JUnit report to ${config.junit}: ${String(error)}`,
        { cause: error },
      );
    }
  }
  return exitCodeOf(result, config.strict);
}

async function targetsFromFile(file: string, profile: 'spark' | undefined): Promise<Target[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read the targets file ${file}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  return text.split('\n').flatMap((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
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
      if (isIP(hostName) === 0 && !/^[A-Za-z0-9._-]+$/.test(hostName)) {
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
