//! The text of grpc-message as gRPC carries it (`encodeGrpcMessageText` of
//! `src/gateway/wire/grpc-status-text.ts`): the UTF-8 bytes outside 0x20–0x7e, and '%',
//! percent-encoded.

/// `text` (UTF-8 bytes) as grpc-message carries it.
pub fn encode_grpc_message_text(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &byte in text {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte);
        } else {
            out.extend_from_slice(format!("%{byte:02X}").as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encodes_what_grpc_does() {
        assert_eq!(encode_grpc_message_text(b"ok 100%"), b"ok 100%25");
        assert_eq!(encode_grpc_message_text("é\n".as_bytes()), b"%C3%A9%0A");
        assert_eq!(encode_grpc_message_text(b"~ \x7f"), b"~ %7F");
    }
}
