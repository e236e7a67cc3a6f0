//! A scanner over the top-level fields of one whole protobuf message: it hands out the few fields
//! it was asked for as slices of the message and skips everything else by its length, checking
//! structure only (it never looks inside a field). It is `scanMessage` of
//! `src/gateway/wire/proto-scanner.ts` (an incremental scanner given the whole message at once):
//! the same limits, the same first error at the same byte, the same text.

use super::ScanError;

/// Wire types (https://protobuf.dev/programming-guides/encoding/#structure).
pub const WIRE_VARINT: u8 = 0;
pub const WIRE_I64: u8 = 1;
pub const WIRE_LEN: u8 = 2;
pub const WIRE_I32: u8 = 5;

pub const DEFAULT_MAX_CAPTURE_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_OCCURRENCES: u32 = 16;
/// The most fields a spec captures: their occurrence counts live on the stack, so a scan
/// allocates nothing. A Spark Connect request captures at most five.
pub const MAX_CAPTURED_FIELDS: usize = 8;

const MAX_VARINT_BYTES: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanSpec<'s> {
    /// Top-level field numbers to capture, at most MAX_CAPTURED_FIELDS.
    pub capture: &'s [u32],
    /// A captured LEN field longer than this is skipped and counted as oversized.
    pub max_capture_bytes: usize,
    /// Occurrences of one captured field (any wire type) accepted before the message counts as
    /// malformed: protobuf allows repeats, but a flood of them would be work without bound.
    pub max_occurrences: u32,
    /// Names the message in errors, e.g. "the ExecutePlan request".
    pub subject: &'s str,
}

impl<'s> ScanSpec<'s> {
    /// A spec with the TypeScript's default limits.
    pub const fn new(capture: &'s [u32], subject: &'s str) -> Self {
        ScanSpec {
            capture,
            max_capture_bytes: DEFAULT_MAX_CAPTURE_BYTES,
            max_occurrences: DEFAULT_MAX_OCCURRENCES,
            subject,
        }
    }

    /// Where `field` is in `capture` (its first place when listed twice).
    pub fn place(&self, field: u32) -> Option<usize> {
        self.capture.iter().position(|&wanted| wanted == field)
    }
}

/// One occurrence of a captured field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapturedField<'a> {
    pub field: u32,
    pub wire_type: u8,
    /// LEN: the value's bytes; I32/I64: the raw little-endian bytes; VARINT: empty.
    pub value: &'a [u8],
    /// VARINT only: the value, truncated to 64 bits as protobuf does.
    pub varint: Option<u64>,
    /// Offset of the field's tag in the message.
    pub start: usize,
    /// Offset just after the field's value.
    pub end: usize,
}

/// The captured fields that had a LEN occurrence over `max_capture_bytes`, by place in `capture`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Oversized(u8);

