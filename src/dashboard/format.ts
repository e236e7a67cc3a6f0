// How the dashboard writes numbers, sizes and times: short, and the same in every section.

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${BYTE_UNITS[unit] ?? 'B'}`;
}

/** A duration as the two largest units that matter: 45 s, 3 m 12 s, 2 h 5 m, 3 d 4 h. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${String(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${String(minutes)} m ${String(seconds % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${String(hours)} h ${String(minutes % 60)} m`;
  return `${String(Math.floor(hours / 24))} d ${String(hours % 24)} h`;
}

export function formatAgo(at: number, now: number): string {
  return `${formatDuration(now - at)} ago`;
}

/** UTC, to the second, for a tooltip beside a relative time. */
export function formatInstant(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
