// Tests that need a program the machine may lack (redis-server, chromium, promtool, java, ...):
// outside CI they are skipped with what is missing and how to get it; under CI=true they run, and
// fail where they first need the program, so a CI image without it cannot pass by skipping.
import { spawnSync } from 'node:child_process';

/**
 * Why `program` cannot serve the tests, or undefined when `program versionFlag` runs and exits 0.
 * `missing` is the reason to give, saying what needs it and how to install it.
 */
export function programMissing(
  program: string,
  missing: string,
  versionFlag = '--version',
): string | undefined {
  const probe = spawnSync(program, [versionFlag], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0 ? undefined : missing;
}

/** node:test options for a test that needs what `missing` names (undefined: nothing missing). */
export function prerequisiteOptions(missing: string | undefined): { skip?: string } {
  return missing === undefined || process.env.CI === 'true' ? {} : { skip: missing };
}
