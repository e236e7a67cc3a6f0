// spark-defaults.conf as Spark reads it (java.util.Properties: `key value`, `key=value` or
// `key:value`, `#`/`!` comments, `\` continuations), Spark's own spellings of times and booleans,
// and the few readings of settings that several lint rules share.

export interface SparkProperty {
  readonly key: string;
  readonly value: string;
  /** 1-based line where the entry starts. */
  readonly line: number;
}

/** The entries by key; a key given twice keeps its last value, as in Spark. */
export function parseSparkProperties(text: string): Map<string, SparkProperty> {
  const entries = new Map<string, SparkProperty>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    const start = index;
    let logical = (lines[index] ?? '').replace(/^[ \t\f]+/, '');
    if (logical === '' || logical.startsWith('#') || logical.startsWith('!')) continue;
    while (endsWithContinuation(logical) && index + 1 < lines.length) {
      index += 1;
      logical = logical.slice(0, -1) + (lines[index] ?? '').replace(/^[ \t\f]+/, '');
    }
    const { key, value } = splitEntry(logical);
    if (key !== '') entries.set(key, { key, value: value.trim(), line: start + 1 });
  }
  return entries;
}

function endsWithContinuation(line: string): boolean {
  const trailing = /\\+$/.exec(line)?.[0].length ?? 0;
  return trailing % 2 === 1;
}

/** Splits at the first unescaped `=`, `:` or blank, as Properties.load does. */
function splitEntry(line: string): { key: string; value: string } {
  let key = '';
  let index = 0;
  for (; index < line.length; index += 1) {
    const char = line.charAt(index);
    if (char === '\\' && index + 1 < line.length) {
      key += line.charAt(index + 1);
      index += 1;
      continue;
    }
    if (char === '=' || char === ':' || char === ' ' || char === '\t' || char === '\f') break;
    key += char;
  }
  let rest = line.slice(index).replace(/^[ \t\f]+/, '');
  if (rest.startsWith('=') || rest.startsWith(':')) rest = rest.slice(1).replace(/^[ \t\f]+/, '');
  return { key, value: rest.replace(/\\(.)/g, '$1') };
}

const TIME_UNITS_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds for a Spark time string (`3s`, `100ms`, `2min`; whole numbers only, like
 * JavaUtils.timeStringAs); a bare number is in `bareUnit`, which differs per setting.
 */
export function parseSparkTime(text: string, bareUnit: 'ms' | 's'): number | undefined {
  const match = /^(-?\d+)([a-z]+)?$/.exec(text.trim().toLowerCase());
  if (match === null) return undefined;
  const factor = TIME_UNITS_MS[match[2] ?? bareUnit];
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

/** Spark's booleans are `true`/`false` in any case; anything else is not a boolean. */
export function parseSparkBoolean(text: string | undefined): boolean | undefined {
  const lower = text?.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  return undefined;
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export type Props = ReadonlyMap<string, SparkProperty>;

export const value = (props: Props, key: string): string | undefined => props.get(key)?.value;

export const flag = (props: Props, key: string): boolean | undefined =>
  parseSparkBoolean(value(props, key));

/** The line of the first of these keys the file sets. */
export const lineOf = (props: Props, ...keys: string[]): number | undefined =>
  keys.map((key) => props.get(key)?.line).find((line) => line !== undefined);

/** A Kubernetes master, or any Kubernetes setting, makes it a configuration for Kubernetes. */
export function isKubernetes(props: Props): boolean {
  return (
    value(props, 'spark.master')?.startsWith('k8s://') === true ||
    [...props.keys()].some((key) => key.startsWith('spark.kubernetes.'))
  );
}

/** spark.shuffle.service.port, 7337 unless set (NaN when set to something else than a number). */
export function essPort(props: Props): number {
  return Number(value(props, 'spark.shuffle.service.port') ?? 7337);
}
