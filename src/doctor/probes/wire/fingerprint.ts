// Which protocol answered: a server's first bytes, whatever the probe sent, named as TLS, HTTP/1,
// HTTP/2, Spark RPC, Thrift (SASL, binary, framed, compact), a text banner, or unknown bytes. Every
// probe reads its reply through this, so a port that answers "the wrong thing" is always named.
import { decodeMessage, type TransportMessage } from '../../../shuffle/protocol/messages.ts';
import { describeHttp1Head, readHttp1Head, wantedBodyBytes, type Http1Head } from './http1.ts';
import { readHttp2ServerStart, type Http2ServerStart } from './http2.ts';
import { readSaslFrame, readThriftMessage, type SaslFrame, type ThriftMessage } from './thrift.ts';
import {
  completeRecordBytes,
  looksLikeTlsRecord,
  readServerFlight,
  type TlsServerFlight,
} from './tls-record.ts';

export type Answer =
  | { readonly kind: 'nothing' }
  | { readonly kind: 'tls'; readonly flight: TlsServerFlight }
  | { readonly kind: 'http1'; readonly head: Http1Head; readonly body: string }
  /** Starts like an HTTP/1 response, but the head never completed. */
  | { readonly kind: 'http1-partial'; readonly statusLine: string }
  | { readonly kind: 'http2'; readonly start: Http2ServerStart }
  | { readonly kind: 'spark-rpc'; readonly message: TransportMessage }
  | { readonly kind: 'thrift-sasl'; readonly frame: SaslFrame }
  | { readonly kind: 'thrift-binary'; readonly message: ThriftMessage; readonly framed: boolean }
  | { readonly kind: 'thrift-compact' }
  | { readonly kind: 'text'; readonly line: string }
  | { readonly kind: 'unknown'; readonly hex: string };

export interface Identified {
  readonly answer: Answer;
  /** Enough bytes arrived to be sure; more would not change the answer. */
  readonly complete: boolean;
}

/** Frames larger than this are not a probe's answer (a Spark RpcFailure with a stack trace fits). */
const MAX_SPARK_FRAME_BYTES = 1024 * 1024;
const SPARK_LENGTH_BYTES = 8;
/** Unknown bytes: this many are enough to give up waiting for a recognisable shape. */
const ENOUGH_UNKNOWN_BYTES = 64;

export function identifyAnswer(bytes: Buffer): Identified {
  if (bytes.length === 0) return { answer: { kind: 'nothing' }, complete: false };
  const first = bytes[0] ?? 0;
  if (looksLikeTlsRecord(bytes)) {
    const flight = readServerFlight(bytes);
    if (flight !== undefined)
      return { answer: { kind: 'tls', flight }, complete: completeRecordBytes(bytes) > 0 };
  }
  if (first === 0x48) {
    const http = identifyHttp1(bytes);
    if (http !== undefined) return http;
  }
  if (first === 0x80) {
    const message = readThriftMessage(bytes);
    if (message.kind === 'yes')
      return {
        answer: { kind: 'thrift-binary', message: message.value, framed: false },
        complete: true,
      };
    if (message.kind === 'partial') return { answer: unknown(bytes), complete: false };
  }
  if (first === 0x82) return { answer: { kind: 'thrift-compact' }, complete: true };
  if (first >= 1 && first <= 5) {
    const frame = readSaslFrame(bytes);
    if (frame.kind === 'yes')
      return { answer: { kind: 'thrift-sasl', frame: frame.value }, complete: true };
    if (frame.kind === 'partial') return { answer: unknown(bytes), complete: false };
  }
  if (first === 0) {
    const binary = identifyZeroStart(bytes);
    if (binary !== undefined) return binary;
  }
  return identifyTextOrUnknown(bytes);
}

function identifyHttp1(bytes: Buffer): Identified | undefined {
  const read = readHttp1Head(bytes);
  if (read.kind === 'not-http') return undefined;
  if (read.kind === 'partial') {
    return {
      answer: { kind: 'http1-partial', statusLine: read.statusLine ?? printable(bytes, 40) },
      complete: false,
    };
  }
  const { head } = read;
  const body = bytes.subarray(head.bodyOffset, head.bodyOffset + 1024).toString('utf8');
  return {
    answer: { kind: 'http1', head, body },
    complete: bytes.length - head.bodyOffset >= wantedBodyBytes(head),
  };
}

