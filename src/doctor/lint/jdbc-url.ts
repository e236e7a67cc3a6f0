// JDBC URLs of the drivers that reach Spark's Thrift server and HiveServer2: Apache Hive's
// `jdbc:hive2://h1:p1,h2:p2/db;k=v?hiveconf#hivevar` and the Simba-based `jdbc:spark://` and
// `jdbc:databricks://` (`host:port/db;Key=Value`). Keys compare case-insensitively, as the
// Simba drivers do; the Hive driver's own keys are all lower camel case anyway.

export type JdbcDriver = 'hive2' | 'spark' | 'databricks';

export interface JdbcUrl {
  readonly driver: JdbcDriver;
  readonly hosts: readonly { readonly host: string; readonly port: number }[];
  /** Driver/session options (before `?` for hive2), by lower-case key. */
  readonly options: ReadonlyMap<string, { readonly key: string; readonly value: string }>;
}

export type JdbcParse =
  { readonly ok: true; readonly url: JdbcUrl } | { readonly ok: false; readonly problem: string };

const DEFAULT_PORTS: Readonly<Record<JdbcDriver, number>> = {
  hive2: 10000,
  spark: 10000,
  databricks: 443,
};

export function parseJdbcUrl(text: string): JdbcParse {
  const match = /^jdbc:(hive2|spark|databricks):\/\/(.*)$/i.exec(text.trim());
  if (match === null) {
    return {
      ok: false,
      problem: 'is not a jdbc:hive2://, jdbc:spark:// or jdbc:databricks:// URL',
    };
  }
  const driver = (match[1] ?? '').toLowerCase() as JdbcDriver;
  const rest = match[2] ?? '';
  const authorityEnd = rest.search(/[/;?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const hosts: { host: string; port: number }[] = [];
  for (const part of authority.split(',').filter((item) => item !== '')) {
    const hostPort = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(part);
    const port = Number(hostPort?.[2] ?? DEFAULT_PORTS[driver]);
    if (hostPort === null || !Number.isInteger(port) || port < 1 || port > 65535) {
      return { ok: false, problem: `names "${part}", not HOST[:PORT] with a port 1–65535` };
    }
    hosts.push({ host: (hostPort[1] ?? '').replace(/^\[|\]$/g, ''), port });
  }
  // Session options run from the first `;` to `?` (Hive confs) or `#` (Hive variables).
  const optionsText = tail.split(/[?#]/)[0] ?? '';
  const options = new Map<string, { key: string; value: string }>();
  for (const pair of optionsText.split(';').slice(1)) {
    const equals = pair.indexOf('=');
    if (equals <= 0) continue;
    const key = pair.slice(0, equals).trim();
    options.set(key.toLowerCase(), { key, value: pair.slice(equals + 1).trim() });
  }
  return { ok: true, url: { driver, hosts, options } };
}

/** An option by any of its spellings (lower case), with the spelling the URL used. */
export function option(
  url: JdbcUrl,
  ...names: string[]
): { key: string; value: string } | undefined {
  for (const name of names) {
    const found = url.options.get(name.toLowerCase());
    if (found !== undefined) return found;
  }
  return undefined;
}

/** `true`, `1`, `yes`, `on` (the Simba drivers write 1, Hive writes true). */
export function isTruthy(text: string | undefined): boolean {
  return ['true', '1', 'yes', 'on'].includes(text?.trim().toLowerCase() ?? '');
}
