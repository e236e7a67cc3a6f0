// What every doctor command shares: the report flags (--json, --junit, --strict, --verbose) and
// printing the report in the form asked for, with the exit code it adds up to.
import { writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { path } from '../../core/config/fields.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Check, MatrixGrid } from '../../doctor/model.ts';
import { renderGrid } from '../../doctor/matrix-grid.ts';
import {
  buildReport,
  exitCodeOf,
  renderJson,
  renderJunit,
  renderText,
} from '../../doctor/report.ts';
import { option, type CommandIo } from '../command.ts';

export const reportOptions = {
  json: option.boolean(z.boolean().default(false), 'print the report as JSON (docs/doctor.md)'),
  junit: option.string('FILE', path().optional(), 'also write the report as JUnit XML to FILE'),
  strict: option.boolean(
    z.boolean().default(false),
    'exit 1 on warnings too (by default only failures do)',
  ),
  verbose: option.boolean(
    z.boolean().default(false),
    'list passing and skipped checks too, not only their count',
  ),
};

export interface ReportConfig {
  readonly json: boolean;
  readonly junit: string | undefined;
  readonly strict: boolean;
  readonly verbose: boolean;
}

export async function report(
  checks: readonly Check[],
  started: Date,
  config: ReportConfig,
  io: CommandIo,
  matrix?: MatrixGrid,
): Promise<number> {
  const built = buildReport(checks, started, new Date());
  const result = matrix === undefined ? built : { ...built, matrix };
  if (config.json) io.stdout(renderJson(result));
  else
    io.stdout(
      (matrix === undefined ? '' : `${renderGrid(matrix)}\n`) +
        renderText(result, {
          fancy: io.isTty && (io.env.NO_COLOR ?? '') === '',
          verbose: config.verbose,
        }),
    );
  if (config.junit !== undefined) {
    try {
      await writeFile(config.junit, renderJunit(result));
    } catch (error) {
      throw new ConfigError(
        'CONFIG_UNREADABLE',
        `cannot write the JUnit report to ${config.junit}: ${String(error)}`,
        { cause: error },
      );
    }
  }
  return exitCodeOf(result, config.strict);
}
