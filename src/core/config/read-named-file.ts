// Reads a file a config names (a certificate, a key, a token list) whole, or says which file, as
// what, could not be read.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.ts';

export function readNamedFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read the ${what} file ${file}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
}
