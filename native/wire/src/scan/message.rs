//! A walk over the fields of a small whole message, with the checks and the error texts of the
//! @bufbuild/protobuf BinaryReader (2.x) that `forEachField` of `src/gateway/wire/proto-scanner.ts`
//! uses: the gateway reads user_context with it, so a malformed user_context fails here with the
//! words it fails with there. Its rules differ from the top-level scanner's (`proto`), as the two
//! TypeScript readers differ; each is matched as it is.

use std::fmt;

use super::decode_utf8;

/// How deep groups nest before the reader gives up, as the BinaryReader's `skip` default.
const GROUP_DEPTH: u32 = 100;

const WIRE_VARINT: u8 = 0;
const WIRE_I64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_START_GROUP: u8 = 3;
const WIRE_END_GROUP: u8 = 4;
const WIRE_I32: u8 = 5;

/// A BinaryReader error; its text is the JavaScript error's message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    PrematureEof,
    InvalidVarint,
    TagOverflow,
    IllegalTag {
        field: u32,
        wire_type: u8,
    },
    CantSkip(u8),
    GroupsTooDeep,
    InvalidEndGroup,
    /// Not the reader's own: TextDecoder's TypeError, for a string that is not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::PrematureEof => f.write_str("premature EOF"),
            ReadError::InvalidVarint => f.write_str("invalid varint"),
            ReadError::TagOverflow => f.write_str("illegal tag: varint overflows uint32"),
            ReadError::IllegalTag { field, wire_type } => {
                write!(f, "illegal tag: field no {field} wire type {wire_type}")
            }
            ReadError::CantSkip(wire_type) => write!(f, "cant skip wire type {wire_type}"),
            ReadError::GroupsTooDeep => f.write_str("maximum recursion depth reached"),
            ReadError::InvalidEndGroup => f.write_str("invalid end group tag"),
            ReadError::InvalidUtf8 => {
                f.write_str("The encoded data was not valid for encoding utf-8")
            }
        }
    }
}

/// A cursor over one message. Like the JavaScript reader it may step past the end, reading
/// zeros there, and only then notices (`premature EOF`): the order of its checks decides which
/// error a broken message gets, so it is kept.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn next_byte(&mut self) -> u8 {
        let byte = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        byte
    }

    fn advance(&mut self, count: usize) -> Result<(), ReadError> {
        self.pos = self.pos.saturating_add(count);
        self.check_bounds()
    }

    fn check_bounds(&self) -> Result<(), ReadError> {
        if self.pos > self.buf.len() {
            Err(ReadError::PrematureEof)
        } else {
            Ok(())
        }
    }

    /// A varint's low 32 bits; up to ten bytes are read, the ones past the fifth only skipped.
    pub fn uint32(&mut self) -> Result<u32, ReadError> {
        let mut result = 0u32;
        for shift in [0, 7, 14, 21] {
            let byte = self.next_byte();
            result |= u32::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                self.check_bounds()?;
                return Ok(result);
            }
        }
        let mut byte = self.next_byte();
        result |= u32::from(byte & 0x0f) << 28;
        let mut read = 5;
        while byte & 0x80 != 0 && read < 10 {
            byte = self.next_byte();
            read += 1;
        }
        if byte & 0x80 != 0 {
            return Err(ReadError::InvalidVarint);
        }
        self.check_bounds()?;
        Ok(result)
    }

    /// A field's number and wire type.
    pub fn tag(&mut self) -> Result<(u32, u8), ReadError> {
        let start = self.pos;
        let tag = self.uint32()?;
        let read = self.pos - start;
        if read > 5 || (read == 5 && self.buf[self.pos - 1] > 0x0f) {
            return Err(ReadError::TagOverflow);
        }
        let field = tag >> 3;
        let wire_type = (tag & 7) as u8;
        if field == 0 || wire_type > WIRE_I32 {
            return Err(ReadError::IllegalTag { field, wire_type });
        }
        Ok((field, wire_type))
    }

    /// A LEN value's bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], ReadError> {
        let length = self.uint32()? as usize;
        let start = self.pos;
        self.advance(length)?;
        Ok(&self.buf[start..start + length])
    }

    /// A LEN value as a string, decoded as the gateway's `decodeUtf8` does.
    pub fn string(&mut self) -> Result<&'a str, ReadError> {
        decode_utf8(self.bytes()?).ok_or(ReadError::InvalidUtf8)
    }

    /// Steps over the value of a field whose tag was just read.
    pub fn skip(&mut self, wire_type: u8, field: u32) -> Result<(), ReadError> {
        self.skip_nested(wire_type, field, GROUP_DEPTH)
    }

    fn skip_nested(&mut self, wire_type: u8, field: u32, depth: u32) -> Result<(), ReadError> {
        match wire_type {
            // No length limit here, unlike uint32: it stops at the first byte without a
            // continuation bit, or past the end.
            WIRE_VARINT => while self.next_byte() & 0x80 != 0 {},
            WIRE_I64 => self.pos = self.pos.saturating_add(8),
            WIRE_I32 => self.pos = self.pos.saturating_add(4),
            WIRE_LEN => {
                let length = self.uint32()? as usize;
                self.pos = self.pos.saturating_add(length);
            }
            WIRE_START_GROUP => {
                if depth == 0 {
                    return Err(ReadError::GroupsTooDeep);
                }
                loop {
                    let (inner, inner_type) = self.tag()?;
                    if inner_type == WIRE_END_GROUP {
                        if inner != field {
                            return Err(ReadError::InvalidEndGroup);
                        }
                        break;
                    }
                    self.skip_nested(inner_type, inner, depth - 1)?;
                }
            }
            _ => return Err(ReadError::CantSkip(wire_type)),
        }
        self.check_bounds()
    }
}

