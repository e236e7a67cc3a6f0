// The few Thrift shapes the doctor sends and reads (apache/thrift TBinaryProtocol, TSaslTransport,
// TFramedTransport): a strict binary CALL of a method no server has, whose harmless answer is a
// TApplicationException "Invalid method name"; a SASL START with a mechanism no server has, whose
// answer is BAD "Unsupported mechanism type"; and readers for both answers in raw bytes.

const VERSION_1 = 0x80010000;
export const THRIFT_MESSAGE_TYPE = { call: 1, reply: 2, exception: 3, oneway: 4 } as const;

/** TSaslTransport negotiation statuses. */
export const SASL_STATUS = { start: 1, ok: 2, bad: 3, error: 4, complete: 5 } as const;
const SASL_STATUS_NAMES = ['', 'START', 'OK', 'BAD', 'ERROR', 'COMPLETE'] as const;

/** Names longer than this are not a method name a server would echo. */
const MAX_NAME_BYTES = 1024;
/** SASL payloads and exception texts longer than this are not worth waiting for. */
const MAX_TEXT_BYTES = 64 * 1024;

/** A strict binary CALL with an empty argument struct. */
export function encodeThriftCall(method: string, seqid: number): Buffer {
  const name = Buffer.from(method, 'utf8');
  const out = Buffer.alloc(4 + 4 + name.length + 4 + 1);
  out.writeUInt32BE((VERSION_1 | THRIFT_MESSAGE_TYPE.call) >>> 0, 0);
  out.writeInt32BE(name.length, 4);
  name.copy(out, 8);
  out.writeInt32BE(seqid, 8 + name.length);
  out[out.length - 1] = 0; // T_STOP: no arguments
  return out;
}

/** TFramedTransport: a 4-byte length, then the message. */
export function frameThrift(message: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32BE(message.length, 0);
  return Buffer.concat([length, message]);
}

/** A SASL START naming `mechanism`: status, 4-byte length, the name. */
export function encodeSaslStart(mechanism: string): Buffer {
  const name = Buffer.from(mechanism, 'utf8');
  const out = Buffer.alloc(5 + name.length);
  out[0] = SASL_STATUS.start;
  out.writeInt32BE(name.length, 1);
  name.copy(out, 5);
  return out;
}

export type ThriftRead<T> =
  | { readonly kind: 'no' }
  | { readonly kind: 'partial' }
  | { readonly kind: 'yes'; readonly value: T; readonly bytes: number };

export interface SaslFrame {
  readonly status: number;
  readonly statusName: string;
  readonly payload: string;
}

/** A TSaslTransport frame; a server answers a probe with BAD or ERROR and a reason text. */
export function readSaslFrame(bytes: Buffer): ThriftRead<SaslFrame> {
  if (bytes.length === 0) return { kind: 'partial' };
  const status = bytes[0] ?? 0;
  if (status < SASL_STATUS.start || status > SASL_STATUS.complete) return { kind: 'no' };
  if (bytes.length < 5) return { kind: 'partial' };
  const length = bytes.readInt32BE(1);
  if (length < 0 || length > MAX_TEXT_BYTES) return { kind: 'no' };
  if (bytes.length < 5 + length) return { kind: 'partial' };
  return {
    kind: 'yes',
    value: {
      status,
      statusName: SASL_STATUS_NAMES[status] ?? String(status),
      payload: bytes.subarray(5, 5 + length).toString('utf8'),
    },
    bytes: 5 + length,
  };
}

export interface ThriftMessage {
  readonly type: number;
  readonly name: string;
  readonly seqid: number;
  /** The TApplicationException of an EXCEPTION reply. */
  readonly exception?: { readonly message: string; readonly type: number };
}

/** A strict binary message, optionally inside a frame; replies carry the call's name and seqid. */
export function readThriftMessage(bytes: Buffer, framed = false): ThriftRead<ThriftMessage> {
  const start = framed ? 4 : 0;
  if (framed) {
    if (bytes.length < 4)
      return bytes.length === 0 || bytes[0] === 0 ? { kind: 'partial' } : { kind: 'no' };
    const frame = bytes.readInt32BE(0);
    if (frame < 9 || frame > MAX_TEXT_BYTES) return { kind: 'no' };
  }
  const reader = new ByteReader(bytes, start);
  const header = reader.u32();
  if (header === undefined)
    return bytes.length === start || bytes[start] === 0x80 ? { kind: 'partial' } : { kind: 'no' };
  if ((header & 0xffff0000) >>> 0 !== VERSION_1) return { kind: 'no' };
  const type = header & 0xff;
  if (type < THRIFT_MESSAGE_TYPE.call || type > THRIFT_MESSAGE_TYPE.oneway) return { kind: 'no' };
  const nameLength = reader.i32();
  if (nameLength === undefined) return { kind: 'partial' };
  if (nameLength < 0 || nameLength > MAX_NAME_BYTES) return { kind: 'no' };
  const name = reader.text(nameLength);
  const seqid = reader.i32();
  if (name === undefined || seqid === undefined) return { kind: 'partial' };
  if (type !== THRIFT_MESSAGE_TYPE.exception)
    return { kind: 'yes', value: { type, name, seqid }, bytes: reader.at };
  const exception = readApplicationException(reader);
  if (exception === 'partial') return { kind: 'partial' };
  if (exception === undefined) return { kind: 'no' };
  return { kind: 'yes', value: { type, name, seqid, exception }, bytes: reader.at };
}

const T_STOP = 0;
const T_I32 = 8;
const T_STRING = 11;

/** TApplicationException { 1: string message, 2: i32 type }; other simple fields are skipped. */
function readApplicationException(
  reader: ByteReader,
): { message: string; type: number } | 'partial' | undefined {
  let message = '';
  let type = 0;
  for (let fields = 0; fields < 16; fields++) {
    const fieldType = reader.u8();
    if (fieldType === undefined) return 'partial';
    if (fieldType === T_STOP) return { message, type };
    const id = reader.i16();
    if (id === undefined) return 'partial';
    if (fieldType === T_STRING) {
      const length = reader.i32();
      if (length === undefined) return 'partial';
      if (length < 0 || length > MAX_TEXT_BYTES) return undefined;
      const text = reader.text(length);
      if (text === undefined) return 'partial';
      if (id === 1) message = text;
    } else if (fieldType === T_I32) {
      const value = reader.i32();
      if (value === undefined) return 'partial';
      if (id === 2) type = value;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/** Reads big-endian values; `undefined` when the bytes end first. */
class ByteReader {
  readonly #bytes: Buffer;
  at: number;

  constructor(bytes: Buffer, at: number) {
    this.#bytes = bytes;
    this.at = at;
  }

  #take(count: number): number | undefined {
    if (this.at + count > this.#bytes.length) return undefined;
    const at = this.at;
    this.at += count;
    return at;
  }

  u8(): number | undefined {
    const at = this.#take(1);
    return at === undefined ? undefined : this.#bytes[at];
  }

  i16(): number | undefined {
    const at = this.#take(2);
    return at === undefined ? undefined : this.#bytes.readInt16BE(at);
  }

  u32(): number | undefined {
    const at = this.#take(4);
    return at === undefined ? undefined : this.#bytes.readUInt32BE(at);
  }

  i32(): number | undefined {
    const at = this.#take(4);
    return at === undefined ? undefined : this.#bytes.readInt32BE(at);
  }

  text(length: number): string | undefined {
    const at = this.#take(length);
    return at === undefined ? undefined : this.#bytes.toString('utf8', at, at + length);
  }
}
