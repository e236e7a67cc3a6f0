// `sparkplane plan`: size a Spark Connect deployment from the number of concurrent users.
import { positiveInt, size } from '../../core/config/fields.ts';
import { defineCommand, option } from '../command.ts';
import { notInThisBuild } from '../not-in-build.ts';
import { z } from 'zod';

export const planCommand = defineCommand({
  name: 'plan',
  summary: 'size Spark Connect servers and the YARN queue for a number of users',
  configFile: true,
  options: {
    concurrentUsers: option.integer('N', positiveInt(), 'users working at the same time'),
    driverMemory: option.string(
      'SIZE',
      size(),
      'driver memory of one Spark Connect server, e.g. 8g',
    ),
    clusterMemory: option.string('SIZE', size(), 'memory of the whole cluster, e.g. 2t'),
    usersPerServer: option.integer(
      'N',
      positiveInt().default(5),
      'users one Spark Connect server serves',
    ),
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
    return Promise.reject(notInThisBuild('planner'));
  },
});
