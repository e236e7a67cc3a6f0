// The real `sparkplane doctor … --json` run inside a lab namespace, and the checks of one target
// read back from its report, so lab cases assert what a user would see.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { Check, Report } from '../../../src/doctor/model.ts';
import type { Lab } from './lab.ts';

const SPARKPLANE = fileURLToPath(new URL('../../../bin/sparkplane', import.meta.url));

export interface DoctorRun {
  readonly code: number;
  readonly report: Report;
  readonly stderr: string;
}

export async function runDoctor(
  lab: Lab,
  namespace: string,
  args: readonly string[],
  files: Readonly<Record<string, string>> = {},
): Promise<DoctorRun> {
  const result = await lab.run(
    namespace,
    ['env', 'NO_COLOR=1', SPARKPLANE, 'doctor', ...args, '--json'],
    { files, allowFailure: true, timeoutMs: 30_000 },
  );
  let report: Report;
  try {
    report = JSON.parse(result.stdout) as Report;
  } catch {
    throw new Error(
      `sparkplane doctor ${args.join(' ')} printed no JSON report (exit ${String(result.code)}): ${result.stderr.trim()}\n${result.stdout}`,
    );
  }
  return { code: result.code, report, stderr: result.stderr };
}

/** The checks of one target, in the report's order. */
export function targetChecks(run: DoctorRun, host: string, port: number): Check[] {
  const checks = run.report.checks.filter(
    (check) => check.target.host === host && check.target.port === port,
  );
  assert.ok(
    checks.length > 0,
    `no checks for ${host}:${String(port)} in ${JSON.stringify(run.report)}`,
  );
  return checks;
}

/** The one check of a layer (the first, when a name resolves to several addresses). */
export function layerCheck(checks: readonly Check[], layer: Check['layer']): Check {
  const found = checks.find((check) => check.layer === layer);
  assert.ok(found !== undefined, `no ${layer} check in ${JSON.stringify(checks, null, 2)}`);
  return found;
}

/** `[layer, status, reason]` of every check, for one readable assertion. */
export function outline(checks: readonly Check[]): [string, string, string][] {
  return checks.map((check) => [check.layer, check.status, check.reason]);
}
