// The answer of a command whose service has not shipped in this version: its options are
// validated (so configs can be written and checked now) and it says plainly that it cannot run.
import { SparkplaneError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';

export function notInThisBuild(what: string): SparkplaneError {
  return new SparkplaneError(
    'NOT_IN_BUILD',
    `the ${what} is not part of sparkplane ${VERSION} yet; the configuration is valid (--print-config shows it)`,
  );
}
