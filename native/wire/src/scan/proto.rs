//! A scanner over the top-level fields of one protobuf message, as `createFieldScanner` of
//! `src/gateway/wire/proto-scanner.ts`: its bytes may arrive in pieces of any size, the few fields
//! it was asked for are handed to a sink and everything else is skipped by its length, checking
//! structure only (it never looks inside a field). `scan_message` runs it over a whole message,
//! as `scanMessage` does: the same limits, the same first error at the same byte, the same text.

use std::fmt;

use super::{ErrorCode, ScanError};

/// Wire types (https://protobuf.dev/programming-guides/encoding/#structure).
pub const WIRE_VARINT: u8 = 0;
pub const WIRE_I64: u8 = 1;
pub const WIRE_LEN: u8 = 2;
pub const WIRE_I32: u8 = 5;

pub const DEFAULT_MAX_CAPTURE_BYTES: usize = 64 * 1024;
pub const DEFAULT_MAX_OCCURRENCES: u32 = 16;
/// The most fields a spec captures: their occurrence counts live in the scanner itself, so a
/// scan allocates nothing. A Spark Connect request captures at most five.
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

/// A captured occurrence as the scanner reports it: where its value lies in the message, since
/// its bytes may have come in several pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldEnd {
    pub field: u32,
    pub wire_type: u8,
    pub varint: Option<u64>,
    pub start: usize,
    /// Offset of the value's first byte (`end` for a VARINT, whose value is `varint`).
    pub value_start: usize,
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

/// Where a scanner puts what it captures.
pub trait FieldSink {
    /// The next bytes of the value of the captured field being read, in order.
    fn value_bytes(&mut self, bytes: &[u8]);
    /// A captured occurrence is complete: its value's bytes were all passed to `value_bytes`.
    fn captured(&mut self, place: usize, field: FieldEnd);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Tag,
    Varint,
    Length,
    Value,
}

/// The incremental scanner of one message of a known length (its gRPC length).
#[derive(Clone, Debug)]
pub struct FieldScanner<'s> {
    spec: ScanSpec<'s>,
    message_length: usize,
    offset: usize,
    passed: u32,
    occurrences: [u32; MAX_CAPTURED_FIELDS],
    oversized: Oversized,
    /// The first error, returned again by every later call, as the TypeScript's `failed`.
    failed: Option<ScanError>,
    // The field being read.
    state: State,
    field_start: usize,
    field: u32,
    wire_type: u8,
    place: Option<usize>,
    varint: u64,
    varint_bytes: usize,
    /// Value bytes still to come (LEN, I32, I64).
    remaining: usize,
    value_start: usize,
    /// The value being read goes to the sink.
    keep: bool,
}

/// Where a message ended too early, as the TypeScript's `midField` says it.
#[derive(Clone, Copy)]
struct MidField {
    in_tag: bool,
    field: u32,
    start: usize,
}

impl fmt::Display for MidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_tag {
            f.write_str("inside a field tag")
        } else {
            let MidField { field, start, .. } = self;
            write!(f, "inside field {field} (which began at byte {start})")
        }
    }
}

impl<'s> FieldScanner<'s> {
    pub fn new(spec: ScanSpec<'s>, message_length: usize) -> Self {
        assert!(
            spec.capture.len() <= MAX_CAPTURED_FIELDS,
            "a ScanSpec captures at most {MAX_CAPTURED_FIELDS} fields"
        );
        FieldScanner {
            spec,
            message_length,
            offset: 0,
            passed: 0,
            occurrences: [0; MAX_CAPTURED_FIELDS],
            oversized: Oversized(0),
            failed: None,
            state: State::Tag,
            field_start: 0,
            field: 0,
            wire_type: 0,
            place: None,
            varint: 0,
            varint_bytes: 0,
            remaining: 0,
            value_start: 0,
            keep: false,
        }
    }

    /// Message bytes consumed so far.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The highest field number begun so far (0 before the first field). Encoders write fields
    /// in number order, so once this is past a field a caller waits for, it is almost surely
    /// absent (see `passed` in the TypeScript).
    pub fn passed(&self) -> u32 {
        self.passed
    }

    pub fn oversized(&self) -> Oversized {
        self.oversized
    }

