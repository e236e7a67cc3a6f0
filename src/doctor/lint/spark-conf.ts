// Lint for spark-defaults.conf: the settings that decide whether Spark traffic survives a private
// network — shuffle service and dynamic allocation, locality waits, how fast a dead connection is
// noticed, authentication that both ends must agree on — and, on Kubernetes, the pod settings in
// spark-conf-kubernetes.ts.
import { keepaliveFix, natIdleEvidence, SMALLEST_NAT_IDLE_S } from '../session-checks.ts';
import { targetFor, type LintFinding } from './finding.ts';
import { kubernetesPods } from './spark-conf-kubernetes.ts';
import { portCollisions } from './spark-conf-ports.ts';
import {
  essPort,
  flag,
  formatSeconds,
  isKubernetes,
  lineOf,
  parseSparkProperties,
  parseSparkTime,
  value,
  type Props,
  type SparkProperty,
} from './spark-properties.ts';

/** Locality waits above this idle executors for longer than most tasks run. */
const LOCALITY_WAIT_MAX_MS = 30_000;

export function lintSparkConf(text: string): LintFinding[] {
  const props = parseSparkProperties(text);
  const findings = [
    ...dynamicAllocation(props),
    ...shuffleService(props),
    ...localityWaits(props),
    ...networkTimeouts(props),
    ...authentication(props),
    ...portCollisions(props),
  ];
  if (isKubernetes(props)) findings.push(...kubernetesPods(props));
  return findings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

function dynamicAllocation(props: Props): LintFinding[] {
  if (flag(props, 'spark.dynamicAllocation.enabled') !== true) return [];
  const ess = flag(props, 'spark.shuffle.service.enabled') === true;
  // Shuffle tracking is on by default since Spark 3.4, so only an explicit false loses it.
  const tracking = flag(props, 'spark.dynamicAllocation.shuffleTracking.enabled') !== false;
  const decommission =
    flag(props, 'spark.decommission.enabled') === true &&
    flag(props, 'spark.storage.decommission.shuffleBlocks.enabled') !== false;
  const plugin = value(props, 'spark.shuffle.sort.io.plugin.class') !== undefined;
  if (ess || tracking || decommission || plugin) return [];
  return [
    {
      rule: 'spark-conf.dynamic-allocation',
      line: lineOf(props, 'spark.dynamicAllocation.enabled'),
      status: 'fail',
      reason: 'config-problem',
      summary:
        'Dynamic allocation is on with neither the external shuffle service nor shuffle tracking: ' +
        'Spark refuses to start, since removed executors would take their shuffle files with them',
      evidence: {
        'spark.dynamicAllocation.enabled': 'true',
        'spark.shuffle.service.enabled': value(props, 'spark.shuffle.service.enabled') ?? null,
        'spark.dynamicAllocation.shuffleTracking.enabled': 'false',
      },
      fix: {
        summary:
          'Keep shuffle files reachable after executors go: shuffle tracking (no extra service; ' +
          'the usual choice on Kubernetes), or an external shuffle service on every node, port 7337.',
        snippets: [
          { platform: 'spark-conf', text: 'spark.dynamicAllocation.shuffleTracking.enabled true' },
          {
            platform: 'spark-conf',
            text: 'spark.shuffle.service.enabled true\nspark.shuffle.service.port 7337',
          },
        ],
      },
    },
  ];
}

function shuffleService(props: Props): LintFinding[] {
  if (flag(props, 'spark.shuffle.service.enabled') !== true) return [];
  const portText = value(props, 'spark.shuffle.service.port');
  const port = essPort(props);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return [
      {
        rule: 'spark-conf.shuffle-service',
        line: lineOf(props, 'spark.shuffle.service.port'),
        status: 'fail',
        reason: 'config-problem',
        summary: `spark.shuffle.service.port is "${portText ?? ''}", not a port 1–65535`,
        evidence: { 'spark.shuffle.service.port': portText ?? null },
        fix: {
          summary: 'Use the port the shuffle service listens on (7337 by default).',
          snippets: [{ platform: 'spark-conf', text: 'spark.shuffle.service.port 7337' }],
        },
      },
    ];
  }
  if (!isKubernetes(props)) return [];
  return [
    {
      rule: 'spark-conf.shuffle-service',
      line: lineOf(props, 'spark.shuffle.service.enabled'),
      status: 'warn',
      reason: 'config-problem',
      target: targetFor('', port),
      summary:
        `spark.shuffle.service.enabled on Kubernetes: each executor registers with a shuffle ` +
        `service at its own pod IP, port ${port}, and Spark on Kubernetes ships none — without one ` +
        'in the executor pod (or host-network executors beside a node service) executors fail ' +
        'with "Connection refused"',
      evidence: { 'spark.shuffle.service.enabled': 'true', port },
      fix: {
        summary:
          'Use shuffle tracking instead, or run a shuffle service the executors reach at their own ' +
          `address on port ${port}.`,
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.shuffle.service.enabled false\nspark.dynamicAllocation.shuffleTracking.enabled true',
          },
        ],
      },
    },
  ];
}

