//! The fields of a Spark Connect request the gateway routes by: a scanner over a protobuf
//! message's top-level fields (`proto`, as `src/gateway/wire/proto-scanner.ts`), a walk of a small
//! nested message as @bufbuild/protobuf's reader does it (`message`), the routing fields of each
//! SparkConnectService method (`spark_connect`, as `src/gateway/wire/spark-connect.ts`), gRPC's
//! message framing (`grpc_frame`, as `src/gateway/wire/grpc-frame.ts`) and the first request
//! message of a call read as its bytes arrive (`peek`, as
//! `src/gateway/proxy/first-message-peek.ts`). Errors carry the TypeScript's code and text, so
//! the gateway answers the same either way.

use std::fmt;

pub mod grpc_frame;
pub mod message;
pub mod peek;
pub mod proto;
pub mod response;
pub mod spark_connect;
#[cfg(test)]
mod test_bytes;

pub use grpc_frame::{GrpcEvent, GrpcMessageDecoder};
pub use peek::FirstMessagePeek;
pub use proto::{scan_message, CapturedField, FieldScanner, Oversized, ScanSpec};
pub use response::{response_names_operations, ResponseIds, ResponseScan};
pub use spark_connect::{read_routing_fields, scan_request, Method, RoutingFields};

/// The GatewayError code of a scan error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// GW_MALFORMED_MESSAGE: the bytes are not the protobuf they claim to be.
    MalformedMessage,
    /// GW_BAD_REQUEST: well-formed, but not a request the gateway can route.
    BadRequest,
    /// GW_MESSAGE_TOO_LARGE: a gRPC message over the gateway's size limit.
    MessageTooLarge,
    /// GW_INTERNAL: the gateway's own code misused a scanner.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "GW_MALFORMED_MESSAGE",
            ErrorCode::BadRequest => "GW_BAD_REQUEST",
            ErrorCode::MessageTooLarge => "GW_MESSAGE_TOO_LARGE",
            ErrorCode::Internal => "GW_INTERNAL",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanError {
    pub code: ErrorCode,
    pub message: String,
}

impl ScanError {
    /// `malformed protobuf in {subject} at byte {at}: {problem}`, the text of every structural
    /// error.
    pub(crate) fn malformed(subject: &str, at: usize, problem: fmt::Arguments<'_>) -> Self {
        ScanError {
            code: ErrorCode::MalformedMessage,
            message: format!("malformed protobuf in {subject} at byte {at}: {problem}"),
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScanError {}

/// A protobuf string as the server decodes it: strict UTF-8 (None when invalid), a leading
/// byte-order mark kept.
pub fn decode_utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_strict_utf8_keeping_a_leading_bom() {
        assert_eq!(decode_utf8(b"abc"), Some("abc"));
        assert_eq!(decode_utf8("é€😀".as_bytes()), Some("é€😀"));
        assert_eq!(decode_utf8(b"\xef\xbb\xbfA"), Some("\u{feff}A"));
        assert_eq!(decode_utf8(b"A\xef\xbb\xbf"), Some("A\u{feff}"));
        assert_eq!(decode_utf8(b""), Some(""));
        for invalid in [
            &b"\xff"[..],
            b"\xc0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
            b"a\x80",
        ] {
            assert_eq!(decode_utf8(invalid), None, "{invalid:?}");
        }
    }

    #[test]
    fn names_error_codes_as_the_gateway_does() {
        assert_eq!(ErrorCode::MalformedMessage.as_str(), "GW_MALFORMED_MESSAGE");
        assert_eq!(ErrorCode::BadRequest.as_str(), "GW_BAD_REQUEST");
        assert_eq!(ErrorCode::MessageTooLarge.as_str(), "GW_MESSAGE_TOO_LARGE");
        assert_eq!(ErrorCode::Internal.as_str(), "GW_INTERNAL");
        let error = ScanError::malformed("the message", 3, format_args!("x {}", 1));
        assert_eq!(
            error.to_string(),
            "malformed protobuf in the message at byte 3: x 1"
        );
    }
}
