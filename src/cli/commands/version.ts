// `sparkplane version`: what is running, for bug reports.
import { z } from 'zod';
import { VERSION } from '../../core/version.ts';
import { defineCommand, option } from '../command.ts';

export const versionCommand = defineCommand({
  name: 'version',
  summary: 'print the sparkplane and Node.js versions',
  configFile: false,
  options: {
    json: option.boolean(z.boolean().default(false), 'print as JSON'),
  },
  run(config, io) {
    const info = {
      sparkplane: VERSION,
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    };
    io.stdout(
      config.json
        ? `${JSON.stringify(info)}\n`
        : `sparkplane ${info.sparkplane} (Node.js ${info.node}, ${info.platform})\n`,
    );
    return Promise.resolve(0);
  },
});
