// The log lines explain recognises, each turned into an observation: which failure, which variant
// of it, and the host and port involved. The message texts are Spark's own (network-common,
// network-shuffle, core and connect in 3.5.9, 4.0.5 and 4.3.0), Netty's and the JDK's exception
// texts, and Thrift's as HiveServer2 clients print them.
import { addressesIn, blockManagerIn, firstAddress, type LogAddress } from './log-address.ts';
import { decodeReportedFrameSize } from './peer-bytes.ts';

export type FindingKind =
  | 'wrong-bytes'
  | 'oversized-frame'
  | 'fetch-failed'
  | 'shuffle-output-lost'
  | 'connection-refused'
  | 'connection-reset'
  | 'connect-timeout'
  | 'no-route'
  | 'unknown-host'
  | 'connection-quiet'
  | 'connection-closed'
  | 'spark-auth'
  | 'thrift-auth'
  | 'thrift-tls'
  | 'connect-session';

export interface Observation {
  readonly kind: FindingKind;
  /** Splits a kind into findings that need different fixes, e.g. the bytes a peer sent. */
  readonly variant: string;
  readonly address: LogAddress | undefined;
  readonly details: Readonly<Record<string, string | number>>;
}

/** What earlier lines of the same log record said, for lines that name no address themselves. */
export interface RecordContext {
  readonly address: LogAddress | undefined;
  /** The Spark Connect RPC the record is about (`releaseExecute`, …). */
  readonly connectOperation: string | undefined;
}

type Matcher = (text: string, context: RecordContext) => Observation | undefined;

const afterMatch = (text: string, match: RegExpExecArray): LogAddress | undefined =>
  firstAddress(text.slice(match.index + match[0].length, match.index + match[0].length + 200));

const nearest = (text: string, match: RegExpExecArray, context: RecordContext) =>
  afterMatch(text, match) ?? addressesIn(text.slice(0, match.index)).at(-1) ?? context.address;

const frameSize: Matcher = (text, context) => {
  const match = /(Too large frame|Frame length should be positive): (-?\d{1,20})\b/.exec(text);
  if (match === null) return undefined;
  const peer = decodeReportedFrameSize(BigInt(match[2] ?? '0'));
  return {
    kind: peer.kind === 'spark-frame' ? 'oversized-frame' : 'wrong-bytes',
    variant: peer.kind,
    address: context.address,
    details: {
      message: `${match[1] ?? ''}: ${match[2] ?? ''}`,
      reportedFrameSize: match[2] ?? '',
      firstBytesHex: peer.hex,
      firstBytesText: peer.text,
      sender: peer.sender,
    },
  };
};

const fetchFailed: Matcher = (text, context) => {
  const blockManager = blockManagerIn(text);
  if (blockManager !== undefined && text.includes('FetchFailed(')) {
    const shuffle = /shuffleId=(\d+)/.exec(text)?.[1];
    return {
      kind: 'fetch-failed',
      variant: '',
      address: blockManager.address,
      details: {
        blockManager: `BlockManagerId(${blockManager.executorId}, ${blockManager.address.host}, ${blockManager.address.port})`,
        ...(shuffle === undefined ? {} : { shuffleId: Number(shuffle) }),
      },
    };
  }
  const exception = /(?<!Metadata)FetchFailedException: ?(.*)/.exec(text);
  const getBlocks = /Failed to get block\(s\) from (\S+)/.exec(text);
  const match = exception ?? getBlocks;
  if (match === null) return undefined;
  return {
    kind: 'fetch-failed',
    variant: '',
    address: firstAddress(match[1] ?? '') ?? context.address,
    details: { message: match[0].slice(0, 200) },
  };
};

const outputLost: Matcher = (text) => {
  const match = /MetadataFetchFailedException: Missing an output location for shuffle (\d+)/.exec(
    text,
  );
  if (match === null) return undefined;
  return {
    kind: 'shuffle-output-lost',
    variant: '',
    address: undefined,
    details: { shuffleId: Number(match[1]) },
  };
};

const refused: Matcher = (text, context) => {
  const match = /Connection refused/.exec(text);
  if (match === null) return undefined;
  return {
    kind: 'connection-refused',
    variant: '',
    address: nearest(text, match, context),
    details: {},
  };
};

const reset: Matcher = (text, context) => {
  const match = /Connection reset(?: by peer)?/.exec(text);
  if (match === null) return undefined;
  return {
    kind: 'connection-reset',
    variant: '',
    address: nearest(text, match, context),
    details: {},
  };
};

const timedOut: Matcher = (text, context) => {
  const connecting =
    /Connecting to (\S+) timed out \((\d+) ms\)/.exec(text) ??
    /Failed to connect to (\S+) within connection timeout/.exec(text);
  if (connecting !== null) {
    return {
      kind: 'connect-timeout',
      variant: 'connect',
      address: firstAddress(connecting[1] ?? '') ?? context.address,
      details: connecting[2] === undefined ? {} : { timeoutMs: Number(connecting[2]) },
    };
  }
  const match =
    /(ConnectTimeoutException|ConnectException|finishConnect).*?[Cc]onnection timed out/.exec(text);
  if (match !== null) {
    return {
      kind: 'connect-timeout',
      variant: 'connect',
      address: nearest(text, match, context),
      details: {},
    };
  }
  // ETIMEDOUT on an established connection: retransmissions went unanswered for minutes.
  const established = /IOException: Connection timed out/.exec(text);
  if (established === null) return undefined;
  return {
    kind: 'connection-quiet',
    variant: 'retransmission-timeout',
    address: nearest(text, established, context),
    details: {},
  };
};