    /// Scans the next bytes of the message, handing captured fields to `sink`.
    pub fn push<S: FieldSink>(&mut self, chunk: &[u8], sink: &mut S) -> Result<(), ScanError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if chunk.len() > self.message_length - self.offset {
            let error = ScanError {
                code: ErrorCode::Internal,
                message: format!(
                    "{} got {} bytes but its gRPC length is {}",
                    self.spec.subject,
                    self.offset + chunk.len(),
                    self.message_length
                ),
            };
            return Err(self.failing(error));
        }
        let mut at = 0;
        while at < chunk.len() {
            if self.state == State::Value {
                let used = self.remaining.min(chunk.len() - at);
                if self.keep {
                    sink.value_bytes(&chunk[at..at + used]);
                }
                self.remaining -= used;
                self.offset += used;
                at += used;
                if self.remaining == 0 {
                    self.finish_bytes(sink);
                }
                continue;
            }
            let byte = chunk[at];
            if self.state == State::Tag && self.varint_bytes == 0 {
                self.field_start = self.offset;
            }
            at += 1;
            self.offset += 1;
            let Some(value) = self.varint_byte(byte)? else {
                continue;
            };
            match self.state {
                State::Tag => self.begin_value(value, sink)?,
                State::Varint => {
                    if let Some(place) = self.place {
                        sink.captured(place, self.field_end(Some(value)));
                    }
                    self.state = State::Tag;
                }
                State::Length => self.begin_bytes(value, sink)?,
                State::Value => unreachable!("a value is read in bulk above"),
            }
        }
        if self.offset == self.message_length && (self.state != State::Tag || self.varint_bytes > 0)
        {
            let (at, mid) = (self.offset, self.mid_field());
            return Err(self.fail(at, format_args!("the message ends {mid}")));
        }
        Ok(())
    }

    /// The message is complete: checks that it ended on a field boundary.
    pub fn end(&mut self) -> Result<(), ScanError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.offset < self.message_length {
            let (at, length) = (self.offset, self.message_length);
            let between = self.state == State::Tag && self.varint_bytes == 0;
            let mid = self.mid_field();
            let place: &dyn fmt::Display = if between { &"between fields" } else { &mid };
            return Err(self.fail(
                at,
                format_args!("the message ended after {at} of its {length} bytes, {place}"),
            ));
        }
        Ok(())
    }

    fn failing(&mut self, error: ScanError) -> ScanError {
        self.failed = Some(error.clone());
        error
    }

    fn fail(&mut self, at: usize, problem: fmt::Arguments<'_>) -> ScanError {
        let error = ScanError::malformed(self.spec.subject, at, problem);
        self.failing(error)
    }

    fn mid_field(&self) -> MidField {
        MidField {
            in_tag: self.state == State::Tag,
            field: self.field,
            start: self.field_start,
        }
    }

    fn field_end(&self, varint: Option<u64>) -> FieldEnd {
        FieldEnd {
            field: self.field,
            wire_type: self.wire_type,
            varint,
            start: self.field_start,
            value_start: if varint.is_some() {
                self.offset
            } else {
                self.value_start
            },
            end: self.offset,
        }
    }

    /// Feeds one varint byte; the value once its last byte arrived. Bits past the 64th (the
    /// tenth byte's upper six) are dropped, as protobuf does.
    fn varint_byte(&mut self, byte: u8) -> Result<Option<u64>, ScanError> {
        self.varint |= u64::from(byte & 0x7f) << (7 * self.varint_bytes);
        self.varint_bytes += 1;
        if byte & 0x80 == 0 {
            let value = self.varint;
            self.varint = 0;
            self.varint_bytes = 0;
            return Ok(Some(value));
        }
        if self.varint_bytes == MAX_VARINT_BYTES {
            let at = self.offset - self.varint_bytes;
            return Err(self.fail(
                at,
                format_args!("a varint is longer than {MAX_VARINT_BYTES} bytes"),
            ));
        }
        Ok(None)
    }

    /// Starts reading the value of the field whose tag just ended, in the TypeScript's order of
    /// checks: the first of several faults is the one reported.
    fn begin_value<S: FieldSink>(&mut self, tag: u64, sink: &mut S) -> Result<(), ScanError> {
        let start = self.field_start;
        if tag > 0xffff_ffff {
            return Err(self.fail(start, format_args!("a field tag does not fit in 32 bits")));
        }
        let field = (tag >> 3) as u32;
        let wire_type = (tag & 7) as u8;
        self.field = field;
        self.wire_type = wire_type;
        if field == 0 {
            return Err(self.fail(start, format_args!("field number 0 is not a valid field")));
        }
        if wire_type == 3 || wire_type == 4 {
            return Err(self.fail(
                start,
                format_args!(
                    "field {field} uses groups (wire type {wire_type}), which Spark Connect never sends"
                ),
            ));
        }
        if wire_type > WIRE_I32 {
            return Err(self.fail(
                start,
                format_args!("field {field} has the invalid wire type {wire_type}"),
            ));
        }
        self.passed = self.passed.max(field);
        self.place = self.spec.place(field);
        if let Some(place) = self.place {
            self.occurrences[place] += 1;
            let most = self.spec.max_occurrences;
            if self.occurrences[place] > most {
                return Err(self.fail(
                    start,
                    format_args!("field {field} occurs more than {most} times"),
                ));
            }
        }
        match wire_type {
            WIRE_VARINT => self.state = State::Varint,
            WIRE_LEN => self.state = State::Length,
            WIRE_I64 => self.begin_bytes(8, sink)?,
            _ => self.begin_bytes(4, sink)?,
        }
        Ok(())
    }

    /// Starts a run of `length` value bytes, handed to the sink only when captured and small
    /// enough.
    fn begin_bytes<S: FieldSink>(&mut self, length: u64, sink: &mut S) -> Result<(), ScanError> {
        let left = self.message_length - self.offset;
        if length > left as u64 {
            let (start, field) = (self.field_start, self.field);
            return Err(self.fail(
                start,
                format_args!("field {field} claims {length} bytes but only {left} remain"),
            ));
        }
        let length = length as usize;
        self.keep = self.place.is_some();
        if let Some(place) = self.place {
            if self.wire_type == WIRE_LEN && length > self.spec.max_capture_bytes {
                self.oversized.0 |= 1 << place;
                self.keep = false;
            }
        }
        self.remaining = length;
        self.value_start = self.offset;
        self.state = State::Value;
        if length == 0 {
            self.finish_bytes(sink);
        }
        Ok(())
    }

    fn finish_bytes<S: FieldSink>(&mut self, sink: &mut S) {
        if let (true, Some(place)) = (self.keep, self.place) {
            sink.captured(place, self.field_end(None));
        }
        self.keep = false;
        self.state = State::Tag;
    }
}

