// Ports a spark-defaults.conf fixes that collide on one host. The driver, its block manager, the
// UI, the Spark Connect server and the shuffle service each bind their own port; two set to one
// number make the later one fail at start. A common Spark Connect setup sets spark.driver.port to
// 15002, Spark Connect's own default port, and the server then never starts: measured with Spark
// 3.5.9 ("Failed to bind to address 0.0.0.0:15002 … Address already in use", exit 255) and 4.3.0
// ("SparkConnectService failed after 0 retries"), as the driver binds first.
import type { LintFinding } from './finding.ts';
import { lineOf, value, type Props } from './spark-properties.ts';

/** Spark Connect's default gRPC port (spark.connect.grpc.binding.port). */
const CONNECT_DEFAULT_PORT = 15002;

/** Settings that bind a port in the driver's process (or on every node, for the shuffle service). */
const PORT_KEYS = [
  'spark.driver.port',
  'spark.driver.blockManager.port',
  'spark.blockManager.port',
  'spark.ui.port',
  'spark.connect.grpc.binding.port',
  'spark.shuffle.service.port',
] as const;

export function portCollisions(props: Props): LintFinding[] {
  const byPort = new Map<number, string[]>();
  for (const key of PORT_KEYS) {
    const port = fixedPort(value(props, key));
    if (port !== undefined) byPort.set(port, [...(byPort.get(port) ?? []), key]);
  }
  // A Connect server's port is 15002 unless set: a conf that names Spark Connect at all, or fixes
  // another port to 15002, collides with it.
  const connectConfigured = value(props, 'spark.connect.grpc.binding.port') !== undefined;
  const usesConnect = [...props.keys()].some((key) => key.startsWith('spark.connect.'));
  if (!connectConfigured) {
    const taking = byPort.get(CONNECT_DEFAULT_PORT);
    if (taking !== undefined && (usesConnect || taking.includes('spark.driver.port')))
      byPort.set(CONNECT_DEFAULT_PORT, [...taking, 'spark.connect.grpc.binding.port (default)']);
  }
  const findings: LintFinding[] = [];
  for (const [port, keys] of byPort) {
    if (keys.length < 2) continue;
    const first = keys.find((key) => !key.endsWith('(default)')) ?? keys[0] ?? '';
    findings.push({
      rule: 'spark-conf.port-collision',
      line: lineOf(props, first),
      status: 'fail',
      reason: 'config-problem',
      summary: `${keys.join(' and ')} ask for the same port ${String(port)}: whichever binds second fails at start${keys.some((key) => key.startsWith('spark.connect')) ? ' — here the Spark Connect server, as the driver binds first' : ''}`,
      evidence: Object.fromEntries([
        ...keys.map((key) => [key.replace(' (default)', ''), String(port)] as const),
        ['seen with Spark 3.5.9 and 4.3.0', 'Failed to bind to address 0.0.0.0:PORT'],
      ]),
      fix: {
        summary: keys.includes('spark.driver.port')
          ? 'Give spark.driver.port its own port (or leave it unset for a random one) and keep each service on a port of its own.'
          : 'Give each of these services a port of its own.',
        snippets: [
          {
            platform: 'spark-conf',
            text: keys.includes('spark.driver.port')
              ? `# spark.driver.port ${String(port)}   <- remove, or use another port\nspark.connect.grpc.binding.port ${String(port)}`
              : keys
                  .map((key, index) => `${key.replace(' (default)', '')} ${String(port + index)}`)
                  .join('\n'),
          },
        ],
      },
    });
  }
  return findings;
}

function fixedPort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text.trim())) return undefined;
  const port = Number(text);
  // 0 asks for a random port: it never collides.
  return port >= 1 && port <= 65535 ? port : undefined;
}
