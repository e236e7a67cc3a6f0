//! The HPACK static table (RFC 7541 Appendix A), as in `src/gateway/wire/hpack-static-table.ts`:
//! 61 fields both peers know without sending them. Index 1 is the first entry; the dynamic
//! table's entries follow from index 62.

pub(crate) const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// How the stateless encoder can refer to a field through the static table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StaticMatch {
    /// No entry has the name.
    None,
    /// The first entry with the name, none with the value too.
    Name(usize),
    /// The first entry with both the name and the value.
    Field(usize),
}

const LONGEST_NAME: usize = 27;
const MOST_NAMES_OF_ONE_LENGTH: usize = 6;

/// `BY_LENGTH[length]`: the index of the first entry of each distinct name of that length (0 marks
/// an unused slot), so a lookup compares a name with at most 6 candidates, and never hashes it.
static BY_LENGTH: [[u8; MOST_NAMES_OF_ONE_LENGTH]; LONGEST_NAME + 1] = by_length();

const fn by_length() -> [[u8; MOST_NAMES_OF_ONE_LENGTH]; LONGEST_NAME + 1] {
    let mut buckets = [[0u8; MOST_NAMES_OF_ONE_LENGTH]; LONGEST_NAME + 1];
    let mut filled = [0usize; LONGEST_NAME + 1];
    let mut position = 0;
    while position < STATIC_TABLE.len() {
        let name = STATIC_TABLE[position].0;
        // Entries sharing a name are adjacent: only the first of a run is a candidate.
        if position == 0 || !same(STATIC_TABLE[position - 1].0, name) {
            let length = name.len();
            buckets[length][filled[length]] = (position + 1) as u8;
            filled[length] += 1;
        }
        position += 1;
    }
    buckets
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut at = 0;
    while at < a.len() {
        if a[at] != b[at] {
            return false;
        }
        at += 1;
    }
    true
}

/// The static entry the encoder uses for a field: the full match when there is one, else the
/// first entry with the name (as `STATIC_NAMES` in the TypeScript).
pub(crate) fn find(name: &[u8], value: &[u8]) -> StaticMatch {
    let Some(candidates) = BY_LENGTH.get(name.len()) else {
        return StaticMatch::None;
    };
    for &first in candidates {
        if first == 0 {
            break;
        }
        let first = usize::from(first);
        if STATIC_TABLE[first - 1].0 != name {
            continue;
        }
        let mut index = first;
        while index <= STATIC_TABLE.len() && STATIC_TABLE[index - 1].0 == name {
            if STATIC_TABLE[index - 1].1 == value {
                return StaticMatch::Field(index);
            }
            index += 1;
        }
        return StaticMatch::Name(first);
    }
    StaticMatch::None
}
