// `sparkplane gateway`: one Spark Connect endpoint in front of many Spark Connect servers.
import { z } from 'zod';
import { host, hostPort, path, port, portOrZero } from '../../core/config/fields.ts';
import { defineCommand, option } from '../command.ts';
import { serviceOptions } from '../common-options.ts';
import { notInThisBuild } from '../not-in-build.ts';

export const gatewayCommand = defineCommand({
  name: 'gateway',
  summary: 'run the Spark Connect gateway',
  description:
    'Run one Spark Connect endpoint (sc://HOST:PORT) in front of many Spark Connect servers, ' +
    'routing every session by the session id inside its gRPC requests.',
  configFile: true,
  options: {
    host: option.string('HOST', host().default('0.0.0.0'), 'address to listen on'),
    port: option.integer('PORT', port().default(15002), 'Spark Connect port clients use'),
    backend: option.list(
      'HOST:PORT',
      z.array(hostPort()).default([]),
      'a Spark Connect server behind the gateway',
    ),
    adminPort: option.integer(
      'PORT',
      portOrZero().default(15080),
      'admin port: metrics, admin API, dashboard',
    ),
    stateDir: option.string('DIR', path().optional(), 'folder for the embedded session store'),
    ...serviceOptions,
  },
  run(config, io) {
    if (config.printConfig) {
      io.stdout(`${JSON.stringify(config, null, 2)}\n`);
      return Promise.resolve(0);
    }
    return Promise.reject(notInThisBuild('Spark Connect gateway'));
  },
});
