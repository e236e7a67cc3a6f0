//! The first request message of a call read as its bytes arrive, as `createFirstMessagePeek` of
//! `src/gateway/proxy/first-message-peek.ts`: the gRPC framing is decoded, the first message's
//! fields scanned, and the call is routable once the fields the gateway routes by are known. A
//! small first message is read whole, so operation ids are known too; a large one is routable as
//! soon as the encoder is past field 2 and scanned on while it is forwarded.
//!
//! A compressed first message is not inflated here (that would need a zlib crate): the peek says
//! `compressed()` as soon as its header arrives and reads no more of it, and the caller hands the
//! call's bytes, from the first, to the TypeScript peek, which inflates it.

use super::grpc_frame::{GrpcEvent, GrpcMessageDecoder};
use super::proto::{CapturedFields, FieldScanner};
use super::spark_connect::{read_captured_routing_fields, Method, RoutingFields, GENERIC_ROUTING};
use super::{ErrorCode, ScanError};

#[derive(Clone, Debug)]
pub struct FirstMessagePeek {
    method: Method,
    whole_message_bytes: u64,
    decoder: GrpcMessageDecoder,
    /// Set once the first message started, unless it is compressed.
    scanner: Option<FieldScanner<'static>>,
    captured: CapturedFields,
    first_length: u32,
    first_message_done: bool,
    compressed: bool,
    /// The first error, returned by every later push.
    failed: Option<ScanError>,
}

impl FirstMessagePeek {
    /// A peek at a request of `method`; messages over `max_message_bytes` are refused, and a first
    /// message up to `whole_message_bytes` is read whole before the call is routable.
    pub fn new(method: Method, max_message_bytes: u64, whole_message_bytes: u64) -> Self {
        FirstMessagePeek {
            method,
            whole_message_bytes,
            decoder: GrpcMessageDecoder::new(max_message_bytes),
            scanner: None,
            captured: CapturedFields::default(),
            first_length: 0,
            first_message_done: false,
            compressed: false,
            failed: None,
        }
    }

    /// The peek as `new` makes it, for another call, keeping the buffers it grew.
    pub fn reset(&mut self, method: Method, max_message_bytes: u64, whole_message_bytes: u64) {
        self.method = method;
        self.whole_message_bytes = whole_message_bytes;
        self.decoder = GrpcMessageDecoder::new(max_message_bytes);
        self.scanner = None;
        self.captured.clear();
        self.first_length = 0;
        self.first_message_done = false;
        self.compressed = false;
        self.failed = None;
    }

