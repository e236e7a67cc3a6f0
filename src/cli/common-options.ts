// Options every long-running service command shares.
import { z } from 'zod';
import { duration, oneOf } from '../core/config/fields.ts';
import { LOG_FORMATS, LOG_LEVELS } from '../core/logging.ts';
import { option } from './command.ts';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state');
  return join(base, 'sparkplane');
}

export const serviceOptions = {
  logLevel: option.string(
    'LEVEL',
    oneOf(LOG_LEVELS).default('info'),
    `log level: ${LOG_LEVELS.join(', ')}`,
  ),
  logFormat: option.string(
    'FORMAT',
    oneOf(LOG_FORMATS).default('auto'),
    'json, pretty, or auto (pretty when stderr is a terminal)',
  ),
  shutdownTimeout: {
    ...option.string(
      'DURATION',
      duration().default(30_000),
      'how long in-flight work may run after SIGTERM/SIGINT before it is cut off',
    ),
    defaultHelp: '30s',
  },
  printConfig: option.boolean(
    z.boolean().default(false),
    'print the validated configuration as JSON and exit',
  ),
};
