// What a server sent back to our TLS ClientHello, read from the raw bytes: alerts, and in TLS 1.2
// (where the handshake travels in clear) whether it asked for a client certificate and which
// certificate it showed. In TLS 1.3 everything after ServerHello is encrypted; Node's TLS socket
// reports those parts instead. Pure functions over bytes; garbage yields `undefined` or partial
// results, never an exception.

export const TLS_CONTENT_TYPE = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
} as const;

const HANDSHAKE_TYPE = {
  clientHello: 1,
  serverHello: 2,
  certificate: 11,
  certificateRequest: 13,
  serverHelloDone: 14,
} as const;

const RECORD_HEADER_BYTES = 5;
/** Largest record a peer may send (2^14 plus the expansion TLS allows). */
const MAX_RECORD_BYTES = 16384 + 2048;
/** The most handshake bytes collected for parsing: a long certificate chain fits. */
const MAX_HANDSHAKE_BYTES = 64 * 1024;

/** TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2). */
export const ALERT_NAMES: Readonly<Record<number, string>> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  49: 'access_denied',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  71: 'insufficient_security',
  80: 'internal_error',
  86: 'inappropriate_fallback',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  115: 'unknown_psk_identity',
  116: 'certificate_required',
  120: 'no_application_protocol',
};

export interface TlsAlert {
  readonly level: 'warning' | 'fatal' | 'unknown';
  readonly description: number;
  readonly name: string;
}

export interface TlsServerFlight {
  /** Records seen, complete or not. */
  readonly records: number;
  /** The first alert in clear, if any. */
  readonly alert?: TlsAlert;
  /** ServerHello's version: `TLSv1.3` when the supported_versions extension says so. */
  readonly version?: string;
  /** The server asked for a client certificate (visible in TLS 1.2 only). */
  readonly certificateRequested: boolean;
  /** The server's certificate chain in DER, leaf first (visible in TLS 1.2 only). */
  readonly certificates: readonly Buffer[];
}

/** Whether these bytes begin like a TLS record: content type 20–23, version 3.x, sane length. */
export function looksLikeTlsRecord(bytes: Buffer): boolean {
  if (bytes.length < 3) return false;
  const type = bytes[0] ?? 0;
  if (type < TLS_CONTENT_TYPE.changeCipherSpec || type > TLS_CONTENT_TYPE.applicationData)
    return false;
  if (bytes[1] !== 3 || (bytes[2] ?? 0xff) > 4) return false;
  return bytes.length < RECORD_HEADER_BYTES || bytes.readUInt16BE(3) <= MAX_RECORD_BYTES;
}

/** Length of the complete records at the start of `bytes` (0 when the first is incomplete). */
export function completeRecordBytes(bytes: Buffer): number {
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= bytes.length) {
    const end = at + RECORD_HEADER_BYTES + bytes.readUInt16BE(at + 3);
    if (end > bytes.length) break;
    at = end;
  }
  return at;
}

/** Reads what the server sent; `undefined` when the bytes are not TLS at all. */
/** Whether the bytes start with a client's first flight (a ClientHello): an echo, not a server. */
export function isClientHello(bytes: Buffer): boolean {
  return (
    looksLikeTlsRecord(bytes) &&
    bytes[0] === TLS_CONTENT_TYPE.handshake &&
    bytes[RECORD_HEADER_BYTES] === HANDSHAKE_TYPE.clientHello
  );
}

export function readServerFlight(bytes: Buffer): TlsServerFlight | undefined {
  if (!looksLikeTlsRecord(bytes)) return undefined;
  let records = 0;
  let alert: TlsAlert | undefined;
  const handshake: Buffer[] = [];
  let handshakeBytes = 0;
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= bytes.length) {
    if (!looksLikeTlsRecord(bytes.subarray(at))) break;
    const type = bytes[at] ?? 0;
    const length = bytes.readUInt16BE(at + 3);
    const body = bytes.subarray(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length);
    records++;
    if (type === TLS_CONTENT_TYPE.alert && alert === undefined && body.length >= 2)
      alert = readAlert(body);
    // Once the cipher changes, handshake records are encrypted and mean nothing here.
    if (type === TLS_CONTENT_TYPE.changeCipherSpec) break;
    if (
      type === TLS_CONTENT_TYPE.handshake &&
      handshakeBytes + body.length <= MAX_HANDSHAKE_BYTES
    ) {
      handshake.push(body);
      handshakeBytes += body.length;
    }
    if (body.length < length) break;
    at += RECORD_HEADER_BYTES + length;
  }
  const messages = readHandshakeMessages(Buffer.concat(handshake));
  const flight: {
    records: number;
    alert?: TlsAlert;
    version?: string;
    certificateRequested: boolean;
    certificates: Buffer[];
  } = { records, certificateRequested: false, certificates: [] };
  if (alert !== undefined) flight.alert = alert;
  for (const message of messages) {
    if (message.type === HANDSHAKE_TYPE.serverHello) {
      const version = readServerHelloVersion(message.body);
      if (version !== undefined) flight.version = version;
    } else if (message.type === HANDSHAKE_TYPE.certificate) {
      flight.certificates = readCertificateList(message.body);
    } else if (message.type === HANDSHAKE_TYPE.certificateRequest) {
      flight.certificateRequested = true;
    }
  }
  return flight;
}

function readAlert(body: Buffer): TlsAlert {
  const level = body[0];
  const description = body[1] ?? 0;
  return {
    level: level === 1 ? 'warning' : level === 2 ? 'fatal' : 'unknown',
    description,
    name: ALERT_NAMES[description] ?? `alert ${String(description)}`,
  };
}

function readHandshakeMessages(bytes: Buffer): { type: number; body: Buffer }[] {
  const messages: { type: number; body: Buffer }[] = [];
  let at = 0;
  while (at + 4 <= bytes.length) {
    const type = bytes[at] ?? 0;
    const length = bytes.readUIntBE(at + 1, 3);
    if (at + 4 + length > bytes.length) break;
    messages.push({ type, body: bytes.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return messages;
}

const VERSION_NAMES: Readonly<Record<number, string>> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

/** ServerHello: legacy version, random, session id, cipher, compression, then extensions. */
function readServerHelloVersion(body: Buffer): string | undefined {
  if (body.length < 2 + 32 + 1) return undefined;
  let version = body.readUInt16BE(0);
  let at = 2 + 32;
  at += 1 + (body[at] ?? 0) + 2 + 1;
  if (at + 2 <= body.length) {
    const end = Math.min(body.length, at + 2 + body.readUInt16BE(at));
    at += 2;
    while (at + 4 <= end) {
      const type = body.readUInt16BE(at);
      const length = body.readUInt16BE(at + 2);
      // supported_versions (43) carries the version TLS 1.3 really negotiated.
      if (type === 43 && length === 2 && at + 6 <= end) version = body.readUInt16BE(at + 4);
      at += 4 + length;
    }
  }
  return VERSION_NAMES[version] ?? `0x${version.toString(16).padStart(4, '0')}`;
}

/** TLS 1.2 Certificate: u24 list length, then u24-prefixed DER certificates. */
function readCertificateList(body: Buffer): Buffer[] {
  const certificates: Buffer[] = [];
  if (body.length < 3) return certificates;
  const end = Math.min(body.length, 3 + body.readUIntBE(0, 3));
  let at = 3;
  while (at + 3 <= end) {
    const length = body.readUIntBE(at, 3);
    if (at + 3 + length > end) break;
    certificates.push(body.subarray(at + 3, at + 3 + length));
    at += 3 + length;
  }
  return certificates;
}
