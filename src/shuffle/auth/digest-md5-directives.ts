// The wire format of DIGEST-MD5 tokens (RFC 2831 §7.1): a comma-separated list of
// `name=value` directives, each value either a bare token or a quoted string with backslash
// escapes. Pure functions over bytes; the protocol rules (which directives, which values) live in
// digest-md5.ts and digest-md5-client.ts.
import type { ShuffleError } from '../errors.ts';
import { authFailure } from './digest-md5-params.ts';

/** RFC 2831 §2.1.1: a digest-challenge is at most 2048 bytes. */
export const MAX_CHALLENGE_BYTES = 2048;
/** RFC 2831 §2.1.2: a digest-response is less than 4096 bytes. */
export const MAX_RESPONSE_BYTES = 4096;

export interface Directive {
  /** Lower-cased: directive names are case-insensitive. */
  readonly name: string;
  /** The value's bytes, quotes removed and escapes resolved. */
  readonly value: Buffer;
}

const COMMA = 0x2c;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a;
}

function isControl(byte: number): boolean {
  return byte < 0x20 || byte === 0x7f;
}

/** RFC 2616 token characters: visible ASCII except separators. */
function isTokenByte(byte: number): boolean {
  return byte > 0x20 && byte < 0x7f && !'()<>@,;:\\"/[]?={}'.includes(String.fromCharCode(byte));
}

function malformed(what: string, detail: string): ShuffleError {
  return authFailure(
    `the ${what} is malformed (${detail}); the peer does not speak DIGEST-MD5 as the JDK does`,
  );
}

/**
 * Parses a directive list. `what` names the token in error messages ("digest-response"). The
 * caller bounds the input's size; the output never holds more bytes than the input.
 */
export function parseDirectives(bytes: Buffer, what: string): Directive[] {
  const directives: Directive[] = [];
  let at = 0;
  const skipWhitespace = (): void => {
    while (at < bytes.length && isWhitespace(bytes[at] ?? 0)) at++;
  };
  while (at < bytes.length) {
    skipWhitespace();
    // Empty list elements (",,") are allowed by the #rule.
    if (bytes[at] === COMMA) {
      at++;
      continue;
    }
    if (at >= bytes.length) break;
    const nameStart = at;
    while (at < bytes.length && isTokenByte(bytes[at] ?? 0)) at++;
    if (at === nameStart) throw malformed(what, `unexpected byte at offset ${at}`);
    const name = bytes.toString('latin1', nameStart, at).toLowerCase();
    skipWhitespace();
    if (bytes[at] !== EQUALS) throw malformed(what, `directive "${name}" has no "="`);
    at++;
    skipWhitespace();
    let value: Buffer;
    if (bytes[at] === QUOTE) {
      at++;
      const out: number[] = [];
      for (;;) {
        const byte = bytes[at];
        if (byte === undefined)
          throw malformed(what, `the value of "${name}" has no closing quote`);
        at++;
        if (byte === QUOTE) break;
        if (byte === BACKSLASH) {
          const escaped = bytes[at];
          if (escaped === undefined) throw malformed(what, `the value of "${name}" ends in "\\"`);
          out.push(escaped);
          at++;
        } else {
          out.push(byte);
        }
      }
      value = Buffer.from(out);
    } else {
      const valueStart = at;
      for (;;) {
        const byte = bytes[at];
        if (byte === undefined || byte === COMMA || isWhitespace(byte)) break;
        if (byte === QUOTE || isControl(byte))
          throw malformed(what, `the value of "${name}" holds a stray quote or control byte`);
        at++;
      }
      if (at === valueStart) throw malformed(what, `directive "${name}" has an empty value`);
      value = Buffer.from(bytes.subarray(valueStart, at));
    }
    directives.push({ name, value });
    skipWhitespace();
    if (at < bytes.length && bytes[at] !== COMMA)
      throw malformed(what, `text after the value of "${name}" at offset ${at}`);
    at++;
  }
  return directives;
}

/** One directive for `formatDirectives`: a bare token or a quoted string; strings are UTF-8. */
export type DirectiveOut = readonly [
  name: string,
  value: string | Buffer,
  form: 'token' | 'quoted',
];

/** Writes a directive list as the JDK does: no spaces, quoted values with `"` and `\` escaped. */
export function formatDirectives(directives: readonly DirectiveOut[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value, form] of directives) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (parts.length > 0) parts.push(Buffer.of(COMMA));
    parts.push(Buffer.from(`${name}=`, 'latin1'));
    if (form === 'token') {
      parts.push(bytes);
      continue;
    }
    const quoted: number[] = [QUOTE];
    for (const byte of bytes) {
      if (byte === QUOTE || byte === BACKSLASH) quoted.push(BACKSLASH);
      quoted.push(byte);
    }
    quoted.push(QUOTE);
    parts.push(Buffer.from(quoted));
  }
  return Buffer.concat(parts);
}

/**
 * The directives by name, refusing a repeated one: RFC 2831 lets a directive appear at most once
 * except `realm` in a challenge (`repeatable`).
 */
export function directivesByName(
  directives: readonly Directive[],
  what: string,
  repeatable: readonly string[] = [],
): Map<string, Buffer[]> {
  const byName = new Map<string, Buffer[]>();
  for (const { name, value } of directives) {
    const values = byName.get(name);
    if (values === undefined) byName.set(name, [value]);
    else if (repeatable.includes(name)) values.push(value);
    else throw malformed(what, `directive "${name}" appears more than once`);
  }
  return byName;
}