const LOCALITY_KEYS = [
  'spark.locality.wait',
  'spark.locality.wait.process',
  'spark.locality.wait.node',
  'spark.locality.wait.rack',
];

function localityWaits(props: Props): LintFinding[] {
  const findings: LintFinding[] = [];
  for (const key of LOCALITY_KEYS) {
    const entry = props.get(key);
    if (entry === undefined) continue;
    const ms = parseSparkTime(entry.value, 'ms');
    const base = { rule: 'spark-conf.locality-wait', line: entry.line } as const;
    const evidence = { [key]: entry.value, defaultValue: '3s' };
    const snippet = { platform: 'spark-conf' as const, text: `${key} 3s` };
    if (ms === undefined || ms < 0) {
      findings.push({
        ...base,
        reason: 'config-problem',
        status: 'fail',
        summary: `${key} is "${entry.value}", not a Spark time such as 3s or 500ms`,
        evidence,
        fix: { summary: 'Give a whole number with a unit (ms, s, min).', snippets: [snippet] },
      });
    } else if (ms === 0) {
      findings.push({
        ...base,
        reason: 'config-problem',
        status: 'warn',
        summary:
          `${key} is 0: the scheduler never waits for a local slot, so tasks read their input ` +
          'and shuffle blocks from other nodes — and on Kubernetes from other zones',
        evidence,
        fix: {
          summary:
            'Let the scheduler wait a little for a local executor (Spark’s default is 3s; ' +
            'shuffle-heavy jobs across zones often use 10s, with 5s for the node level).',
          snippets: [snippet],
        },
      });
    } else if (ms > LOCALITY_WAIT_MAX_MS) {
      findings.push({
        ...base,
        reason: 'config-problem',
        status: 'warn',
        summary:
          `${key} is ${formatSeconds(ms)}: each locality level can hold a task back that long ` +
          'while other executors sit idle, which looks like a stalled stage',
        evidence,
        fix: {
          summary: `Keep locality waits at seconds, not minutes (at most ${LOCALITY_WAIT_MAX_MS / 1000}s).`,
          snippets: [snippet],
        },
      });
    }
  }
  return findings;
}

function networkTimeouts(props: Props): LintFinding[] {
  const findings: LintFinding[] = [];
  const timeoutEntry = props.get('spark.network.timeout');
  const heartbeatEntry = props.get('spark.executor.heartbeatInterval');
  const timeoutMs = timeoutEntry === undefined ? 120_000 : parseSparkTime(timeoutEntry.value, 's');
  const heartbeatMs =
    heartbeatEntry === undefined ? 10_000 : parseSparkTime(heartbeatEntry.value, 'ms');
  for (const [entry, ms] of [
    [timeoutEntry, timeoutMs],
    [heartbeatEntry, heartbeatMs],
  ] as const) {
    if (entry !== undefined && (ms === undefined || ms <= 0)) {
      findings.push({
        rule: 'spark-conf.network-timeout',
        line: entry.line,
        status: 'fail',
        reason: 'config-problem',
        summary: `${entry.key} is "${entry.value}", not a positive Spark time such as 120s`,
        evidence: { [entry.key]: entry.value },
        fix: {
          summary: 'Give a whole number with a unit.',
          snippets: [{ platform: 'spark-conf', text: `${entry.key} 120s` }],
        },
      });
    }
  }
  if (timeoutMs !== undefined && heartbeatMs !== undefined && timeoutMs <= heartbeatMs) {
    findings.push({
      rule: 'spark-conf.network-timeout',
      line: lineOf(props, 'spark.network.timeout', 'spark.executor.heartbeatInterval'),
      status: 'fail',
      reason: 'config-problem',
      summary:
        `spark.network.timeout (${formatSeconds(timeoutMs)}) must be greater than ` +
        `spark.executor.heartbeatInterval (${formatSeconds(heartbeatMs)}): Spark refuses to start`,
      evidence: { timeoutMs, heartbeatMs },
      fix: {
        summary: 'Keep the heartbeat well below the network timeout (defaults 10s and 120s).',
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.network.timeout 120s\nspark.executor.heartbeatInterval 10s',
          },
        ],
      },
    });
  }
  // A connection a NAT expired silently is noticed only when this timer runs out, because Spark's
  // sockets keep the OS keepalive timing (first probe after 7200 s unless changed).
  const idleKeys = [
    'spark.network.timeout',
    'spark.shuffle.io.connectionTimeout',
    'spark.rpc.io.connectionTimeout',
  ];
  const longest = idleKeys
    .map((key) => props.get(key))
    .filter((entry): entry is SparkProperty => entry !== undefined)
    .map((entry) => ({ entry, ms: parseSparkTime(entry.value, 's') ?? 0 }))
    .sort((a, b) => b.ms - a.ms)[0];
  if (longest !== undefined && longest.ms > SMALLEST_NAT_IDLE_S * 1000) {
    findings.push({
      rule: 'spark-conf.dead-connection-detection',
      line: longest.entry.line,
      status: 'warn',
      reason: 'idle-timeout',
      summary:
        `${longest.entry.key} is ${formatSeconds(longest.ms)}: a connection that a NAT gateway ` +
        `dropped silently after ${SMALLEST_NAT_IDLE_S} s idle hangs that long before Spark gives ` +
        'up on it, because keepalive probes start only after tcp_keepalive_time',
      evidence: { [longest.entry.key]: longest.entry.value, ...natIdleEvidence() },
      fix: keepaliveFix('the keepalive timer of the driver and executor hosts or pods'),
    });
  }
  return findings;
}