/// Captured occurrences of a message whose bytes arrive in pieces, their values copied out into
/// one buffer that grows only with what is captured.
#[derive(Clone, Debug, Default)]
pub struct CapturedFields {
    values: Vec<u8>,
    /// Each occurrence's place in `capture`, the occurrence, and where its value is in `values`.
    fields: Vec<(usize, FieldEnd, usize)>,
}

impl CapturedFields {
    /// Forgets every occurrence, keeping the buffers for the next message.
    pub fn clear(&mut self) {
        self.values.clear();
        self.fields.clear();
    }

    /// Complete occurrences in the order they appeared, with their places in `capture`; a value
    /// still arriving is not among them.
    pub fn iter(&self) -> impl Iterator<Item = (usize, CapturedField<'_>)> + '_ {
        self.fields.iter().map(|&(place, field, at)| {
            let length = field.end - field.value_start;
            let captured = CapturedField {
                field: field.field,
                wire_type: field.wire_type,
                value: &self.values[at..at + length],
                varint: field.varint,
                start: field.start,
                end: field.end,
            };
            (place, captured)
        })
    }
}

impl FieldSink for CapturedFields {
    fn value_bytes(&mut self, bytes: &[u8]) {
        self.values.extend_from_slice(bytes);
    }

    fn captured(&mut self, place: usize, field: FieldEnd) {
        let at = self.values.len() - (field.end - field.value_start);
        self.fields.push((place, field, at));
    }
}

/// Scans `bytes`, one whole message, calling `on_field` with each captured occurrence (its place
/// in `spec.capture` and the field, its value a slice of `bytes`) in the order they appear;
/// returns the oversized fields. Stops at the first structural error.
pub fn scan_message<'a, F>(
    bytes: &'a [u8],
    spec: &ScanSpec<'_>,
    on_field: F,
) -> Result<Oversized, ScanError>
where
    F: FnMut(usize, CapturedField<'a>),
{
    /// Values are sliced out of the message rather than copied: it is all there.
    struct Slices<'a, F> {
        bytes: &'a [u8],
        on_field: F,
    }

    impl<'a, F: FnMut(usize, CapturedField<'a>)> FieldSink for Slices<'a, F> {
        fn value_bytes(&mut self, _: &[u8]) {}

        fn captured(&mut self, place: usize, field: FieldEnd) {
            let captured = CapturedField {
                field: field.field,
                wire_type: field.wire_type,
                value: &self.bytes[field.value_start..field.end],
                varint: field.varint,
                start: field.start,
                end: field.end,
            };
            (self.on_field)(place, captured);
        }
    }

    let mut scanner = FieldScanner::new(*spec, bytes.len());
    scanner.push(bytes, &mut Slices { bytes, on_field })?;
    scanner.end()?;
    Ok(scanner.oversized())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::test_bytes::{len_field, tag, varint};
    use crate::scan::ErrorCode;

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

    /// What an incremental scan of `message` in `pieces` captured (place, field, wire type,
    /// value, varint, start, end) and its error, pushing each piece and then ending.
    #[allow(clippy::type_complexity)]
    fn scan_in_pieces(
        message: &[u8],
        pieces: &[usize],
        spec: &ScanSpec<'_>,
    ) -> (
        Vec<(usize, CapturedField<'static>)>,
        Oversized,
        Option<ScanError>,
    ) {
        let mut scanner = FieldScanner::new(*spec, message.len());
        let mut captured = CapturedFields::default();
        let mut at = 0;
        let mut result = Ok(());
        for &cut in pieces.iter().chain([&message.len()]) {
            result = scanner.push(&message[at..cut], &mut captured);
            at = cut;
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| scanner.end());
        let captured: &'static CapturedFields = Box::leak(Box::new(captured));
        (captured.iter().collect(), scanner.oversized(), result.err())
    }

    fn whole(
        message: &[u8],
        spec: &ScanSpec<'_>,
    ) -> (
        Vec<(usize, CapturedField<'static>)>,
        Oversized,
        Option<ScanError>,
    ) {
        let bytes: &'static [u8] = Box::leak(message.to_vec().into_boxed_slice());
        let mut fields = Vec::new();
        match scan_message(bytes, spec, |place, field| fields.push((place, field))) {
            Ok(oversized) => (fields, oversized, None),
            // What was captured before an error is not compared: the whole scan stops there too.
            Err(error) => (Vec::new(), Oversized(0), Some(error)),
        }
    }

    /// Messages of every shape the scanner meets, well-formed and not.
    fn corpus() -> Vec<Vec<u8>> {
        let long = vec![b'x'; 300];
        vec![
            [
                len_field(1, b"session"),
                len_field(2, &len_field(1, b"alice")),
                len_field(3, &long),
                tag(9, WIRE_VARINT),
                varint(u64::MAX),
                tag(9, WIRE_I32),
                vec![1, 2, 3, 4],
                tag(4, WIRE_I64),
                vec![0; 8],
                len_field(1, b""),
                tag(700, WIRE_LEN),
                varint(2),
                b"zz".to_vec(),
            ]
            .concat(),
            [len_field(2, &long), len_field(1, b"after")].concat(),
            vec![0x80],
            [len_field(1, b"a"), vec![0x80, 0x80]].concat(),
            [tag(5, WIRE_LEN), varint(3), b"ab".to_vec()].concat(),
            [tag(5, WIRE_VARINT), vec![0xff; 10]].concat(),
            [len_field(1, b"ok"), varint(1 << 32)].concat(),
            [len_field(1, b"ok"), vec![0x02, 0x00]].concat(),
            [tag(1, WIRE_LEN), vec![0xff; 11]].concat(),
            tag(7, 3),
            [tag(9, WIRE_VARINT), varint(1)].concat().repeat(17),
            [tag(2, WIRE_I64), vec![0; 7]].concat(),
            vec![],
        ]
    }

    #[test]
    fn scans_a_message_cut_anywhere_as_it_scans_it_whole() {
        let tight = ScanSpec {
            max_capture_bytes: 100,
            ..SPEC
        };
        for spec in [SPEC, tight] {
            for message in corpus() {
                let expected = whole(&message, &spec);
                for cut in 0..=message.len() {
                    let got = scan_in_pieces(&message, &[cut], &spec);
                    if expected.2.is_some() {
                        assert_eq!(got.2, expected.2, "{message:02x?} cut at {cut}");
                    } else {
                        assert_eq!(got, expected, "{message:02x?} cut at {cut}");
                    }
                }
                let bytes: Vec<usize> = (1..message.len()).collect();
                let got = scan_in_pieces(&message, &bytes, &spec);
                assert_eq!(got.2, expected.2, "{message:02x?} byte by byte");
                if expected.2.is_none() {
                    assert_eq!(got, expected);
                }
            }
        }
    }

    #[test]
    fn says_where_a_message_ended_too_early() {
        let message = [len_field(1, b"abc"), tag(9, WIRE_VARINT), varint(300)].concat();
        let cases = [
            (0, "at byte 0: the message ended after 0 of its 8 bytes, between fields"),
            (1, "at byte 1: the message ended after 1 of its 8 bytes, inside field 1 (which began at byte 0)"),
            (3, "at byte 3: the message ended after 3 of its 8 bytes, inside field 1 (which began at byte 0)"),
            (5, "at byte 5: the message ended after 5 of its 8 bytes, between fields"),
            (7, "at byte 7: the message ended after 7 of its 8 bytes, inside field 9 (which began at byte 5)"),
        ];
        for (cut, problem) in cases {
            let mut scanner = FieldScanner::new(SPEC, message.len());
            let mut captured = CapturedFields::default();
            scanner.push(&message[..cut], &mut captured).unwrap();
            let error = scanner.end().unwrap_err();
            assert_eq!(error.code, ErrorCode::MalformedMessage);
            assert_eq!(
                error.message,
                format!("malformed protobuf in the message {problem}")
            );
            // Failed for good: later calls give the same error.
            assert_eq!(
                scanner.push(&message[cut..], &mut captured),
                Err(error.clone())
            );
            assert_eq!(scanner.end(), Err(error));
        }
        // A tag cut short at the end of the message: the 0x80 continues into nothing.
        let mut scanner = FieldScanner::new(SPEC, 2);
        let mut captured = CapturedFields::default();
        scanner.push(&[0x88], &mut captured).unwrap();
        let error = scanner.push(&[0x80], &mut captured).unwrap_err();
        assert_eq!(
            error.message,
            "malformed protobuf in the message at byte 2: the message ends inside a field tag"
        );
    }

    #[test]
    fn refuses_more_bytes_than_the_message_has() {
        let mut scanner = FieldScanner::new(SPEC, 3);
        let mut captured = CapturedFields::default();
        scanner.push(&[0x0a], &mut captured).unwrap();
        let error = scanner
            .push(&[0x01, b'a', 0x00], &mut captured)
            .unwrap_err();
        assert_eq!(error.code, ErrorCode::Internal);
        assert_eq!(
            error.message,
            "the message got 4 bytes but its gRPC length is 3"
        );
        assert_eq!(scanner.push(&[], &mut captured), Err(error));
    }

    #[test]
    fn keeps_only_complete_values_and_follows_the_highest_field() {
        let message = [
            len_field(9, b"first"),
            len_field(5, b"skipped"),
            len_field(9, b"second"),
            len_field(2, b"last"),
        ]
        .concat();
        let mut scanner = FieldScanner::new(SPEC, message.len());
        let mut captured = CapturedFields::default();
        assert_eq!(scanner.passed(), 0);
        // Up to the middle of "second": only "first" is complete.
        scanner.push(&message[..20], &mut captured).unwrap();
        let values: Vec<_> = captured.iter().map(|(place, f)| (place, f.value)).collect();
        assert_eq!(values, [(2, &b"first"[..])]);
        assert_eq!((scanner.passed(), scanner.offset()), (9, 20));
        scanner.push(&message[20..], &mut captured).unwrap();
        scanner.end().unwrap();
        let values: Vec<_> = captured.iter().map(|(place, f)| (place, f.value)).collect();
        assert_eq!(
            values,
            [(2, &b"first"[..]), (2, &b"second"[..]), (1, &b"last"[..])]
        );
        assert_eq!(scanner.passed(), 9);
        // An oversized value is known as soon as its length is, before its bytes.
        let long = [
            tag(1, WIRE_LEN),
            varint(DEFAULT_MAX_CAPTURE_BYTES as u64 + 1),
        ]
        .concat();
        let mut scanner = FieldScanner::new(SPEC, long.len() + DEFAULT_MAX_CAPTURE_BYTES + 1);
        scanner.push(&long, &mut captured).unwrap();
        assert!(scanner.oversized().contains(0));
    }
}
