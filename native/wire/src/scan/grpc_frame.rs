//! gRPC's length-prefixed messages (a compressed flag byte, a 4-byte big-endian length, the body)
//! as they arrive inside HTTP/2 DATA frames: a push decoder, as `createGrpcMessageDecoder` of
//! `src/gateway/wire/grpc-frame.ts`, that says where each message starts and ends and hands its
//! body on in the slices it arrived in, never collecting it. A header is checked whole before
//! anything of its message is reported, with the TypeScript's error texts.

use std::fmt::Write;

use super::{ErrorCode, ScanError};

/// Flag byte + 4 length bytes.
pub const GRPC_HEADER_BYTES: usize = 5;

/// What a chunk completes, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrpcEvent<'c> {
    Start {
        compressed: bool,
        length: u32,
    },
    /// The next bytes of the body: a slice of the chunk pushed, never empty.
    Data(&'c [u8]),
    End,
}

/// Why a decoder stopped; kept small so that the decoder is `Copy` (a caller may try a chunk on a
/// copy first) and the text is made only when it is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    NotGrpc([u8; GRPC_HEADER_BYTES]),
    TooLarge(u32),
}

#[derive(Clone, Copy, Debug)]
pub struct GrpcMessageDecoder {
    max_message_bytes: u64,
    /// A header may straddle chunks: the only bytes ever copied.
    header: [u8; GRPC_HEADER_BYTES],
    header_filled: usize,
    /// Body bytes still to come for the current message; None while reading a header.
    body_remaining: Option<u32>,
    messages: u64,
    failed: Option<Failure>,
}

impl GrpcMessageDecoder {
    /// `max_message_bytes`: the largest body accepted (gRPC's max receive message size).
    pub fn new(max_message_bytes: u64) -> Self {
        GrpcMessageDecoder {
            max_message_bytes,
            header: [0; GRPC_HEADER_BYTES],
            header_filled: 0,
            body_remaining: None,
            messages: 0,
            failed: None,
        }
    }

    /// No header or body is partly received: the stream may end here.
    pub fn at_message_boundary(&self) -> bool {
        self.body_remaining.is_none() && self.header_filled == 0
    }