    /// A peek at a request of the method named `name`, read as GENERIC_ROUTING when the table
    /// does not know it.
    pub fn for_method_name(name: &str, max_message_bytes: u64, whole_message_bytes: u64) -> Self {
        let method = Method::from_name(name).unwrap_or(GENERIC_ROUTING);
        FirstMessagePeek::new(method, max_message_bytes, whole_message_bytes)
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The framing of the request stream, which goes on past the first message.
    pub fn decoder(&self) -> &GrpcMessageDecoder {
        &self.decoder
    }

    /// The first message was scanned to its end.
    pub fn first_message_done(&self) -> bool {
        self.first_message_done
    }

    /// The first message is compressed: this peek reads no more of it (see the module's doc).
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Feeds request bytes. Later messages are only framed, so that one over the size limit or
    /// not gRPC at all is still refused. The first error is returned by every later push too
    /// (the TypeScript peek stops only on framing errors; its callers never push after one).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ScanError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.first_message_done || self.compressed {
            let framed = self.decoder.push(chunk, |_| {});
            return framed.map_err(|error| self.failing(error));
        }
        // The TypeScript decoder reads the whole chunk before the scanner sees any of it, so a
        // framing error late in a chunk wins over a malformed field early in it: a run on a copy
        // of the decoder finds such an error before anything is scanned.
        let mut trial = self.decoder;
        if let Err(error) = trial.push(chunk, |_| {}) {
            self.decoder = trial;
            return Err(self.failing(error));
        }
        let FirstMessagePeek {
            method,
            decoder,
            scanner,
            captured,
            first_length,
            first_message_done,
            compressed,
            ..
        } = self;
        let mut scanned = Ok(());
        let framed = decoder.push(chunk, |event| {
            if scanned.is_err() || *first_message_done || *compressed {
                return;
            }
            match event {
                GrpcEvent::Start {
                    compressed: true, ..
                } => *compressed = true,
                GrpcEvent::Start { length, .. } => {
                    *first_length = length;
                    *scanner = Some(FieldScanner::new(
                        method.request_scan_spec(),
                        length as usize,
                    ));
                }
                GrpcEvent::Data(bytes) => {
                    if let Some(scanner) = scanner {
                        scanned = scanner.push(bytes, captured);
                    }
                }
                GrpcEvent::End => {
                    if let Some(scanner) = scanner {
                        scanned = scanner.end();
                    }
                    *first_message_done = scanned.is_ok();
                }
            }
        });
        debug_assert!(framed.is_ok(), "the trial run found no framing error");
        scanned.map_err(|error| self.failing(error))
    }

    /// Whether the routing fields are known: the first message was read whole, or it is larger
    /// than `whole_message_bytes` and its encoder is past field 2 (session_id, user_context).
    pub fn routable(&self) -> bool {
        self.scanner.as_ref().is_some_and(|scanner| {
            self.first_message_done
                || (scanner.passed() > 2 && u64::from(self.first_length) > self.whole_message_bytes)
        })
    }

    /// The routing fields captured so far (complete ones only), read as `readRoutingFields` reads
    /// the TypeScript peek's scanner; meant for once `routable()`.
    pub fn routing_fields(&self) -> Result<RoutingFields<'_>, ScanError> {
        let Some(scanner) = &self.scanner else {
            return Err(ScanError {
                code: ErrorCode::Internal,
                message: format!(
                    "the routing fields of the {} request were read before its first message was scanned",
                    self.method.name()
                ),
            });
        };
        read_captured_routing_fields(self.captured.iter(), scanner.oversized(), self.method)
    }

    fn failing(&mut self, error: ScanError) -> ScanError {
        self.failed = Some(error.clone());
        error
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::scan::scan_request;
    use crate::scan::test_bytes::{framed, len_field};

    /// An ExecutePlanRequest as Spark's clients write it: session_id, user_context, plan,
    /// client_type, operation_id, client_observed_server_side_session_id, in number order.
    fn execute_plan(plan: &[u8]) -> Vec<u8> {
        let user = [len_field(1, b"alice"), len_field(2, "Alice ✓".as_bytes())].concat();
        let relation = len_field(1, &len_field(2, plan));
        [
            len_field(1, b"00112233-4455-6677-8899-aabbccddeeff"),
            len_field(2, &user),
            len_field(3, &relation),
            len_field(4, b"_SPARK_CONNECT_PYTHON"),
            len_field(6, b"op-1"),
            len_field(8, b"server-1"),
        ]
        .concat()
    }

    /// A ConfigRequest: session_id, user_context, operation (a set of one pair), client_type.
    fn config() -> Vec<u8> {
        let pair = [len_field(1, b"spark.a"), len_field(2, b"b")].concat();
        let operation = len_field(1, &len_field(1, &pair));
        [
            len_field(1, b"s-1"),
            len_field(2, &len_field(1, b"bob")),
            len_field(3, &operation),
            len_field(4, b"scala"),
        ]
        .concat()
    }

    const MAX: u64 = 1 << 20;
    const WHOLE: u64 = 64 * 1024;

    fn pushed(peek: &mut FirstMessagePeek, stream: &[u8], cuts: &[usize]) -> Result<(), ScanError> {
        let mut at = 0;
        for &cut in cuts.iter().chain([&stream.len()]) {
            peek.push(&stream[at..cut])?;
            at = cut;
        }
        Ok(())
    }

    #[test]
    fn reads_a_small_first_message_whole_however_it_is_cut() {
        for (method, body) in [
            ("ExecutePlan", execute_plan(b"SELECT 1")),
            ("Config", config()),
        ] {
            let expected = scan_request(method, &body).unwrap();
            assert!(expected.user_id.is_some());
            // A second message follows, as on a client stream.
            let stream = [framed(&body, false), framed(b"\x0a\x01x", false)].concat();
            let first_end = 5 + body.len();
            for cut in 0..=stream.len() {
                let mut peek = FirstMessagePeek::for_method_name(method, MAX, WHOLE);
                peek.push(&stream[..cut]).unwrap();
                assert_eq!(peek.routable(), cut >= first_end, "{method} cut at {cut}");
                assert_eq!(peek.first_message_done(), cut >= first_end);
                peek.push(&stream[cut..]).unwrap();
                assert!(peek.routable() && peek.first_message_done());
                assert_eq!(
                    peek.routing_fields().unwrap(),
                    expected,
                    "{method} cut at {cut}"
                );
                assert_eq!(peek.decoder().messages(), 2);
            }
            // Byte by byte, and in three pieces anywhere.
            let mut peek = FirstMessagePeek::for_method_name(method, MAX, WHOLE);
            for (at, byte) in stream.iter().enumerate() {
                peek.push(&[*byte]).unwrap();
                assert_eq!(peek.routable(), at + 1 >= first_end);
            }
            assert_eq!(peek.routing_fields().unwrap(), expected);
            for first in (0..stream.len()).step_by(7) {
                for second in (first..=stream.len()).step_by(5) {
                    let mut peek = FirstMessagePeek::for_method_name(method, MAX, WHOLE);
                    pushed(&mut peek, &stream, &[first, second]).unwrap();
                    assert_eq!(peek.routing_fields().unwrap(), expected);
                }
            }
        }
    }

    #[test]
    fn routes_a_large_message_once_its_encoder_is_past_field_2() {
        let body = execute_plan(&vec![b'p'; 100_000]);
        let stream = framed(&body, false);
        // Field 3's tag: the first byte after session_id and user_context.
        let user = [len_field(1, b"alice"), len_field(2, "Alice ✓".as_bytes())].concat();
        let field3 = 5
            + len_field(1, b"00112233-4455-6677-8899-aabbccddeeff").len()
            + len_field(2, &user).len();
        assert_eq!(stream[field3], 0x1a);
        for cut in [
            0,
            1,
            5,
            field3,
            field3 + 1,
            field3 + 2,
            50_000,
            stream.len(),
        ] {
            let mut peek = FirstMessagePeek::new(Method::ExecutePlan, MAX, WHOLE);
            peek.push(&stream[..cut]).unwrap();
            assert_eq!(peek.routable(), cut > field3, "cut at {cut}");
            if peek.routable() {
                let fields = peek.routing_fields().unwrap();
                assert_eq!(
                    fields.session_id,
                    Some("00112233-4455-6677-8899-aabbccddeeff")
                );
                assert_eq!(fields.user_id, Some(Cow::Borrowed("alice")));
                // operation_id comes after the plan: known only once the message is.
                assert_eq!(fields.operation_id.is_some(), cut == stream.len());
            }
            peek.push(&stream[cut..]).unwrap();
            assert_eq!(
                peek.routing_fields().unwrap(),
                scan_request("ExecutePlan", &body).unwrap()
            );
        }
        // Read whole when the limit allows: not routable before the end.
        let mut peek = FirstMessagePeek::new(Method::ExecutePlan, MAX, body.len() as u64);
        peek.push(&stream[..stream.len() - 1]).unwrap();
        assert!(!peek.routable());
        peek.push(&stream[stream.len() - 1..]).unwrap();
        assert!(peek.routable());
        // Past field 2 without fields 1 and 2: routable, and without them, as in the TypeScript.
        let late = [len_field(3, &[0; 100]), len_field(1, b"s")].concat();
        let mut peek = FirstMessagePeek::new(Method::Config, MAX, 10);
        peek.push(&framed(&late, false)[..8]).unwrap();
        assert!(peek.routable());
        assert_eq!(peek.routing_fields().unwrap(), RoutingFields::default());
    }

    #[test]
    fn refuses_a_message_over_the_size_limit() {
        let body = execute_plan(b"SELECT 1");
        let stream = framed(&body, false);
        let max = body.len() as u64 - 1;
        for cut in 0..5 {
            let mut peek = FirstMessagePeek::new(Method::ExecutePlan, max, WHOLE);
            peek.push(&stream[..cut]).unwrap();
            let error = peek.push(&stream[cut..]).unwrap_err();
            assert_eq!(error.code, ErrorCode::MessageTooLarge);
            assert_eq!(
                error.message,
                format!("gRPC message of {} bytes is larger than the limit of {max} bytes ({max} B); send a smaller message or raise the gateway's message size limit", body.len())
            );
            assert!(!peek.routable());
            assert_eq!(peek.push(b""), Err(error));
        }
        // A later message over the limit is refused too, once the first was read.
        let stream = [framed(b"\x0a\x01s", false), framed(&body, false)].concat();
        let mut peek = FirstMessagePeek::new(Method::ExecutePlan, max, WHOLE);
        peek.push(&stream[..8]).unwrap();
        assert!(peek.routable());
        assert_eq!(
            peek.push(&stream[8..]).unwrap_err().code,
            ErrorCode::MessageTooLarge
        );
    }

    #[test]
    fn waits_on_every_truncated_prefix() {
        let body = execute_plan(b"SELECT 1");
        let stream = framed(&body, false);
        for cut in 0..stream.len() {
            let mut peek = FirstMessagePeek::new(Method::ExecutePlan, MAX, WHOLE);
            peek.push(&stream[..cut]).unwrap();
            assert!(
                !peek.routable() && !peek.first_message_done(),
                "cut at {cut}"
            );
            assert_eq!(peek.decoder().at_message_boundary(), cut == 0);
            if cut < 5 {
                let error = peek.routing_fields().unwrap_err();
                assert_eq!(error.code, ErrorCode::Internal);
            }
        }
    }

    #[test]
    fn reports_a_malformed_first_message_when_its_bytes_arrive() {
        // A field claiming more bytes than the message has, at byte 2 of the body.
        let body = [len_field(1, b"s"), vec![0x12, 0x09, 0x0a]].concat();
        let stream = framed(&body, false);
        let expected = "malformed protobuf in the Config request at byte 3: field 2 claims 9 bytes but only 1 remain";
        for cut in 0..=stream.len() {
            let mut peek = FirstMessagePeek::new(Method::Config, MAX, WHOLE);
            let first = peek.push(&stream[..cut]);
            let error = match first {
                Ok(()) => {
                    assert!(cut < 10, "cut at {cut}");
                    peek.push(&stream[cut..]).unwrap_err()
                }
                Err(error) => {
                    assert!(cut >= 10, "cut at {cut}");
                    error
                }
            };
            assert_eq!(
                (error.code, error.message.as_str()),
                (ErrorCode::MalformedMessage, expected)
            );
            assert!(!peek.routable());
            assert_eq!(peek.push(&framed(b"", false)), Err(error));
        }
        // A routing field that is not UTF-8 is refused when the fields are read.
        let mut peek = FirstMessagePeek::new(Method::Config, MAX, WHOLE);
        peek.push(&framed(&len_field(1, b"\xff"), false)).unwrap();
        assert!(peek.routable());
        assert_eq!(
            peek.routing_fields().unwrap_err().message,
            "malformed protobuf in the Config request at byte 0: session_id (field 1) is not valid UTF-8"
        );
    }

    #[test]
    fn lets_a_framing_error_later_in_a_chunk_win_as_the_typescript_does() {
        // The first message is malformed; the next header in the same chunk is not gRPC.
        let stream = [framed(&[0x80], false), b"GET / HTTP/1.1".to_vec()].concat();
        let mut peek = FirstMessagePeek::new(Method::Config, MAX, WHOLE);
        let error = peek.push(&stream).unwrap_err();
        assert!(
            error.message.starts_with("the stream is not gRPC framing"),
            "{error}"
        );
        // Apart, the malformed message comes first.
        let mut peek = FirstMessagePeek::new(Method::Config, MAX, WHOLE);
        let error = peek.push(&stream[..6]).unwrap_err();
        assert_eq!(
            error.message,
            "malformed protobuf in the Config request at byte 1: the message ends inside a field tag"
        );
    }

    #[test]
    fn leaves_a_compressed_first_message_to_the_caller() {
        let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00";
        let stream = [
            &[1][..],
            &(gzip.len() as u32).to_be_bytes(),
            gzip,
            &framed(b"", false),
        ]
        .concat();
        for cut in 0..=stream.len() {
            let mut peek = FirstMessagePeek::new(Method::Config, MAX, WHOLE);
            peek.push(&stream[..cut]).unwrap();
            assert_eq!(peek.compressed(), cut >= 5, "cut at {cut}");
            peek.push(&stream[cut..]).unwrap();
            assert!(peek.compressed() && !peek.routable() && !peek.first_message_done());
            assert_eq!(peek.decoder().messages(), 2);
            // Framing is still checked.
            assert!(peek.push(b"\x07\x00\x00\x00\x00").is_err());
        }
    }

    #[test]
    fn routes_an_empty_first_message_and_unknown_methods_generically() {
        let mut peek = FirstMessagePeek::for_method_name("NotAMethod", MAX, WHOLE);
        assert_eq!(peek.method(), GENERIC_ROUTING);
        peek.push(&framed(b"", false)).unwrap();
        assert!(peek.routable() && peek.first_message_done());
        assert_eq!(peek.routing_fields().unwrap(), RoutingFields::default());
        let mut peek = FirstMessagePeek::for_method_name("NotAMethod", MAX, WHOLE);
        peek.push(&framed(
            &[len_field(1, b"s"), len_field(6, b"op")].concat(),
            false,
        ))
        .unwrap();
        let fields = peek.routing_fields().unwrap();
        assert_eq!((fields.session_id, fields.operation_id), (Some("s"), None));
    }
}