/// Where a walk failed: the error, and the offset of the tag of the field it was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkError {
    pub at: usize,
    pub error: ReadError,
}

/// Calls `visit` for each field of `bytes` with its number, wire type and the reader, which
/// `visit` must move past the field's value.
pub fn for_each_field<'a, F>(bytes: &'a [u8], mut visit: F) -> Result<(), WalkError>
where
    F: FnMut(u32, u8, &mut Reader<'a>) -> Result<(), ReadError>,
{
    let mut reader = Reader::new(bytes);
    while !reader.at_end() {
        let at = reader.pos();
        let step = reader
            .tag()
            .and_then(|(field, wire_type)| visit(field, wire_type, &mut reader));
        step.map_err(|error| WalkError { at, error })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips every field; the error, with its offset, of the first that fails.
    fn walk(bytes: &[u8]) -> Result<(), (usize, String)> {
        for_each_field(bytes, |field, wire_type, reader| {
            reader.skip(wire_type, field)
        })
        .map_err(|failure| (failure.at, failure.error.to_string()))
    }

    #[test]
    fn reads_uint32_as_the_low_32_bits() {
        let mut reader = Reader::new(&[0xac, 0x02]);
        assert_eq!(reader.uint32(), Ok(300));
        let mut reader = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(reader.uint32(), Ok(u32::MAX));
        // The fifth byte gives four bits; bytes past it are skipped.
        let mut reader = Reader::new(&[0x85, 0x80, 0x80, 0x80, 0xf0, 0xff, 0x01]);
        assert_eq!(reader.uint32(), Ok(5));
        assert_eq!(reader.pos(), 7);
        let mut reader = Reader::new(&[0xff; 10]);
        assert_eq!(reader.uint32(), Err(ReadError::InvalidVarint));
        let mut reader = Reader::new(&[0xff; 9]);
        assert_eq!(reader.uint32(), Err(ReadError::PrematureEof));
        let mut reader = Reader::new(&[0x80]);
        assert_eq!(reader.uint32(), Err(ReadError::PrematureEof));
    }

    #[test]
    fn walks_every_wire_type() {
        let message = [
            &[0x08, 0x96, 0x01][..],               // 1: varint
            &[0x11, 1, 2, 3, 4, 5, 6, 7, 8],       // 2: i64
            &[0x1a, 0x02, b'h', b'i'],             // 3: len
            &[0x25, 1, 2, 3, 4],                   // 4: i32
            &[0x2b, 0x08, 0x01, 0x33, 0x34, 0x2c], // 5: group holding 1 and an empty group 6
        ]
        .concat();
        assert_eq!(walk(&message), Ok(()));
        let mut seen = Vec::new();
        for_each_field(&message, |field, wire_type, reader| {
            seen.push((field, wire_type));
            reader.skip(wire_type, field)
        })
        .unwrap();
        assert_eq!(seen, vec![(1, 0), (2, 1), (3, 2), (4, 5), (5, 3)]);
    }

    #[test]
    fn fails_as_the_binary_reader_does() {
        let cases: Vec<(Vec<u8>, usize, &str)> = vec![
            (vec![0x80], 0, "premature EOF"),
            (vec![0x0a, 0x05, b'a'], 0, "premature EOF"),
            (vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], 0, "premature EOF"),
            (vec![0x08, 0x01, 0x08, 0x80], 2, "premature EOF"),
            (vec![0x09, 1, 2, 3], 0, "premature EOF"),
            (vec![0x0d, 1, 2, 3], 0, "premature EOF"),
            (
                vec![
                    0x08, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
                2,
                "invalid varint",
            ),
            (
                vec![0x88, 0x80, 0x80, 0x80, 0x10, 0x00],
                0,
                "illegal tag: varint overflows uint32",
            ),
            (
                vec![0x88, 0x80, 0x80, 0x80, 0x80, 0x00],
                0,
                "illegal tag: varint overflows uint32",
            ),
            (vec![0x02, 0x00], 0, "illegal tag: field no 0 wire type 2"),
            (vec![0x0e], 0, "illegal tag: field no 1 wire type 6"),
            (
                vec![0xff, 0xff, 0xff, 0xff, 0x0f],
                0,
                "illegal tag: field no 536870911 wire type 7",
            ),
            (vec![0x0c], 0, "cant skip wire type 4"),
            (vec![0x0b, 0x14], 0, "invalid end group tag"),
            (vec![0x0b], 0, "premature EOF"),
            (vec![0x0b, 0x0e], 0, "illegal tag: field no 1 wire type 6"),
        ];
        for (message, at, text) in cases {
            assert_eq!(
                walk(&message),
                Err((at, text.to_string())),
                "{message:02x?}"
            );
        }
    }

    #[test]
    fn skips_a_varint_of_any_length() {
        let mut message = vec![0x08];
        message.extend_from_slice(&[0xff; 40]);
        message.push(0x01);
        assert_eq!(walk(&message), Ok(()));
    }

    #[test]
    fn nests_groups_a_hundred_deep_and_no_deeper() {
        let nested = |depth: usize| [vec![0x0b; depth], vec![0x0c; depth]].concat();
        assert_eq!(walk(&nested(100)), Ok(()));
        assert_eq!(
            walk(&nested(101)),
            Err((0, "maximum recursion depth reached".to_string()))
        );
    }

    #[test]
    fn reads_strings_strictly() {
        // A leading byte-order mark is kept, as protobuf-java keeps it.
        let mut reader = Reader::new(&[0x03, 0xef, 0xbb, 0xbf]);
        assert_eq!(reader.string(), Ok("\u{feff}"));
        let mut reader = Reader::new(&[0x01, 0xff]);
        assert_eq!(reader.string(), Err(ReadError::InvalidUtf8));
        assert_eq!(
            ReadError::InvalidUtf8.to_string(),
            "The encoded data was not valid for encoding utf-8"
        );
    }
}
