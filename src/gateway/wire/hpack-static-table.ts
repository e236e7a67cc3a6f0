// The HPACK static table (RFC 7541 Appendix A): 61 fixed header fields both peers know without
// sending them. Index 1 is the first entry; the dynamic table's entries follow from index 62.
import type { HeaderField } from './hpack.ts';

export const STATIC_TABLE: readonly HeaderField[] = Object.freeze(
  (
    [
      [':authority', ''],
      [':method', 'GET'],
      [':method', 'POST'],
      [':path', '/'],
      [':path', '/index.html'],
      [':scheme', 'http'],
      [':scheme', 'https'],
      [':status', '200'],
      [':status', '204'],
      [':status', '206'],
      [':status', '304'],
      [':status', '400'],
      [':status', '404'],
      [':status', '500'],
      ['accept-charset', ''],
      ['accept-encoding', 'gzip, deflate'],
      ['accept-language', ''],
      ['accept-ranges', ''],
      ['accept', ''],
      ['access-control-allow-origin', ''],
      ['age', ''],
      ['allow', ''],
      ['authorization', ''],
      ['cache-control', ''],
      ['content-disposition', ''],
      ['content-encoding', ''],
      ['content-language', ''],
      ['content-length', ''],
      ['content-location', ''],
      ['content-range', ''],
      ['content-type', ''],
      ['cookie', ''],
      ['date', ''],
      ['etag', ''],
      ['expect', ''],
      ['expires', ''],
      ['from', ''],
      ['host', ''],
      ['if-match', ''],
      ['if-modified-since', ''],
      ['if-none-match', ''],
      ['if-range', ''],
      ['if-unmodified-since', ''],
      ['last-modified', ''],
      ['link', ''],
      ['location', ''],
      ['max-forwards', ''],
      ['proxy-authenticate', ''],
      ['proxy-authorization', ''],
      ['range', ''],
      ['referer', ''],
      ['refresh', ''],
      ['retry-after', ''],
      ['server', ''],
      ['set-cookie', ''],
      ['strict-transport-security', ''],
      ['transfer-encoding', ''],
      ['user-agent', ''],
      ['vary', ''],
      ['via', ''],
      ['www-authenticate', ''],
    ] as const
  ).map((field): HeaderField => Object.freeze(field)),
);

/** Where the stateless encoder finds a field: its full match, or the first entry with its name. */
export interface StaticNameEntry {
  readonly nameIndex: number;
  readonly valueIndex: ReadonlyMap<string, number>;
}

export const STATIC_NAMES: ReadonlyMap<string, StaticNameEntry> = (() => {
  const names = new Map<string, { nameIndex: number; valueIndex: Map<string, number> }>();
  STATIC_TABLE.forEach(([name, value], position) => {
    const index = position + 1;
    let entry = names.get(name);
    if (entry === undefined) {
      entry = { nameIndex: index, valueIndex: new Map() };
      names.set(name, entry);
    }
    if (!entry.valueIndex.has(value)) entry.valueIndex.set(value, index);
  });
  return names;
})();
