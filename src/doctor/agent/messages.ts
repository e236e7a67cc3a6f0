// The doctor agent's protocol, version 1: the agent greets every connection with a magic line,
// then answers one JSON request line at a time with one JSON response line (docs/doctor.md,
// "Agents"). Pure: requests parsed and checked here, answers built here, nothing touches a socket.

/** The agent's first line on every connection; anything else means another service answered. */
export const AGENT_MAGIC = 'SPARKPLANE-DOCTOR-AGENT/1';
/** First line of a half-open report the agent sends to a doctor's callback port. */
export const REPORT_MAGIC = 'SPARKPLANE-DOCTOR-REPORT/1';
export const PROTOCOL_VERSION = 1;
/** Where a doctor listens for half-open reports and where agents send them, unless told. */
export const DEFAULT_CALLBACK_PORT = 7338;
/** Longest request line the agent reads; requests are small. */
export const MAX_REQUEST_LINE_BYTES = 16 * 1024;
/** Longest answer line a client reads (a hello lists interfaces, half-open lists entries). */
export const MAX_ANSWER_LINE_BYTES = 1024 * 1024;
/** Largest sink or source transfer: enough for any MTU ladder, small enough to bound memory. */
export const MAX_TRANSFER_BYTES = 16 * 1024 * 1024;
/** Longest a probe the agent makes on a client's behalf may wait. */
export const MAX_PROBE_TIMEOUT_MS = 30_000;

export interface InterfaceAddress {
  readonly name: string;
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  /** From /sys/class/net/NAME/mtu, when readable. */
  readonly mtu: number | null;
}

export interface AddressPort {
  readonly address: string;
  readonly port: number;
}

export interface Hello {
  readonly name: string;
  readonly version: string;
  readonly protocol: number;
  readonly ports: readonly number[];
  readonly interfaces: readonly InterfaceAddress[];
  /** The source address and port the agent sees for this connection. */
  readonly seen: AddressPort;
  /** The agent's end of this connection. */
  readonly local: AddressPort;
}

export interface HalfOpenEntry {
  /** The agent's address and port the SYN was for. */
  readonly local: AddressPort;
  /** The SYN's source, as the agent's kernel recorded it. */
  readonly remote: AddressPort;
  readonly firstSeen: string;
  /** How long the connection has stayed (or stayed) half-open, in milliseconds. */
  readonly ageMs: number;
  /** Still SYN_RECV at the last look. */
  readonly current: boolean;
}

export type ProbeOutcome =
  | 'connected'
  | 'refused'
  | 'timeout'
  | 'unreachable'
  | 'no-route'
  | 'reset-after-connect'
  | 'not-an-agent'
  | 'error';

export interface ProbeResult {
  readonly outcome: ProbeOutcome;
  readonly errno: string | null;
  readonly elapsedMs: number;
  /** The probing socket's own address: the 4-tuple's source, also for a connect that timed out. */
  readonly local: AddressPort | null;
  /** The peer agent's hello, when it answered as one. */
  readonly peer: Hello | null;
  /** The first bytes of an answer that was not an agent's greeting (hex). */
  readonly answerHex?: string;
}

export type Request =
  | { readonly id: number; readonly op: 'hello' }
  | { readonly id: number; readonly op: 'ping' }
  | { readonly id: number; readonly op: 'half-open' }
  | { readonly id: number; readonly op: 'sink'; readonly bytes: number }
  | { readonly id: number; readonly op: 'source'; readonly bytes: number }
  | {
      readonly id: number;
      readonly op: 'probe';
      readonly host: string;
      readonly port: number;
      readonly timeoutMs: number;
    };

export type AgentErrorCode =
  'AGENT_BAD_REQUEST' | 'AGENT_LINE_TOO_LONG' | 'AGENT_UNKNOWN_OP' | 'AGENT_BUSY';

export type RequestParse =
  | { readonly ok: true; readonly request: Request }
  | {
      readonly ok: false;
      readonly id: number | null;
      readonly code: AgentErrorCode;
      readonly message: string;
    };

const OPS = ['hello', 'ping', 'half-open', 'sink', 'source', 'probe'] as const;

/** Reads one request line; what is wrong with a bad one is said in words a person can act on. */
export function parseRequest(line: string): RequestParse {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return bad(
      null,
      'the line is not JSON: send one JSON object per line, e.g. {"id":1,"op":"hello"}',
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return bad(null, 'the line is not a JSON object: send {"id":N,"op":"…"}');
  const fields = value as Record<string, unknown>;
  const id = fields.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id))
    return bad(null, 'the request has no whole-number "id"');
  const op = fields.op;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op))
    return {
      ok: false,
      id,
      code: 'AGENT_UNKNOWN_OP',
      message: `unknown op ${JSON.stringify(op)}: this agent knows ${OPS.join(', ')}`,
    };
  switch (op) {
    case 'hello':
    case 'ping':
    case 'half-open':
      return { ok: true, request: { id, op } };
    case 'sink':
    case 'source': {
      const bytes = fields.bytes;
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
        return bad(id, `${op} needs "bytes", a whole number ≥ 0`);
      if (bytes > MAX_TRANSFER_BYTES)
        return bad(
          id,
          `${op} of ${String(bytes)} bytes is over the limit of ${String(MAX_TRANSFER_BYTES)}`,
        );
      return { ok: true, request: { id, op, bytes } };
    }
    case 'probe': {
      const { host, port, timeoutMs } = fields;
      if (typeof host !== 'string' || !/^[A-Za-z0-9._:%-]{1,255}$/.test(host))
        return bad(id, 'probe needs "host", a host name or IP address');
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
        return bad(id, 'probe needs "port", a number 1–65535');
      const limit = timeoutMs === undefined ? 3000 : timeoutMs;
      if (typeof limit !== 'number' || !Number.isFinite(limit) || limit <= 0)
        return bad(id, 'probe "timeoutMs" must be a number of milliseconds above 0');
      return {
        ok: true,
        request: { id, op, host, port, timeoutMs: Math.min(limit, MAX_PROBE_TIMEOUT_MS) },
      };
    }
  }
  return bad(id, 'unreachable');
}

function bad(id: number | null, message: string): RequestParse {
  return { ok: false, id, code: 'AGENT_BAD_REQUEST', message };
}

/** One answer line; `id` is null for a line that had no usable id. */
export function encodeAnswer(id: number | null, body: Record<string, unknown>): string {
  return `${JSON.stringify({ id, ok: true, ...body })}\n`;
}

export function encodeError(id: number | null, code: AgentErrorCode, message: string): string {
  return `${JSON.stringify({ id, ok: false, error: { code, message } })}\n`;
}

export function encodeRequest(request: Request): string {
  return `${JSON.stringify(request)}\n`;
}

/** A half-open report line, sent after REPORT_MAGIC. */
export interface HalfOpenReport {
  readonly op: 'half-open-report';
  readonly agent: string;
  readonly entry: HalfOpenEntry;
}
