// What a peer really sent when Spark logs "Too large frame: N" or "Frame length should be
// positive: N". TransportFrameDecoder reads the first 8 bytes as a big-endian i64 frame length
// that counts itself, and reports that length minus 8; so N + 8, as 8 bytes, are the peer's first
// bytes. Real frames start with zeros; anything else is another protocol on a Spark port.

export type PeerBytesKind =
  | 'http2-preface'
  | 'http1-request'
  | 'http1-response'
  | 'tls-client-hello'
  | 'tls-server-hello'
  | 'tls-alert'
  | 'tls-record'
  | 'thrift-binary'
  | 'thrift-sasl'
  | 'ssh'
  | 'spark-frame'
  | 'unknown';

export interface PeerBytes {
  readonly bytes: Uint8Array;
  /** e.g. `505249202a204854`. */
  readonly hex: string;
  /** Printable ASCII as is, every other byte as `.`: e.g. `PRI * HT`. */
  readonly text: string;
  readonly kind: PeerBytesKind;
  /** Who sends such bytes, in a phrase. */
  readonly sender: string;
}

const TWO_TO_64 = 1n << 64n;

/** The 8 bytes behind a reported frame size (a signed 64-bit decimal as Spark printed it). */
export function bytesOfReportedFrameSize(reported: bigint): Uint8Array {
  const raw = (((reported + 8n) % TWO_TO_64) + TWO_TO_64) % TWO_TO_64;
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, raw);
  return bytes;
}

export function decodeReportedFrameSize(reported: bigint): PeerBytes {
  const bytes = bytesOfReportedFrameSize(reported);
  const { kind, sender } = identify(bytes);
  return {
    bytes,
    hex: Buffer.from(bytes).toString('hex'),
    text: printable(bytes),
    kind,
    sender,
  };
}

export function printable(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes.map((byte) => (byte >= 0x20 && byte < 0x7f ? byte : 0x2e)));
}

const HTTP_METHODS = /^(GET|POST|PUT|HEAD|DELETE|OPTIONS|PATCH|TRACE|CONNECT) /;

function identify(bytes: Uint8Array): { kind: PeerBytesKind; sender: string } {
  const ascii = String.fromCharCode(...bytes);
  const [b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0] = bytes;
  if (ascii.startsWith('PRI * HT')) {
    return {
      kind: 'http2-preface',
      sender:
        'the HTTP/2 connection preface: an HTTP/2 or gRPC client (a Spark Connect client, or a ' +
        'sidecar upgrading the port to HTTP/2)',
    };
  }
  if (HTTP_METHODS.test(ascii)) {
    return {
      kind: 'http1-request',
      sender: 'an HTTP/1 request: a browser, a load balancer or Kubernetes HTTP probe, a scraper',
    };
  }
  if (ascii.startsWith('HTTP/1.')) {
    return {
      kind: 'http1-response',
      sender: 'an HTTP/1 response: an HTTP server or proxy (such as Envoy) owns the port',
    };
  }
  if (ascii.startsWith('SSH-')) return { kind: 'ssh', sender: 'an SSH banner' };
  if (b0 >= 0x14 && b0 <= 0x17 && b1 === 0x03 && b2 <= 0x04) {
    if (b0 === 0x16 && b5 === 0x01) {
      return {
        kind: 'tls-client-hello',
        sender:
          'a TLS ClientHello: a TLS client (RPC TLS on one side only, or a mesh sidecar ' +
          'originating mTLS) connected to a plaintext port',
      };
    }
    if (b0 === 0x16 && b5 === 0x02) {
      return {
        kind: 'tls-server-hello',
        sender: 'a TLS ServerHello: this side spoke plaintext to a TLS server',
      };
    }
    if (b0 === 0x15) {
      return { kind: 'tls-alert', sender: 'a TLS alert: the peer speaks TLS and rejected us' };
    }
    return { kind: 'tls-record', sender: 'a TLS record: the peer speaks TLS' };
  }
  if (b0 === 0x80 && b1 === 0x01) {
    return {
      kind: 'thrift-binary',
      sender: 'a Thrift binary-protocol call: a HiveServer2 or Hive metastore client',
    };
  }
  if (b0 === 0x01 && b1 === 0 && b2 === 0 && b3 === 0 && b4 > 0 && b4 < 0x40) {
    return {
      kind: 'thrift-sasl',
      sender: 'a Thrift SASL START: a HiveServer2 JDBC or beeline client',
    };
  }
  if (b0 === 0 && b1 === 0 && b2 === 0) {
    return {
      kind: 'spark-frame',
      sender: 'a genuine Spark frame longer than 2 GiB',
    };
  }
  return {
    kind: 'unknown',
    sender:
      'bytes of no known protocol: most often encrypted traffic the receiver did not expect ' +
      '(network crypto, SASL encryption or the cipher set on one side only)',
  };
}