const unreachable: Matcher = (text, context) => {
  const noRoute = /No route to host|Network is unreachable/.exec(text);
  if (noRoute !== null) {
    return {
      kind: 'no-route',
      variant: noRoute[0] === 'No route to host' ? 'host' : 'network',
      address: nearest(text, noRoute, context),
      details: {},
    };
  }
  const unknown = /UnknownHostException: ([^\s:;,]+)/.exec(text);
  if (unknown === null) return undefined;
  const name = unknown[1] ?? '';
  return {
    kind: 'unknown-host',
    variant: '',
    address: { host: name, port: 0, text: name },
    details: { name },
  };
};

const quietOrClosed: Matcher = (text) => {
  const quiet = /Connection to (\S+) has been quiet for (\d+) ms/.exec(text);
  if (quiet !== null) {
    return {
      kind: 'connection-quiet',
      variant: 'outstanding-requests',
      address: firstAddress(quiet[1] ?? ''),
      details: { quietMs: Number(quiet[2]) },
    };
  }
  const outstanding =
    /Still have (\d+) requests outstanding when connection from (\S+) is closed/.exec(text);
  if (outstanding !== null) {
    return {
      kind: 'connection-closed',
      variant: '',
      address: firstAddress(outstanding[2] ?? ''),
      details: { outstandingRequests: Number(outstanding[1]) },
    };
  }
  const closed = /IOException: Connection from (\S+) closed/.exec(text);
  if (closed === null) return undefined;
  return {
    kind: 'connection-closed',
    variant: '',
    address: firstAddress(closed[1] ?? ''),
    details: {},
  };
};

const SPARK_AUTH: readonly [RegExp, string][] = [
  [/Expected SaslMessage, received something else/, 'client-without-auth'],
  [/Unauthenticated call to receive/, 'client-without-auth'],
  [/Unknown message type: (-22|-5)\b/, 'server-without-auth'],
  [/Mismatched response|IllegalArgumentException: Authentication failed\./, 'secret-mismatch'],
  [/Unknown challenge message\./, 'crypto-mismatch'],
  [/Trying to authenticate non-registered app (\S+?)\.?(?:\s|$)/, 'unknown-app'],
];

const sparkAuth: Matcher = (text, context) => {
  for (const [pattern, variant] of SPARK_AUTH) {
    const match = pattern.exec(text);
    if (match === null) continue;
    return {
      kind: 'spark-auth',
      variant,
      address: context.address,
      details: {
        message: match[0],
        ...(variant === 'unknown-app' ? { appId: match[1] ?? '' } : {}),
      },
    };
  }
  return undefined;
};

const THRIFT: readonly [RegExp, FindingKind, string][] = [
  [/Invalid status 21\b/, 'thrift-tls', 'tls-alert'],
  [/Invalid status -128\b/, 'thrift-auth', 'plain-client-sasl-server'],
  [/Unsupported mechanism type (\S+)/, 'thrift-auth', 'mechanism'],
  [/GSS initiate failed/, 'thrift-auth', 'kerberos'],
  [/Peer indicated failure: (.+)/, 'thrift-auth', 'login'],
];

const thrift: Matcher = (text, context) => {
  for (const [pattern, kind, variant] of THRIFT) {
    const match = pattern.exec(text);
    if (match === null) continue;
    return {
      kind,
      variant,
      address: nearest(text, match, context),
      details: { message: match[0].slice(0, 200) },
    };
  }
  return undefined;
};

const connectSession: Matcher = (text, context) => {
  const match = /\b(INVALID_HANDLE|INVALID_CURSOR)\.([A-Z_]+)\b/.exec(text);
  if (match === null) return undefined;
  const handle = /The handle (\S+) is invalid/.exec(text)?.[1];
  const operation =
    /Spark Connect RPC error during: (\w+)/.exec(text)?.[1] ?? context.connectOperation;
  return {
    kind: 'connect-session',
    variant: `${match[1] ?? ''}.${match[2] ?? ''}`,
    address: undefined,
    details: {
      errorClass: `${match[1] ?? ''}.${match[2] ?? ''}`,
      ...(handle === undefined ? {} : { handle }),
      ...(operation === undefined ? {} : { operation }),
    },
  };
};

const MATCHERS: readonly Matcher[] = [
  frameSize,
  outputLost,
  fetchFailed,
  refused,
  reset,
  timedOut,
  unreachable,
  quietOrClosed,
  sparkAuth,
  thrift,
  connectSession,
];

/** Every observation in one piece of log text (a line, or a field of a JSON log line). */
export function observe(text: string, context: RecordContext): Observation[] {
  if (/^\s+at\s/.test(text)) return [];
  return MATCHERS.map((matcher) => matcher(text, context)).filter(
    (found): found is Observation => found !== undefined,
  );
}
