// Keeps a secret (the backend token the gateway injects) out of everything sent back to clients:
// occurrences in a call's response bytes are overwritten with '*' of the same length, so protobuf
// and gRPC lengths stay valid. The bytes are gRPC messages, followed as they pass: only the end of
// a chunk that could be the start of the secret, inside a message that is not complete yet, is
// held back until the next chunk. A complete message is never held, so no reply waits for bytes
// the server has not sent.
import { Buffer } from 'node:buffer';

export interface SecretMasker {
  /**
   * The bytes safe to send now: `chunk` itself, masked in place, when nothing is held back before
   * or after it; otherwise a new buffer.
   */
  push(chunk: Buffer): Buffer;
  /** Bytes held back: sent by `flush` when the stream ends, or lost with the call. */
  readonly heldBytes: number;
  /** The bytes still held back, at the end of the stream. */
  flush(): Buffer;
}

const PREFIX_BYTES = 5;
const EMPTY = Buffer.alloc(0);

export function createSecretMasker(secret: string): SecretMasker {
  const needle = Buffer.from(secret, 'latin1');
  const mask = Buffer.alloc(needle.length, '*');
  let held = EMPTY;
  // Where the response stands in its gRPC framing: prefix bytes still to read, the length read so
  // far, and the bytes left of the message body.
  let prefixLeft = PREFIX_BYTES;
  let length = 0;
  let bodyLeft = 0;

  /** Follows the framing through `chunk`; returns the offset just past the last message ended in it, or -1. */
  function lastMessageEnd(chunk: Buffer): number {
    let end = -1;
    let at = 0;
    while (at < chunk.length) {
      if (bodyLeft > 0) {
        const take = Math.min(bodyLeft, chunk.length - at);
        bodyLeft -= take;
        at += take;
        if (bodyLeft === 0) end = at;
        continue;
      }
      const byte = chunk[at++] ?? 0;
      // The first prefix byte is the compression flag; the next four the body's length.
      if (prefixLeft < PREFIX_BYTES) length = length * 256 + byte;
      if (--prefixLeft > 0) continue;
      prefixLeft = PREFIX_BYTES;
      bodyLeft = length;
      length = 0;
      if (bodyLeft === 0) end = at;
    }
    return end;
  }

  return {
    get heldBytes() {
      return held.length;
    },
    push(chunk) {
      if (needle.length === 0) return chunk;
      const ended = lastMessageEnd(chunk);
      const data = held.length === 0 ? chunk : Buffer.concat([held, chunk]);
      // Only bytes of a message still open may be the start of a secret the next chunk completes.
      const openFrom = ended === -1 ? 0 : held.length + ended;
      for (let at = data.indexOf(needle); at !== -1; at = data.indexOf(needle, at + needle.length))
        mask.copy(data, at);
      const keep = partialTail(data, openFrom, needle);
      if (keep === 0 && held.length === 0) return data;
      held = keep === 0 ? EMPTY : Buffer.from(data.subarray(data.length - keep));
      return data.subarray(0, data.length - keep);
    },
    flush() {
      const rest = held;
      held = EMPTY;
      return rest;
    },
  };
}

/** Length of the longest suffix of `data`, starting at `from` or later, that is a proper prefix of `needle`. */
function partialTail(data: Buffer, from: number, needle: Buffer): number {
  const first = needle[0];
  const longest = Math.min(needle.length - 1, data.length - from);
  for (let length = longest; length > 0; length--) {
    const at = data.length - length;
    if (data[at] !== first) continue;
    if (data.compare(needle, 0, length, at) === 0) return length;
  }
  return 0;
}

export function maskInText(text: string, secret: string): string {
  return secret.length === 0 ? text : text.split(secret).join('*'.repeat(secret.length));
}

/**
 * A response header's value with the secret masked. A binary header (name ending in `-bin`, such
 * as grpc-status-details-bin, which carries the error's message) is base64 on the wire: it is
 * masked in its decoded bytes.
 */
export function maskHeaderValue(name: string, value: string, secret: string): string {
  if (secret.length === 0) return value;
  if (name === 'grpc-message') return maskInText(maskInText(value, secret), percentEncoded(secret));
  if (!name.endsWith('-bin')) return maskInText(value, secret);
  const bytes = Buffer.from(value, 'base64');
  const needle = Buffer.from(secret, 'latin1');
  let at = bytes.indexOf(needle);
  if (at === -1) return maskInText(value, secret);
  for (; at !== -1; at = bytes.indexOf(needle, at + needle.length))
    bytes.fill('*', at, at + needle.length);
  const encoded = bytes.toString('base64');
  // gRPC sends binary values without padding; they go back as they came.
  return value.endsWith('=') ? encoded : encoded.replace(/=+$/, '');
}

/** Whether a header names the secret, in its name or its value (decoded, for a binary header). */
export function headerNamesSecret(name: string, value: string, secret: string): boolean {
  if (secret.length === 0) return false;
  if (name.includes(secret) || value.includes(secret)) return true;
  if (name === 'grpc-message') return value.includes(percentEncoded(secret));
  return name.endsWith('-bin') && Buffer.from(value, 'base64').includes(secret, 0, 'latin1');
}

/** `text` as it appears in grpc-message, where gRPC percent-encodes '%' and bytes outside 0x20–0x7e. */
function percentEncoded(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8'))
    out +=
      byte < 0x20 || byte > 0x7e || byte === 0x25
        ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(byte);
  return out;
}
