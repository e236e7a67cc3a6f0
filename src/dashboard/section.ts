// What a dashboard section is: a titled block of the live fragment, rendered on every refresh,
// and the pieces sections are built of (capped tables, tiles, how numbers and times are written).
// Services present in the process contribute one each; `sparkplane up` may add its own (managed
// Spark Connect servers) through `extraSections`.
import { markup, type Html } from './html.ts';

export interface DashboardContext {
  /** The time every "ago" on the page is measured from. */
  readonly now: number;
  /** The authenticated principal; undefined when the admin port has no credentials file. */
  readonly principal: string | undefined;
  /** Whether this viewer may press buttons that change state. */
  readonly canChange: boolean;
  /** The anti-forgery token every form on the page carries (bound to the principal). */
  readonly csrf: string;
  /** Rows a table shows at most. */
  readonly maxRows: number;
}

export interface DashboardSection {
  /** Anchor and test id, kebab-case: `gateway`, `shuffle`, `connect-servers`. */
  readonly id: string;
  readonly title: string;
  render(context: DashboardContext): Html;
}

/** A table capped at `maxRows`, saying how many rows there are when it is cut. */
export function cappedTable<T>(options: {
  readonly id: string;
  readonly rows: readonly T[];
  readonly maxRows: number;
  readonly noun: string;
  readonly head: readonly string[];
  readonly row: (item: T) => Html;
  readonly empty: string;
}): Html {
  const { rows, maxRows } = options;
  if (rows.length === 0)
    return markup`<p class="empty" data-testid="${options.id}-empty">${options.empty}</p>`;
  const shown = rows.slice(0, maxRows);
  const note =
    rows.length > shown.length
      ? markup`<p class="cap" data-testid="${options.id}-cap">Showing the first ${formatCount(shown.length)} of ${formatCount(rows.length)} ${options.noun}.</p>`
      : undefined;
  return markup`<table id="${options.id}" data-testid="${options.id}">
      <thead>
        <tr>
          ${options.head.map((label) => markup`<th scope="col">${label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${shown.map(options.row)}
      </tbody>
    </table>
    ${note}`;
}

/** A row of labelled numbers at the top of a section. */
export function statTiles(tiles: readonly (readonly [string, string, string])[]): Html {
  return markup`<dl class="tiles">
    ${tiles.map(
      ([label, value, testId]) =>
        markup`<div class="tile">
          <dt>${label}</dt>
          <dd data-testid="${testId}">${value}</dd>
        </div>`,
    )}
  </dl>`;
}

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
