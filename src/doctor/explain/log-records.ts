// How a log line relates to its record: Spark's log4j layouts start a record with a timestamp
// (`26/11/21 05:23:48 WARN …` by default in 3.5 and 4.x, ISO dates in many custom layouts), and
// stack traces continue it; with `spark.log.structuredLogging.enabled` (4.x) every record is one
// JSON line whose message, exception and causes are fields.

const HEADER = [
  /^\d{2}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/,
  /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}/,
  /^\[?\d{4}-\d{2}-\d{2}/,
  /^[A-Z][a-z]{2} \d{1,2}, \d{4} /,
];

/** Whether the line starts a new record (so stack-trace lines and wrapped messages do not). */
export function startsRecord(line: string): boolean {
  return line.startsWith('{') || HEADER.some((pattern) => pattern.test(line));
}

/**
 * The texts of a structured (JSON) log line: its message, each exception as `class: msg` (causes
 * included), and the host:port from its context; undefined when the line is not such JSON.
 */
export function structuredTexts(line: string): string[] | undefined {
  if (!line.startsWith('{') || !line.trimEnd().endsWith('}')) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null) return undefined;
  const texts: string[] = [];
  collect(record as Record<string, unknown>, texts, 0);
  return texts;
}

function collect(node: Record<string, unknown>, texts: string[], depth: number): void {
  if (depth > 8) return;
  const message = typeof node.msg === 'string' ? node.msg : node.message;
  if (typeof message === 'string') {
    texts.push(typeof node.class === 'string' ? `${node.class}: ${message}` : message);
  }
  const context = node.context;
  if (typeof context === 'object' && context !== null) {
    const hostPort = (context as Record<string, unknown>).host_port;
    if (typeof hostPort === 'string') texts.push(`peer ${hostPort}`);
  }
  for (const key of ['exception', 'cause']) {
    const child = node[key];
    if (typeof child === 'object' && child !== null && !Array.isArray(child)) {
      collect(child as Record<string, unknown>, texts, depth + 1);
    }
  }
}
