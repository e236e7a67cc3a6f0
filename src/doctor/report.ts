// The doctor's report in its three forms: text for people (grouped by layer, failures first, each
// with its fix; symbols and colour only on a terminal without NO_COLOR), JSON (the model as is)
// and JUnit XML for CI. And the exit code the checks add up to.
import { VERSION } from '../core/version.ts';
import { LAYERS, STATUSES, type Check, type Report, type Status } from './model.ts';

export const DOCTOR_EXIT = {
  /** Nothing failed (warnings allowed unless strict). */
  ok: 0,
  problems: 1,
  usage: 2,
  couldNotRun: 3,
} as const;

export function buildReport(checks: readonly Check[], startedAt: Date, finishedAt: Date): Report {
  const summary = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<
    Status,
    number
  >;
  for (const check of checks) summary[check.status] += 1;
  return {
    schemaVersion: 1,
    tool: { name: 'sparkplane doctor', version: VERSION },
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    summary,
    checks: [...checks],
  };
}

/** 1 when a check failed (or, with `strict`, warned); else 0. */
export function exitCodeOf(report: Report, strict = false): number {
  if (report.summary.fail > 0) return DOCTOR_EXIT.problems;
  if (strict && report.summary.warn > 0) return DOCTOR_EXIT.problems;
  return DOCTOR_EXIT.ok;
}

export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const SEVERITY: Readonly<Record<Status, number>> = { fail: 0, warn: 1, pass: 2, skip: 3 };
const SYMBOLS = {
  fancy: { fail: '✗', warn: '!', pass: '✓', skip: '-' },
  plain: { fail: 'FAIL', warn: 'WARN', pass: 'PASS', skip: 'SKIP' },
} as const;
const COLOURS: Readonly<Record<Status, string>> = {
  fail: '\u001b[31m',
  warn: '\u001b[33m',
  pass: '\u001b[32m',
  skip: '\u001b[90m',
};
const RESET = '\u001b[0m';

export interface TextOptions {
  /** Symbols and colour (a terminal without NO_COLOR); plain words otherwise. */
  readonly fancy: boolean;
  /** Show passing and skipped checks too (by default only their count). */
  readonly verbose?: boolean;
}

/** One block per layer, the layers with failures first; in each, failures first, each with its fix. */
export function renderText(report: Report, options: TextOptions): string {
  const symbols = options.fancy ? SYMBOLS.fancy : SYMBOLS.plain;
  const paint = (status: Status, text: string): string =>
    options.fancy ? `${COLOURS[status]}${text}${RESET}` : text;
  const byLayer = new Map<string, Check[]>();
  for (const check of report.checks) {
    const list = byLayer.get(check.layer) ?? [];
    list.push(check);
    byLayer.set(check.layer, list);
  }
  const worst = (checks: readonly Check[]): number =>
    Math.min(...checks.map((check) => SEVERITY[check.status]));
  const layers = [...byLayer.entries()].sort(
    ([a, aChecks], [b, bChecks]) =>
      worst(aChecks) - worst(bChecks) ||
      LAYERS.indexOf(a as (typeof LAYERS)[number]) - LAYERS.indexOf(b as (typeof LAYERS)[number]),
  );
  const lines: string[] = [];
  for (const [layer, checks] of layers) {
    const shown = checks
      .filter(
        (check) => options.verbose === true || check.status === 'fail' || check.status === 'warn',
      )
      .sort((a, b) => SEVERITY[a.status] - SEVERITY[b.status]);
    const quiet = checks.length - shown.length;
    lines.push(`${layer}${quiet > 0 ? ` (${String(quiet)} more passed or skipped)` : ''}`);
    for (const check of shown) {
      lines.push(
        `  ${paint(check.status, symbols[check.status])} ${where(check)}: ${check.summary} [${check.reason}]`,
      );
      if (check.fix !== undefined) {
        lines.push(`      fix: ${check.fix.summary}`);
        for (const snippet of check.fix.snippets ?? [])
          for (const [index, line] of snippet.text.split('\n').entries())
            lines.push(
              `      ${index === 0 ? `${snippet.platform}: ` : ' '.repeat(snippet.platform.length + 2)}${line}`,
            );
      }
    }
  }
  const { fail, warn, pass, skip } = report.summary;
  lines.push(
    '',
    `${paint(fail > 0 ? 'fail' : warn > 0 ? 'warn' : 'pass', fail > 0 ? 'problems found' : warn > 0 ? 'warnings only' : 'all checks passed')}: ${String(fail)} failed, ${String(warn)} warned, ${String(pass)} passed, ${String(skip)} skipped`,
  );
  return `${lines.join('\n')}\n`;
}

function where(check: Check): string {
  if (check.source !== undefined)
    return `${check.source.file}${check.source.line === undefined ? '' : `:${String(check.source.line)}`}`;
  if (check.target.host === '' && check.target.port === 0) return 'this machine';
  const host = check.target.host.includes(':') ? `[${check.target.host}]` : check.target.host;
  return `${host}:${String(check.target.port)} (${check.target.service})`;
}

/** JUnit XML: a testsuite per layer, a testcase per check; fail → failure, warn → system-out. */
export function renderJunit(report: Report): string {
  const layers = new Map<string, Check[]>();
  for (const check of report.checks) {
    const list = layers.get(check.layer) ?? [];
    list.push(check);
    layers.set(check.layer, list);
  }
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="sparkplane doctor" tests="${String(report.checks.length)}" failures="${String(report.summary.fail)}" skipped="${String(report.summary.skip)}">`,
  ];
  for (const [layer, checks] of layers) {
    out.push(
      `  <testsuite name="${xml(layer)}" tests="${String(checks.length)}" failures="${String(checks.filter((c) => c.status === 'fail').length)}" skipped="${String(checks.filter((c) => c.status === 'skip').length)}">`,
    );
    for (const check of checks) {
      const name = xml(`${check.id} ${where(check)}`);
      out.push(`    <testcase classname="${xml(layer)}" name="${name}">`);
      const detail = [
        `${check.summary} [${check.reason}]`,
        ...(check.fix === undefined ? [] : [`fix: ${check.fix.summary}`]),
        ...(check.fix?.snippets ?? []).map((snippet) => `${snippet.platform}: ${snippet.text}`),
        `evidence: ${JSON.stringify(check.evidence)}`,
      ].join('\n');
      if (check.status === 'fail')
        out.push(
          `      <failure message="${xml(check.summary)}" type="${xml(check.reason)}">${xml(detail)}</failure>`,
        );
      else if (check.status === 'skip')
        out.push(`      <skipped message="${xml(check.summary)}"/>`);
      else if (check.status === 'warn')
        out.push(`      <system-out>${xml(`WARN ${detail}`)}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

function xml(text: string): string {
  return (
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // Characters XML 1.0 cannot carry at all.
      // eslint-disable-next-line no-control-regex -- exactly the control characters XML forbids
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '?')
  );
}