    /// Messages completed so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// Calls `on_event` with what `chunk` completes. A header that can never be valid stops the
    /// decoder: its error is returned, by this push and every later one.
    pub fn push<'c, F>(&mut self, chunk: &'c [u8], mut on_event: F) -> Result<(), ScanError>
    where
        F: FnMut(GrpcEvent<'c>),
    {
        if let Some(failure) = self.failed {
            return Err(self.error(failure));
        }
        let mut at = 0;
        while at < chunk.len() {
            let Some(remaining) = self.body_remaining else {
                let used = (GRPC_HEADER_BYTES - self.header_filled).min(chunk.len() - at);
                self.header[self.header_filled..self.header_filled + used]
                    .copy_from_slice(&chunk[at..at + used]);
                self.header_filled += used;
                at += used;
                if self.header_filled == GRPC_HEADER_BYTES {
                    self.header_filled = 0;
                    self.start_message(&mut on_event)?;
                }
                continue;
            };
            let used = (remaining as usize).min(chunk.len() - at);
            on_event(GrpcEvent::Data(&chunk[at..at + used]));
            at += used;
            let remaining = remaining - used as u32;
            self.body_remaining = Some(remaining);
            if remaining == 0 {
                self.finish_message(&mut on_event);
            }
        }
        Ok(())
    }

    fn start_message<'c, F>(&mut self, on_event: &mut F) -> Result<(), ScanError>
    where
        F: FnMut(GrpcEvent<'c>),
    {
        let [flag, length @ ..] = self.header;
        // A bad flag means the bytes are not gRPC at all, so the "length" after it means nothing.
        if flag > 1 {
            return Err(self.fail(Failure::NotGrpc(self.header)));
        }
        let length = u32::from_be_bytes(length);
        if u64::from(length) > self.max_message_bytes {
            return Err(self.fail(Failure::TooLarge(length)));
        }
        on_event(GrpcEvent::Start {
            compressed: flag == 1,
            length,
        });
        self.body_remaining = Some(length);
        if length == 0 {
            self.finish_message(on_event);
        }
        Ok(())
    }

    fn finish_message<'c, F>(&mut self, on_event: &mut F)
    where
        F: FnMut(GrpcEvent<'c>),
    {
        on_event(GrpcEvent::End);
        self.body_remaining = None;
        self.messages += 1;
    }

    fn fail(&mut self, failure: Failure) -> ScanError {
        self.failed = Some(failure);
        self.error(failure)
    }

    fn error(&self, failure: Failure) -> ScanError {
        match failure {
            Failure::NotGrpc(header) => ScanError {
                code: ErrorCode::MalformedMessage,
                message: not_grpc_message(&header),
            },
            Failure::TooLarge(length) => {
                let max = self.max_message_bytes;
                ScanError {
                    code: ErrorCode::MessageTooLarge,
                    message: format!(
                        "gRPC message of {length} bytes is larger than the limit of {max} bytes ({}); send a smaller message or raise the gateway's message size limit",
                        format_size(max)
                    ),
                }
            }
        }
    }
}

const HTTP1_METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// Says what the stream looks like instead, from its first five bytes.
fn not_grpc_message(header: &[u8; GRPC_HEADER_BYTES]) -> String {
    let start =
        "the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1)";
    // latin1, as the TypeScript reads it: one character per byte.
    let text: String = header.iter().map(|&byte| char::from(byte)).collect();
    let mut hex = String::with_capacity(3 * GRPC_HEADER_BYTES);
    for (index, byte) in header.iter().enumerate() {
        let gap = if index == 0 { "" } else { " " };
        let _ = write!(hex, "{gap}{byte:02x}");
    }
    // A TLS record: content type 20–23 (handshake is 22), then protocol major version 3.
    if header[1] == 0x03 && (0x14..=0x17).contains(&header[0]) {
        return format!("{start}: it begins with a TLS record ({hex}), so the client speaks TLS to a plaintext port; connect without TLS or enable TLS on the gateway");
    }
    if text.starts_with("PRI *") {
        return format!("{start}: it begins with the HTTP/2 connection preface, which belongs to the HTTP/2 layer, not inside a gRPC stream");
    }
    let http1 = HTTP1_METHODS.iter().any(|method| {
        let request = format!("{method} ");
        request.starts_with(&text) || text.starts_with(&request)
    });
    if http1 {
        return format!("{start}: it begins like an HTTP/1 request (\"{text}\"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port");
    }
    format!("{start}: it begins with {hex}")
}

/// A size as `formatSize` of `src/core/units.ts` writes it: the largest binary unit it reaches,
/// rounded to two decimals (JavaScript's toFixed: a tie goes up) without trailing zeros.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        let factor = 1u128 << shift;
        if u128::from(bytes) >= factor {
            // bytes / 2^shift is exact in a double, so this integer rounding is toFixed's.
            let hundredths = (u128::from(bytes) * 100 + factor / 2) / factor;
            let (whole, fraction) = (hundredths / 100, hundredths % 100);
            return match fraction {
                0 => format!("{whole} {unit}"),
                _ if fraction % 10 == 0 => format!("{whole}.{} {unit}", fraction / 10),
                _ => format!("{whole}.{fraction:02} {unit}"),
            };
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::test_bytes::framed;

    /// What the decoder reports for `chunks`, as text: "start 3", "start 3 z" (compressed),
    /// "data 616263", "end"; and the error, if any.
    fn decode(max: u64, chunks: &[&[u8]]) -> (Vec<String>, Option<ScanError>) {
        let mut decoder = GrpcMessageDecoder::new(max);
        let mut events = Vec::new();
        for chunk in chunks {
            let result = decoder.push(chunk, |event| {
                events.push(match event {
                    GrpcEvent::Start { compressed, length } => {
                        format!("start {length}{}", if compressed { " z" } else { "" })
                    }
                    GrpcEvent::Data(bytes) => {
                        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                        format!("data {hex}")
                    }
                    GrpcEvent::End => "end".to_owned(),
                })
            });
            if let Err(error) = result {
                return (events, Some(error));
            }
        }
        (events, None)
    }

    #[test]
    fn reports_messages_in_the_slices_they_arrive_in() {
        let stream = [
            framed(b"abc", false),
            framed(b"", true),
            framed(b"de", false),
        ]
        .concat();
        let (events, error) = decode(100, &[&stream]);
        assert_eq!(error, None);
        assert_eq!(
            events,
            [
                "start 3",
                "data 616263",
                "end",
                "start 0 z",
                "end",
                "start 2",
                "data 6465",
                "end"
            ]
        );
        // Cut anywhere, the same events; bodies in the pieces they came in.
        for cut in 0..=stream.len() {
            let (events, error) = decode(100, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(error, None);
            let joined: Vec<_> = events.iter().filter(|e| !e.starts_with("data")).collect();
            assert_eq!(
                joined,
                ["start 3", "end", "start 0 z", "end", "start 2", "end"],
                "cut at {cut}"
            );
            let body: String = events
                .iter()
                .filter_map(|e| e.strip_prefix("data "))
                .collect();
            assert_eq!(body, "6162636465", "cut at {cut}");
        }
        // Byte by byte too.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode(100, &bytes).0.len(), 11);
    }

    #[test]
    fn knows_when_the_stream_may_end() {
        let mut decoder = GrpcMessageDecoder::new(100);
        let message = framed(b"ab", false);
        assert!(decoder.at_message_boundary());
        for (index, byte) in message.iter().enumerate() {
            decoder.push(&[*byte], |_| {}).unwrap();
            assert_eq!(decoder.at_message_boundary(), index + 1 == message.len());
        }
        assert_eq!(decoder.messages(), 1);
    }

    #[test]
    fn refuses_a_message_over_the_limit_before_any_of_it() {
        let too_large = framed(&[0; 11], false);
        let (events, error) = decode(10, &[&framed(b"", false), &too_large]);
        assert_eq!(events, ["start 0", "end"]);
        let error = error.unwrap();
        assert_eq!(error.code, ErrorCode::MessageTooLarge);
        assert_eq!(
            error.message,
            "gRPC message of 11 bytes is larger than the limit of 10 bytes (10 B); send a smaller message or raise the gateway's message size limit"
        );
        assert!(decode(11, &[&too_large]).1.is_none());
        // The header cut in pieces fails when it is whole, and every push after fails the same.
        let mut decoder = GrpcMessageDecoder::new(10);
        decoder.push(&too_large[..3], |_| {}).unwrap();
        let first = decoder.push(&too_large[3..], |_| {}).unwrap_err();
        assert_eq!(decoder.push(b"", |_| {}).unwrap_err(), first);
        assert_eq!(
            decoder.push(&framed(b"", false), |_| {}).unwrap_err(),
            first
        );
        let max = 4 * 1024 * 1024;
        let huge = [0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(max, &[&huge]).1.unwrap().message,
            "gRPC message of 4294967295 bytes is larger than the limit of 4194304 bytes (4 MiB); send a smaller message or raise the gateway's message size limit"
        );
    }

    #[test]
    fn says_what_a_stream_that_is_not_grpc_looks_like() {
        let start =
            "the stream is not gRPC framing (a message must start with a compressed flag of 0 or 1)";
        let cases: [(&[u8], String); 7] = [
            (b"\x16\x03\x01\x02\x00", format!("{start}: it begins with a TLS record (16 03 01 02 00), so the client speaks TLS to a plaintext port; connect without TLS or enable TLS on the gateway")),
            (b"PRI * HTTP/2.0", format!("{start}: it begins with the HTTP/2 connection preface, which belongs to the HTTP/2 layer, not inside a gRPC stream")),
            (b"GET / HTTP/1.1", format!("{start}: it begins like an HTTP/1 request (\"GET /\"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port")),
            (b"OPTIONS *", format!("{start}: it begins like an HTTP/1 request (\"OPTIO\"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port")),
            (b"PUT \xe9", format!("{start}: it begins like an HTTP/1 request (\"PUT \u{e9}\"); Spark Connect needs a gRPC client over HTTP/2, e.g. sc://host:port")),
            (b"\x02\x00\x00\x00\x01", format!("{start}: it begins with 02 00 00 00 01")),
            (b"\x18\x03\x00\x00\x01", format!("{start}: it begins with 18 03 00 00 01")),
        ];
        for (stream, message) in cases {
            let error = decode(1 << 20, &[stream]).1.unwrap();
            assert_eq!(error.code, ErrorCode::MalformedMessage);
            assert_eq!(error.message, message);
        }
        // The flag is checked before the length.
        let error = decode(0, &[b"\x05\xff\xff\xff\xff"]).1.unwrap();
        assert_eq!(error.code, ErrorCode::MalformedMessage);
    }

    #[test]
    fn formats_sizes_as_format_size_does() {
        let cases: [(u64, &str); 12] = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (1034, "1.01 KiB"),
            // 1.125 KiB: a tie, which toFixed rounds up.
            (1152, "1.13 KiB"),
            (1048575, "1024 KiB"),
            (4 * 1024 * 1024, "4 MiB"),
            (128 * 1024 * 1024, "128 MiB"),
            (0x7fff_ffff, "2 GiB"),
            (1 << 40, "1 TiB"),
            (5 << 50, "5120 TiB"),
        ];
        for (bytes, text) in cases {
            assert_eq!(format_size(bytes), text, "{bytes}");
        }
    }
}
