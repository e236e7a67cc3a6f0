// `sparkplane doctor`: diagnose why Spark traffic fails in a private network, layer by layer.
import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, oneOf, path } from '../../core/config/fields.ts';
import { UsageError } from '../../core/errors.ts';
import { parseTarget, profileTargets, type Target } from '../../doctor/targets.ts';
import { defineCommand, option } from '../command.ts';
import { notInThisBuild } from '../not-in-build.ts';

export const doctorCommand = defineCommand({
  name: 'doctor',
  summary: 'diagnose Spark connectivity layer by layer',
  description:
    'Probe Spark ports layer by layer (DNS, TCP, TLS and mesh, protocol) and print the fix. ' +
    "Targets are HOST:PORT[=SERVICE]; with --profile spark, give hosts and Spark's usual ports are probed.",
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
    targetsFile: option.string('FILE', path().optional(), 'file with one target per line'),
    timeout: {
      ...option.string('DURATION', duration().default(3000), 'budget for all probes, DNS included'),
      defaultHelp: '3s',
    },
    json: option.boolean(z.boolean().default(false), 'print the report as JSON'),
    printConfig: option.boolean(
      z.boolean().default(false),
      'print the validated configuration and targets as JSON and exit',
    ),
  },
  run(config, io) {
    const targets = resolveTargets(config.targets, config.profile);
    if (targets.length === 0 && config.targetsFile === undefined) {
      throw new UsageError(
        'no targets: give HOST:PORT[=SERVICE] arguments, --profile spark HOST, or --targets-file FILE',
      );
    }
    if (config.printConfig) {
      io.stdout(`${JSON.stringify({ ...config, targets }, null, 2)}\n`);
      return Promise.resolve(0);
    }
    return Promise.reject(notInThisBuild('doctor'));
  },
});

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
