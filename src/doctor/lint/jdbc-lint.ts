// Lint for files of JDBC URLs (one per line, `#` comments): what keeps a BI or JDBC session to
// HiveServer2 or Spark's Thrift server alive and bounded across NAT gateways — keepalive below the
// NAT idle timers, a socket timeout so a silently dropped connection cannot hang a client forever —
// and TLS where the port or the credentials call for it.
import {
  keepaliveFix,
  keepaliveTimeIsShortEnough,
  KEEPALIVE_SYSCTL_SNIPPET,
  natIdleEvidence,
  SMALLEST_NAT_IDLE_S,
} from '../session-checks.ts';
import { targetFor, type LintFinding } from './finding.ts';
import { isTruthy, option, parseJdbcUrl, type JdbcUrl } from './jdbc-url.ts';

const KEEPALIVE_KEYS = ['tcpKeepAlive', 'KeepAlive', 'socketKeepAlive', 'TCPKeepAlive'];
const KEEPALIVE_TIME_KEYS = [
  'KeepAliveInterval',
  'tcpKeepAliveInterval',
  'KeepAliveTime',
  'tcpKeepAliveTime',
];
const TLS_PORTS = new Set([443, 8443]);

export function lintJdbcUrls(text: string): { urls: number; findings: LintFinding[] } {
  const findings: LintFinding[] = [];
  let urls = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parsed = parseJdbcUrl(line);
    if (!parsed.ok) {
      // Another kind of URL in the list is left unchecked; a broken JDBC URL is an error.
      findings.push({
        rule: 'jdbc.url',
        line: index + 1,
        status: /^jdbc:/i.test(line) ? 'fail' : 'warn',
        reason: 'config-problem',
        summary: `Line ${index + 1} ${parsed.problem}`,
        evidence: { text: line.slice(0, 200) },
        fix: {
          summary: 'Write one JDBC URL per line, e.g. jdbc:hive2://host:10000/default;ssl=true.',
        },
      });
      return;
    }
    urls += 1;
    findings.push(...lintUrl(parsed.url, line, index + 1));
  });
  return { urls, findings };
}

function lintUrl(url: JdbcUrl, line: string, lineNumber: number): LintFinding[] {
  const first = url.hosts[0];
  const target = first === undefined ? undefined : targetFor(first.host, first.port);
  const base = { line: lineNumber, ...(target === undefined ? {} : { target }) };
  // Fixes repeat the URL; neither they nor the evidence may repeat its secrets.
  const text = redact(line);
  const evidence = { url: text.slice(0, 300) };
  return [
    ...keepalive(url, text, base, evidence),
    ...socketTimeout(url, text, base, evidence),
    ...tls(url, text, base, evidence),
  ];
}

type Base = Pick<LintFinding, 'line' | 'target'>;
type Evidence = Readonly<Record<string, string>>;

function keepalive(url: JdbcUrl, text: string, base: Base, evidence: Evidence): LintFinding[] {
  const enabled = option(url, ...KEEPALIVE_KEYS);
  const interval = option(url, ...KEEPALIVE_TIME_KEYS);
  const seconds = interval === undefined ? undefined : Number(interval.value);
  if (enabled !== undefined && isTruthy(enabled.value)) {
    if (seconds === undefined || (Number.isFinite(seconds) && keepaliveTimeIsShortEnough(seconds)))
      return [];
  }
  const why =
    enabled === undefined
      ? 'turns no TCP keepalive on'
      : !isTruthy(enabled.value)
        ? `turns TCP keepalive off (${enabled.key}=${enabled.value})`
        : `sends the first keepalive after ${interval?.value ?? '?'} s`;
  const fix = keepaliveFix('the JDBC client host’s TCP keepalive');
  return [
    {
      ...base,
      rule: 'jdbc.keepalive',
      status: 'warn',
      reason: 'keepalive-missing',
      summary:
        `The URL ${why}: an idle BI session through a NAT gateway (Azure ${SMALLEST_NAT_IDLE_S} s, ` +
        'AWS 350 s) is dropped and the next query fails' +
        (url.driver === 'hive2'
          ? '. Apache Hive’s driver (Thrift) turns SO_KEEPALIVE on but leaves the timing to the ' +
            'OS: 7200 s by default'
          : ''),
      evidence: { ...evidence, ...natIdleEvidence() },
      fix: {
        summary: `${fix.summary} Where the driver has a URL option for it, turn keepalive on as well.`,
        snippets: [
          {
            platform: 'jdbc-url',
            text: withOptions(text, {
              tcpKeepAlive: 'true',
              ...(interval === undefined ? {} : { [interval.key]: '120' }),
            }),
          },
          { platform: 'sysctl', text: KEEPALIVE_SYSCTL_SNIPPET },
        ],
      },
    },
  ];
}

