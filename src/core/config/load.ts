// Builds a command's configuration from defaults, a YAML file, the environment and flags (later
// wins) and validates it against the command's schema. Every problem is reported with the key,
// where the value came from (file and line, variable or flag) and what the value must be.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

export type ConfigOrigin =
  | { readonly kind: 'file'; readonly path: string; readonly line?: number }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'flag'; readonly name: string };

export interface ConfigInput {
  readonly key: string;
  readonly value: unknown;
  readonly origin: ConfigOrigin;
}

/** Reads a YAML mapping of config keys; each input remembers its file and line. */
export function readConfigFile(path: string): ConfigInput[] {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read config file ${absolute}: ${reason}`, {
      cause: error,
    });
  }
  // Loaded only when a file is given: a service started from flags need not carry a YAML parser.
  const { LineCounter, parseDocument, isMap, isScalar } = createRequire(import.meta.url)(
    'yaml',
  ) as typeof Yaml;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const firstError = document.errors[0];
  if (firstError !== undefined) {
    const line = lineCounter.linePos(firstError.pos[0]).line;
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `config file ${absolute}:${line} is not valid YAML: ${firstError.message.split('\n')[0] ?? ''}`,
      { cause: firstError },
    );
  }
  if (document.contents === null) return [];
  if (!isMap(document.contents)) {
    throw new ConfigError(
      'CONFIG_INVALID',
      `config file ${absolute} must be a mapping of keys to values (e.g. "port: 7337"), not a ${describeNode(document.contents)}`,
    );
  }
  const values = document.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  const inputs: ConfigInput[] = [];
  for (const pair of document.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const offset = isScalar(pair.key) ? pair.key.range[0] : undefined;
    const origin: ConfigOrigin =
      offset === undefined
        ? { kind: 'file', path: absolute }
        : { kind: 'file', path: absolute, line: lineCounter.linePos(offset).line };
    const value = values[key] ?? null;
    inputs.push({ key, value, origin });
  }
  return inputs;
}

function describeNode(node: unknown): string {
  if (typeof node === 'object' && node !== null && 'value' in node)
    return `single value (${JSON.stringify(node.value)})`;
  return 'list';
}

/**
 * Merges the inputs (in rising precedence) and validates them. Throws ConfigError naming every
 * problem; returns the typed config otherwise.
 */
export function resolveConfig<S extends z.ZodObject>(
  schema: S,
  inputs: readonly ConfigInput[],
  /** How a key is named when it has no value at all, e.g. `concurrentUsers (--concurrent-users)`. */
  label: (key: string) => string = (key) => key,
): z.output<S> {
  const merged: Record<string, unknown> = {};
  const origins = new Map<string, ConfigOrigin>();
  for (const input of inputs) {
    merged[input.key] = input.value;
    origins.set(input.key, input.origin);
  }
  const result = schema.safeParse(merged);
  if (result.success) return result.data;
  const known = Object.keys(schema.shape);
  const problems = result.error.issues.map((issue) =>
    describeIssue(issue, origins, merged, known, label),
  );
  throw new ConfigError('CONFIG_INVALID', `invalid config: ${problems.join('; ')}`, {
    cause: result.error,
  });
}

type Issue = z.core.$ZodIssue;

function describeIssue(
  issue: Issue,
  origins: Map<string, ConfigOrigin>,
  merged: Record<string, unknown>,
  known: readonly string[],
  label: (key: string) => string,
): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const origin = origins.get(key);
        const guess = closest(key, known);
        const hint = guess === undefined ? '' : `did you mean "${guess}"? `;
        return `unknown key "${key}"${origin === undefined ? '' : ` ${where(origin)}`} (${hint}known keys: ${known.join(', ')})`;
      })
      .join('; ');
  }
  const topKey = typeof issue.path[0] === 'string' ? issue.path[0] : undefined;
  const origin = topKey === undefined ? undefined : origins.get(topKey);
  const name =
    origin?.kind === 'flag' || origin?.kind === 'env'
      ? origin.name + suffix(issue.path.slice(1))
      : pathName(issue.path);
  const place = origin?.kind === 'file' ? ` ${where(origin)}` : '';
  const value = topKey === undefined ? undefined : valueAt(merged, issue.path);
  if (
    value === undefined &&
    origin === undefined &&
    topKey !== undefined &&
    issue.path.length === 1
  ) {
    return `${label(topKey)} is required: it ${issue.message}`;
  }
  const got = value === undefined ? '' : ` (got ${show(value)})`;
  return `${name}${place} ${issue.message}${got}`;
}

function where(origin: ConfigOrigin): string {
  switch (origin.kind) {
    case 'file':
      return `in ${origin.path}${origin.line === undefined ? '' : `:${origin.line}`}`;
    case 'env':
      return `in environment variable ${origin.name}`;
    case 'flag':
      return `in flag ${origin.name}`;
  }
}

function pathName(path: readonly PropertyKey[]): string {
  const [first, ...rest] = path;
  return `${String(first ?? '(config)')}${suffix(rest)}`;
}

function suffix(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('');
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[part];
  }
  return current;
}

function show(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  const text = json ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  const normal = (text: string) => text.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(normal(word), normal(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
