// What `sparkplane doctor` and `doctor matrix` read from their users besides flags: list files
// (--targets-file, --nodes-file: one entry per line, `#` starts a comment) and bare host names
// (a node, or a host a --profile supplies the ports for). One reading, so both commands accept
// the same files and the same names.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { ConfigError } from '../../core/errors.ts';

/**
 * The file's lines with comments and surrounding blanks removed ('' where nothing is left), in
 * their places, so a caller can name the line of a bad entry. `what` names the file in the error,
 * e.g. "targets file".
 */
export async function listFileLines(file: string, what: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read the ${what} ${file}: ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  return text.split('\n').map((line) => line.replace(/#.*/, '').trim());
}

/** An IP address or a host name without a port, scheme or path. */
export function isBareHost(text: string): boolean {
  return isIP(text) !== 0 || /^[A-Za-z0-9._-]+$/.test(text);
}
