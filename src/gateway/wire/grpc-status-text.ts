// The grpc-message trailer's text encoding: percent-encoded UTF-8, as the gRPC HTTP/2 spec defines
// it (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#responses). The gateway's own
// error messages go out through it, and backends' messages are read back through it.

const utf8 = new TextDecoder('utf-8');

/** Encodes every byte outside 0x20–0x7E, and '%' itself, as %XX of the text's UTF-8. */
export function encodeGrpcMessageText(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = '';
  for (const byte of bytes) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Decodes %XX sequences back to the UTF-8 text. The spec asks a decoder never to fail or drop the
 * message, so a '%' not followed by two hex digits stays as it is and bad UTF-8 becomes U+FFFD.
 */
export function decodeGrpcMessageText(value: string): string {
  if (!value.includes('%')) return value;
  const bytes: number[] = [];
  for (let at = 0; at < value.length; at++) {
    const code = value.charCodeAt(at);
    if (code === 0x25 && /^[0-9a-fA-F]{2}$/.test(value.slice(at + 1, at + 3))) {
      bytes.push(Number.parseInt(value.slice(at + 1, at + 3), 16));
      at += 2;
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      // Not valid in a header value, but keep it rather than lose the message.
      const char = String.fromCodePoint(value.codePointAt(at) ?? code);
      for (const byte of Buffer.from(char, 'utf8')) bytes.push(byte);
      at += char.length - 1;
    }
  }
  return utf8.decode(Uint8Array.from(bytes));
}