function socketTimeout(url: JdbcUrl, text: string, base: Base, evidence: Evidence): LintFinding[] {
  const timeout = option(url, 'socketTimeout');
  if (timeout !== undefined && Number(timeout.value) > 0) return [];
  // Hive 4's driver reads milliseconds; the Simba drivers read seconds.
  const value = url.driver === 'hive2' ? '300000' : '300';
  return [
    {
      ...base,
      rule: 'jdbc.socket-timeout',
      status: 'warn',
      reason: 'config-problem',
      summary:
        `The URL has ${timeout === undefined ? 'no' : 'a zero'} socketTimeout: when a NAT gateway ` +
        'or firewall drops an idle connection silently (Azure, GCP), the next query waits until ' +
        'the kernel gives up retransmitting, about 15 minutes',
      evidence,
      fix: {
        summary:
          'Bound every read with a socket timeout longer than the slowest single call (Hive 4’s ' +
          'driver takes milliseconds; the Simba-based drivers take seconds).',
        snippets: [{ platform: 'jdbc-url', text: withOptions(text, { socketTimeout: value }) }],
      },
    },
  ];
}

function tls(url: JdbcUrl, text: string, base: Base, evidence: Evidence): LintFinding[] {
  const ssl = option(url, 'ssl', 'useSSL');
  const tlsOn = isTruthy(ssl?.value);
  const sslKey = url.driver === 'hive2' ? 'ssl' : 'SSL';
  const sslValue = url.driver === 'hive2' ? 'true' : '1';
  const findings: LintFinding[] = [];
  const tlsPort = url.hosts.find((host) => TLS_PORTS.has(host.port));
  if (!tlsOn && tlsPort !== undefined) {
    findings.push({
      ...base,
      rule: 'jdbc.tls',
      status: 'fail',
      reason: 'tls-required',
      layer: 'tls',
      summary:
        `Port ${tlsPort.port} speaks TLS but the URL does not turn TLS on: the driver sends ` +
        'plaintext Thrift and the server closes the connection (clients report "Invalid status 21" ' +
        'or a reset)',
      evidence,
      fix: {
        summary: 'Turn TLS on in the URL (and give a trust store if the CA is private).',
        snippets: [{ platform: 'jdbc-url', text: withOptions(text, { [sslKey]: sslValue }) }],
      },
    });
  } else if (!tlsOn && option(url, 'password', 'pwd', 'token') !== undefined) {
    findings.push({
      ...base,
      rule: 'jdbc.tls',
      status: 'warn',
      reason: 'plaintext',
      summary: 'The URL carries a password or token without TLS: it crosses the network in clear',
      evidence,
      fix: {
        summary: 'Turn TLS on and keep secrets out of URLs that are stored in files.',
        snippets: [{ platform: 'jdbc-url', text: withOptions(text, { [sslKey]: sslValue }) }],
      },
    });
  }
  const mode = option(url, 'transportMode')?.value.toLowerCase() ?? 'binary';
  const onHttpPort = url.hosts.find((host) => host.port === 10001);
  if (url.driver === 'hive2' && mode === 'binary' && onHttpPort !== undefined) {
    findings.push({
      ...base,
      rule: 'jdbc.transport-mode',
      status: 'warn',
      reason: 'wrong-protocol',
      layer: 'protocol',
      summary:
        'Binary Thrift to port 10001: that is HiveServer2’s HTTP-mode port (and Spark Connect’s ' +
        'on some platforms), where a binary client gets no answer or a reset',
      evidence,
      fix: {
        summary: 'Use HTTP transport on 10001, or the binary port 10000.',
        snippets: [
          {
            platform: 'jdbc-url',
            text: withOptions(text, { transportMode: 'http', httpPath: 'cliservice' }),
          },
        ],
      },
    });
  }
  return findings;
}

/** The URL with options set (replacing the same key in any case), Hive confs and vars kept. */
export function withOptions(text: string, set: Readonly<Record<string, string>>): string {
  const cut = text.search(/[?#]/);
  const head = cut === -1 ? text : text.slice(0, cut);
  const tail = cut === -1 ? '' : text.slice(cut);
  const [prefix = '', ...pairs] = head.split(';');
  const lower = new Set(Object.keys(set).map((key) => key.toLowerCase()));
  const kept = pairs.filter(
    (pair) => pair !== '' && !lower.has(pair.split('=')[0]?.trim().toLowerCase() ?? ''),
  );
  const added = Object.entries(set).map(([key, value]) => `${key}=${value}`);
  return [prefix, ...kept, ...added].join(';') + tail;
}

/** Evidence never repeats a password or token. */
function redact(text: string): string {
  return text.replace(/(;(?:password|pwd|token)=)[^;?#]*/gi, '$1***');
}