/** Spark RPC frames, framed Thrift and HTTP/2 SETTINGS all start with a zero byte. */
function identifyZeroStart(bytes: Buffer): Identified | undefined {
  if (bytes.length >= 6 && bytes[4] === 0x80 && bytes[5] === 0x01) {
    const message = readThriftMessage(bytes, true);
    if (message.kind === 'yes')
      return {
        answer: { kind: 'thrift-binary', message: message.value, framed: true },
        complete: true,
      };
    if (message.kind === 'partial') return { answer: unknown(bytes), complete: false };
  }
  const http2 = readHttp2ServerStart(bytes);
  if (http2 !== undefined && http2 !== 'partial' && bytes[3] === 0x04)
    return { answer: { kind: 'http2', start: http2 }, complete: true };
  if (bytes.length < SPARK_LENGTH_BYTES) return { answer: unknown(bytes), complete: false };
  const frameLength = bytes.readBigInt64BE(0);
  if (frameLength <= BigInt(SPARK_LENGTH_BYTES) || frameLength > BigInt(MAX_SPARK_FRAME_BYTES))
    return undefined;
  if (bytes.length < Number(frameLength)) return { answer: unknown(bytes), complete: false };
  try {
    const message = decodeMessage(bytes.subarray(SPARK_LENGTH_BYTES, Number(frameLength)));
    return { answer: { kind: 'spark-rpc', message }, complete: true };
  } catch {
    return undefined;
  }
}

function identifyTextOrUnknown(bytes: Buffer): Identified {
  const window = bytes.subarray(0, 256);
  const isText = [...window].every(
    (byte) => byte === 0x09 || byte === 0x0a || byte === 0x0d || (byte >= 0x20 && byte < 0x7f),
  );
  if (isText) {
    const text = window.toString('latin1');
    const lineEnd = text.search(/\r?\n/);
    return {
      answer: { kind: 'text', line: (lineEnd < 0 ? text : text.slice(0, lineEnd)).slice(0, 120) },
      complete: lineEnd >= 0 || bytes.length >= window.length,
    };
  }
  return { answer: unknown(bytes), complete: bytes.length >= ENOUGH_UNKNOWN_BYTES };
}

function unknown(bytes: Buffer): Answer {
  return { kind: 'unknown', hex: hexPrefix(bytes) };
}

/** The first bytes in hex, for evidence. */
export function hexPrefix(bytes: Buffer, count = 32): string {
  const hex = bytes
    .subarray(0, count)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
  return bytes.length > count ? `${hex} …` : hex;
}

/** The first bytes as text, with anything unprintable shown as `.`. */
export function printable(bytes: Buffer, count = 64): string {
  return [...bytes.subarray(0, count)]
    .map((byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.'))
    .join('');
}

/** The answer in a few words: `HTTP/1.1 400 Bad Request, server: envoy`, `a TLS alert (…)`. */
export function describeAnswer(answer: Answer): string {
  switch (answer.kind) {
    case 'nothing':
      return 'nothing';
    case 'tls':
      return answer.flight.alert === undefined
        ? 'a TLS handshake'
        : `a TLS alert (${answer.flight.alert.name})`;
    case 'http1':
      return describeHttp1Head(answer.head);
    case 'http1-partial':
      return `the start of an HTTP/1 response ("${answer.statusLine}")`;
    case 'http2':
      return answer.start.goaway === undefined
        ? 'HTTP/2 (a SETTINGS frame)'
        : `HTTP/2 (SETTINGS, then GOAWAY ${answer.start.goaway.error}${answer.start.goaway.debug === '' ? '' : `: ${answer.start.goaway.debug}`})`;
    case 'spark-rpc': {
      const { message } = answer;
      const error = 'error' in message ? `: ${firstLine(message.error)}` : '';
      return `Spark RPC (${message.type}${error})`;
    }
    case 'thrift-sasl':
      return `Thrift SASL (${answer.frame.statusName} "${firstLine(answer.frame.payload)}")`;
    case 'thrift-binary': {
      const { message } = answer;
      const framing = answer.framed ? 'framed ' : '';
      return message.exception === undefined
        ? `Thrift ${framing}binary (a reply to ${message.name})`
        : `Thrift ${framing}binary (TApplicationException "${firstLine(message.exception.message)}")`;
    }
    case 'thrift-compact':
      return 'Thrift compact protocol';
    case 'text':
      return `text "${answer.line}"`;
    case 'unknown':
      return `unrecognised bytes (${answer.hex})`;
  }
}

/** The first line of a (Java stack trace) text, shortened. */
export function firstLine(text: string, max = 200): string {
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