function authentication(props: Props): LintFinding[] {
  const findings: LintFinding[] = [];
  const auth = flag(props, 'spark.authenticate') === true;
  const master = value(props, 'spark.master') ?? '';
  if (flag(props, 'spark.network.crypto.enabled') === true && !auth) {
    findings.push({
      rule: 'spark-conf.authenticate',
      line: lineOf(props, 'spark.network.crypto.enabled'),
      status: 'warn',
      reason: 'config-problem',
      summary:
        'spark.network.crypto.enabled has no effect without spark.authenticate=true: traffic ' +
        'stays unauthenticated and unencrypted',
      evidence: { 'spark.authenticate': value(props, 'spark.authenticate') ?? null },
      fix: {
        summary: 'Turn authentication on, with the same secret on every peer.',
        snippets: [{ platform: 'spark-conf', text: 'spark.authenticate true' }],
      },
    });
  }
  const cipher = value(props, 'spark.network.crypto.cipher');
  if (cipher?.toUpperCase() === 'AES/GCM/NOPADDING') {
    findings.push({
      rule: 'spark-conf.authenticate',
      line: lineOf(props, 'spark.network.crypto.cipher'),
      status: 'warn',
      reason: 'config-problem',
      summary:
        'spark.network.crypto.cipher AES/GCM/NoPadding: in Spark 4.0.0 a receiver decrypts only ' +
        'the first message of a connection (SPARK-56227), and peers must all use the same cipher',
      evidence: { 'spark.network.crypto.cipher': cipher },
      fix: {
        summary: 'Use the default CTR cipher unless every peer runs a release with the fix.',
        snippets: [
          { platform: 'spark-conf', text: 'spark.network.crypto.cipher AES/CTR/NoPadding' },
        ],
      },
    });
  }
  if (!auth) return findings;
  const hasSecret = [
    'spark.authenticate.secret',
    'spark.authenticate.secret.file',
    'spark.authenticate.secret.driver.file',
  ].some((key) => props.has(key));
  if (!hasSecret && master.startsWith('spark://')) {
    findings.push({
      rule: 'spark-conf.authenticate',
      line: lineOf(props, 'spark.authenticate'),
      status: 'fail',
      reason: 'auth-required',
      summary:
        'spark.authenticate on a standalone master without spark.authenticate.secret: Spark ' +
        'generates secrets only on YARN, Kubernetes and local mode, so the application cannot start',
      evidence: { 'spark.master': master },
      fix: {
        summary:
          'Give the secret (or a secret file) here and the same one to the master, workers and ' +
          'shuffle services.',
        snippets: [{ platform: 'spark-conf', text: 'spark.authenticate.secret <shared secret>' }],
      },
    });
  }
  if (flag(props, 'spark.shuffle.service.enabled') === true && !master.startsWith('yarn')) {
    findings.push({
      rule: 'spark-conf.authenticate',
      line: lineOf(props, 'spark.authenticate'),
      status: 'warn',
      reason: 'auth-required',
      target: targetFor('', essPort(props)),
      summary:
        'spark.authenticate with an external shuffle service: outside YARN the service checks ' +
        'its own spark.authenticate.secret, so it must be the application’s secret — otherwise ' +
        'fetches fail with "DIGEST-MD5 … Mismatched response" or "Expected SaslMessage"',
      evidence: { 'spark.master': master === '' ? null : master },
      fix: {
        summary: 'Start every shuffle service with the same authentication settings and secret.',
        snippets: [
          {
            platform: 'spark-conf',
            text: 'spark.authenticate true\nspark.authenticate.secret <the application’s secret>',
          },
        ],
      },
    });
  }
  return findings;
}