impl Oversized {
    pub fn contains(self, place: usize) -> bool {
        place < MAX_CAPTURED_FIELDS && self.0 & (1 << place) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

enum Varint {
    Done(u64),
    /// Still going on at its tenth byte.
    TooLong,
    /// The message ended inside it.
    Ended,
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Varint {
    let mut value = 0u64;
    let mut count = 0;
    loop {
        let Some(&byte) = bytes.get(*at) else {
            return Varint::Ended;
        };
        *at += 1;
        // Bits past the 64th (the tenth byte's upper six) are dropped, as protobuf does.
        value |= u64::from(byte & 0x7f) << (7 * count);
        count += 1;
        if byte & 0x80 == 0 {
            return Varint::Done(value);
        }
        if count == MAX_VARINT_BYTES {
            return Varint::TooLong;
        }
    }
}

/// Scans `bytes`, one whole message, calling `on_field` with each captured occurrence (its place
/// in `spec.capture` and the field) in the order they appear; returns the oversized fields.
/// Stops at the first structural error, with the TypeScript scanner's text and byte.
pub fn scan_message<'a, F>(
    bytes: &'a [u8],
    spec: &ScanSpec<'_>,
    mut on_field: F,
) -> Result<Oversized, ScanError>
where
    F: FnMut(usize, CapturedField<'a>),
{
    assert!(
        spec.capture.len() <= MAX_CAPTURED_FIELDS,
        "a ScanSpec captures at most {MAX_CAPTURED_FIELDS} fields"
    );
    let fail = |at: usize, problem: std::fmt::Arguments<'_>| {
        Err(ScanError::malformed(spec.subject, at, problem))
    };
    let mut occurrences = [0u32; MAX_CAPTURED_FIELDS];
    let mut oversized = Oversized(0);
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let tag = match read_varint(bytes, &mut at) {
            Varint::Done(value) => value,
            Varint::TooLong => {
                return fail(start, format_args!("a varint is longer than 10 bytes"))
            }
            Varint::Ended => {
                return fail(
                    bytes.len(),
                    format_args!("the message ends inside a field tag"),
                )
            }
        };
        if tag > 0xffff_ffff {
            return fail(start, format_args!("a field tag does not fit in 32 bits"));
        }
        let field = (tag >> 3) as u32;
        let wire_type = (tag & 7) as u8;
        if field == 0 {
            return fail(start, format_args!("field number 0 is not a valid field"));
        }
        if wire_type == 3 || wire_type == 4 {
            return fail(
                start,
                format_args!(
                    "field {field} uses groups (wire type {wire_type}), which Spark Connect never sends"
                ),
            );
        }
        if wire_type > WIRE_I32 {
            return fail(
                start,
                format_args!("field {field} has the invalid wire type {wire_type}"),
            );
        }
        let place = spec.place(field);
        if let Some(place) = place {
            occurrences[place] += 1;
            if occurrences[place] > spec.max_occurrences {
                let most = spec.max_occurrences;
                return fail(
                    start,
                    format_args!("field {field} occurs more than {most} times"),
                );
            }
        }
        // Where a value's own varint (or the message) ends too early.
        let value_start = at;
        let inside_field = |at: usize| {
            fail(
                at,
                format_args!("the message ends inside field {field} (which began at byte {start})"),
            )
        };
        // The value's length: a LEN field's varint (named exactly when too long), or a fixed size.
        let length = match wire_type {
            WIRE_VARINT => {
                match read_varint(bytes, &mut at) {
                    Varint::Done(value) => {
                        if let Some(place) = place {
                            let captured = CapturedField {
                                field,
                                wire_type,
                                value: &bytes[at..at],
                                varint: Some(value),
                                start,
                                end: at,
                            };
                            on_field(place, captured);
                        }
                    }
                    Varint::TooLong => {
                        return fail(
                            value_start,
                            format_args!("a varint is longer than 10 bytes"),
                        )
                    }
                    Varint::Ended => return inside_field(bytes.len()),
                }
                continue;
            }
            WIRE_LEN => match read_varint(bytes, &mut at) {
                Varint::Done(value) => value,
                Varint::TooLong => {
                    return fail(
                        value_start,
                        format_args!("a varint is longer than 10 bytes"),
                    )
                }
                Varint::Ended => return inside_field(bytes.len()),
            },
            _ => {
                if wire_type == WIRE_I64 {
                    8
                } else {
                    4
                }
            }
        };
        let left = bytes.len() - at;
        if length > left as u64 {
            return fail(
                start,
                format_args!("field {field} claims {length} bytes but only {left} remain"),
            );
        }
        let length = length as usize;
        let value = &bytes[at..at + length];
        at += length;
        if let Some(place) = place {
            if wire_type == WIRE_LEN && length > spec.max_capture_bytes {
                oversized.0 |= 1 << place;
            } else {
                let captured = CapturedField {
                    field,
                    wire_type,
                    value,
                    varint: None,
                    start,
                    end: at,
                };
                on_field(place, captured);
            }
        }
    }
    Ok(oversized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::ErrorCode;

    fn varint(mut value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while value >= 0x80 {
            out.push(value as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
        out
    }

    fn tag(field: u32, wire_type: u8) -> Vec<u8> {
        varint(u64::from(field) << 3 | u64::from(wire_type))
    }

    fn len_field(field: u32, value: &[u8]) -> Vec<u8> {
        [
            tag(field, WIRE_LEN),
            varint(value.len() as u64),
            value.to_vec(),
        ]
        .concat()
    }

    fn scan(
        bytes: &[u8],
        spec: &ScanSpec<'_>,
    ) -> Result<(Vec<CapturedField<'static>>, Oversized), String> {
        // Leaked so that the fields can outlive the call in the assertions; tests only.
        let bytes: &'static [u8] = Box::leak(bytes.to_vec().into_boxed_slice());
        let mut fields = Vec::new();
        scan_message(bytes, spec, |_, field| fields.push(field))
            .map(|oversized| (fields, oversized))
            .map_err(|error| {
                assert_eq!(error.code, ErrorCode::MalformedMessage);
                error.message
            })
    }

    const SPEC: ScanSpec<'static> = ScanSpec::new(&[1, 2, 9], "the message");

    #[test]
    fn captures_the_fields_asked_for_in_order() {
        let message = [
            len_field(1, b"a"),
            len_field(3, b"skipped"),
            tag(9, WIRE_VARINT),
            varint(300),
            len_field(2, b""),
            tag(9, WIRE_I32),
            vec![1, 2, 3, 4],
            tag(2, WIRE_I64),
            vec![1, 2, 3, 4, 5, 6, 7, 8],
            tag(4, WIRE_I64),
            vec![0; 8],
            len_field(1, b"b"),
        ]
        .concat();
        let (fields, oversized) = scan(&message, &SPEC).unwrap();
        assert!(oversized.is_empty());
        let summary: Vec<_> = fields
            .iter()
            .map(|f| {
                (
                    f.field,
                    f.wire_type,
                    f.value.to_vec(),
                    f.varint,
                    f.start,
                    f.end,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, 2, b"a".to_vec(), None, 0, 3),
                (9, 0, vec![], Some(300), 12, 15),
                (2, 2, vec![], None, 15, 17),
                (9, 5, vec![1, 2, 3, 4], None, 17, 22),
                (2, 1, vec![1, 2, 3, 4, 5, 6, 7, 8], None, 22, 31),
                (1, 2, b"b".to_vec(), None, 40, 43),
            ]
        );
        assert_eq!(scan(&[], &SPEC), Ok((vec![], Oversized(0))));
    }

    #[test]
    fn reads_varints_up_to_ten_bytes_truncated_to_64_bits() {
        let mut message = tag(9, WIRE_VARINT);
        message.extend_from_slice(&[0xff; 9]);
        message.push(0x7f);
        let (fields, _) = scan(&message, &SPEC).unwrap();
        assert_eq!(fields[0].varint, Some(u64::MAX));
        // A tag written in more bytes than it needs is still the same tag.
        let message = [vec![0x8a, 0x80, 0x80, 0x00], varint(1), b"x".to_vec()].concat();
        let (fields, _) = scan(&message, &SPEC).unwrap();
        assert_eq!((fields[0].field, fields[0].value), (1, &b"x"[..]));
    }

    #[test]
    fn skips_and_lists_captured_fields_too_long() {
        let long = vec![b'x'; DEFAULT_MAX_CAPTURE_BYTES + 1];
        let message = [
            len_field(2, &long),
            len_field(1, &long[1..]),
            len_field(3, &long),
            len_field(2, b"kept"),
        ]
        .concat();
        let (fields, oversized) = scan(&message, &SPEC).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].value, b"kept");
        assert!(oversized.contains(1) && !oversized.contains(0) && !oversized.contains(2));
        assert!(!oversized.contains(MAX_CAPTURED_FIELDS + 3));
        let tight = ScanSpec {
            max_capture_bytes: 3,
            ..SPEC
        };
        let (fields, oversized) = scan(&len_field(9, b"four"), &tight).unwrap();
        assert!(fields.is_empty() && oversized.contains(2));
    }

    #[test]
    fn refuses_too_many_occurrences_of_a_captured_field() {
        let one = [tag(9, WIRE_VARINT), varint(1)].concat();
        let sixteen = one.repeat(16);
        assert_eq!(scan(&sixteen, &SPEC).unwrap().0.len(), 16);
        // Any wire type counts; uncaptured fields never do.
        let message = [sixteen, len_field(9, b""), one.clone()].concat();
        assert_eq!(
            scan(&message, &SPEC),
            Err(
                "malformed protobuf in the message at byte 32: field 9 occurs more than 16 times"
                    .into()
            )
        );
        let uncaptured = [tag(5, WIRE_VARINT), varint(1)].concat().repeat(100);
        assert!(scan(&uncaptured, &SPEC).is_ok());
    }

    #[test]
    fn reports_each_malformation_with_its_byte() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x80], "at byte 1: the message ends inside a field tag"),
            (
                [len_field(1, b"a"), vec![0x80, 0x80]].concat(),
                "at byte 5: the message ends inside a field tag",
            ),
            (
                tag(5, WIRE_VARINT),
                "at byte 1: the message ends inside field 5 (which began at byte 0)",
            ),
            (
                [tag(5, WIRE_VARINT), vec![0x80]].concat(),
                "at byte 2: the message ends inside field 5 (which began at byte 0)",
            ),
            (
                tag(5, WIRE_LEN),
                "at byte 1: the message ends inside field 5 (which began at byte 0)",
            ),
            (
                [tag(5, WIRE_LEN), vec![0xff]].concat(),
                "at byte 2: the message ends inside field 5 (which began at byte 0)",
            ),
            (
                [tag(5, WIRE_LEN), varint(3), b"ab".to_vec()].concat(),
                "at byte 0: field 5 claims 3 bytes but only 2 remain",
            ),
            (
                [len_field(1, b""), tag(5, WIRE_I64), vec![0; 7]].concat(),
                "at byte 2: field 5 claims 8 bytes but only 7 remain",
            ),
            (
                tag(5, WIRE_I32),
                "at byte 0: field 5 claims 4 bytes but only 0 remain",
            ),
            (
                vec![0xff; 10],
                "at byte 0: a varint is longer than 10 bytes",
            ),
            (
                [tag(5, WIRE_VARINT), vec![0xff; 10]].concat(),
                "at byte 1: a varint is longer than 10 bytes",
            ),
            (
                [tag(5, WIRE_LEN), vec![0xff; 11]].concat(),
                "at byte 1: a varint is longer than 10 bytes",
            ),
            (
                varint(1 << 32),
                "at byte 0: a field tag does not fit in 32 bits",
            ),
            (
                varint(u64::MAX),
                "at byte 0: a field tag does not fit in 32 bits",
            ),
            (
                vec![0x02, 0x00],
                "at byte 0: field number 0 is not a valid field",
            ),
            (
                tag(7, 3),
                "at byte 0: field 7 uses groups (wire type 3), which Spark Connect never sends",
            ),
            (
                tag(7, 4),
                "at byte 0: field 7 uses groups (wire type 4), which Spark Connect never sends",
            ),
            (
                tag(536_870_911, 6),
                "at byte 0: field 536870911 has the invalid wire type 6",
            ),
            (tag(7, 7), "at byte 0: field 7 has the invalid wire type 7"),
        ];
        for (message, problem) in cases {
            assert_eq!(
                scan(&message, &SPEC).unwrap_err(),
                format!("malformed protobuf in the message {problem}"),
                "{message:02x?}"
            );
        }
    }

    #[test]
    fn says_what_an_overlong_length_claims_as_the_typescript_does() {
        // A length varint over 7 bytes is printed exactly.
        let huge = [tag(5, WIRE_LEN), varint(u64::MAX)].concat();
        assert_eq!(
            scan(&huge, &SPEC).unwrap_err(),
            "malformed protobuf in the message at byte 0: field 5 claims 18446744073709551615 bytes but only 0 remain"
        );
        // An I32/I64 field claims its own size, however long its tag was written.
        let long_tag = [
            vec![0xad, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            vec![1],
        ]
        .concat();
        assert_eq!(
            scan(&long_tag, &SPEC).unwrap_err(),
            "malformed protobuf in the message at byte 0: field 5 claims 4 bytes but only 1 remain"
        );
        let short_tag = [vec![0xad, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], vec![1]].concat();
        assert_eq!(
            scan(&short_tag, &SPEC).unwrap_err(),
            "malformed protobuf in the message at byte 0: field 5 claims 4 bytes but only 1 remain"
        );
    }

    #[test]
    fn names_the_subject_in_errors() {
        let spec = ScanSpec::new(&[1], "the Config request");
        assert_eq!(
            scan(&[0x80], &spec).unwrap_err(),
            "malformed protobuf in the Config request at byte 1: the message ends inside a field tag"
        );
    }
}
