// Parsing of the human units used in flags and config files: durations (`500ms`, `3s`, `2m`,
// `1h`) and sizes (`512m`, `4g`, `128MiB`). Both return undefined for text they do not accept.

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Milliseconds for `<number><unit>` with unit ms|s|m|h|d, e.g. `1.5s` → 1500. */
export function parseDuration(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(text);
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const factor = DURATION_UNITS_MS[unit.toLowerCase()];
  return factor === undefined ? undefined : Math.round(Number(amount) * factor);
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * Bytes for a size as Spark writes them (`512m`, `4g`) or with a binary suffix (`4GiB`, `512MB`).
 * Like Spark, every multiple is a power of 1024. A bare number is bytes.
 */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?\s*$/i.exec(text);
  if (match === null) return undefined;
  const [, amount = '', unit = 'b'] = match;
  const factor = SIZE_UNITS[unit.toLowerCase()];
  return factor === undefined ? undefined : Math.round(Number(amount) * factor);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (bytes >= factor) return `${Number((bytes / factor).toFixed(2))} ${unit}`;
  }
  return `${bytes} B`;
}
