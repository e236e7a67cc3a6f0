// `sparkplane shuffle`: an external shuffle service that unchanged Spark executors use.
import { z } from 'zod';
import { host, path, port, portOrZero } from '../../core/config/fields.ts';
import { defineCommand, option } from '../command.ts';
import { serviceOptions } from '../common-options.ts';
import { notInThisBuild } from '../not-in-build.ts';

export const shuffleCommand = defineCommand({
  name: 'shuffle',
  summary: 'run the external shuffle service',
  description:
    "Run an external shuffle service wire-compatible with Spark's, so executors can leave under " +
    'dynamic allocation without losing their shuffle output (spark.shuffle.service.enabled=true).',
  configFile: true,
  options: {
    host: option.string('HOST', host().default('0.0.0.0'), 'address to listen on'),
    port: option.integer(
      'PORT',
      port().default(7337),
      'port executors use (spark.shuffle.service.port)',
    ),
    allowedRoot: option.list(
      'DIR',
      z.array(path()).default([]),
      'folder executors may register local dirs under',
    ),
    stateDir: option.string('DIR', path().optional(), 'folder for the registered-executor store'),
    metricsPort: option.integer(
      'PORT',
      portOrZero().optional(),
      'port for Prometheus metrics (off when unset)',
    ),
    ...serviceOptions,
  },
  run(config, io) {
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    return Promise.reject(notInThisBuild('shuffle service'));
  },
});
