// `sparkplane doctor explain LOGFILE`: streams a Spark driver, executor, shuffle service or
// Spark Connect server log (any size; it is never held whole) through the line splitter and the
// analyzer, and returns one check per finding, each mapped to the layer that failed.
//
// A log that cannot be opened or read throws a ConfigError (CONFIG_UNREADABLE) naming the file,
// as lint does for its files: it is a problem with the command line, not a finding.
import { createReadStream } from 'node:fs';
import { ConfigError } from '../../core/errors.ts';
import { describeSystemError } from '../../core/system-errors.ts';
import type { Check } from '../model.ts';
import { createLineSplitter, DEFAULT_MAX_LINE_BYTES } from './line-splitter.ts';
import { createLogAnalyzer } from './log-analyzer.ts';

export interface ExplainOptions {
  /** Bytes of a line that are looked at; the rest of a longer line is skipped unread. */
  readonly maxLineBytes?: number;
}

export async function explainLog(path: string, options: ExplainOptions = {}): Promise<Check[]> {
  const splitter = createLineSplitter(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  const analyzer = createLogAnalyzer(path);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
      for (const line of splitter.push(chunk as Buffer)) analyzer.line(line);
    }
  } catch (error) {
    const info = describeSystemError(error);
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read ${path}: ${info.summary} (${info.code}); ${info.hint}`,
      { cause: error },
    );
  }
  for (const line of splitter.end()) analyzer.line(line);
  return analyzer.finish();
}
