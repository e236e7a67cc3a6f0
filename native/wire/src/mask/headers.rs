//! The secret in response headers, as `maskHeaderValue` and `headerNamesSecret` of
//! `src/gateway/proxy/secret-masker.ts` find it: as it is, in grpc-message as gRPC percent-encodes
//! it, and in a binary header (name ending in `-bin`, such as grpc-status-details-bin, which
//! carries the error's message) in the base64-decoded bytes. Names and values are octets.

use memchr::memmem;

use super::{base64, mask_all, mask_in_text};
use crate::grpc_status_text::encode_grpc_message_text;

const GRPC_MESSAGE: &[u8] = b"grpc-message";
const BINARY_SUFFIX: &[u8] = b"-bin";

/// A response header's value with the secret masked; `None` when the secret is not in it (or is
/// empty), so that the value goes as it came.
pub fn mask_header_value(name: &[u8], value: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    if secret.is_empty() {
        return None;
    }
    if name == GRPC_MESSAGE {
        let once = mask_in_text(value, secret);
        let twice = mask_in_text(once.as_deref().unwrap_or(value), &percent_encoded(secret));
        return twice.or(once);
    }
    if !name.ends_with(BINARY_SUFFIX) {
        return mask_in_text(value, secret);
    }
    let mut bytes = base64::decode(value);
    let finder = memmem::Finder::new(secret);
    if finder.find(&bytes).is_none() {
        return mask_in_text(value, secret);
    }
    mask_all(&finder, &mut bytes);
    let mut encoded = base64::encode(&bytes);
    // gRPC sends binary values without padding; they go back as they came.
    if !value.ends_with(b"=") {
        let unpadded = encoded
            .iter()
            .rposition(|&byte| byte != b'=')
            .map_or(0, |at| at + 1);
        encoded.truncate(unpadded);
    }
    Some(encoded)
}

/// Whether a header names the secret, in its name or its value (decoded, for a binary header).
pub fn header_names_secret(name: &[u8], value: &[u8], secret: &[u8]) -> bool {
    if secret.is_empty() {
        return false;
    }
    let finder = memmem::Finder::new(secret);
    if finder.find(name).is_some() || finder.find(value).is_some() {
        return true;
    }
    if name == GRPC_MESSAGE {
        return memmem::find(value, &percent_encoded(secret)).is_some();
    }
    name.ends_with(BINARY_SUFFIX) && finder.find(&base64::decode(value)).is_some()
}

/// The secret as it appears in grpc-message, where gRPC percent-encodes '%' and the bytes outside
/// 0x20–0x7e of the text's UTF-8. The secret's latin1 octets are its characters, so their UTF-8 is
/// made here: an octet from 0x80 up is the two bytes of the character it stands for.
fn percent_encoded(secret: &[u8]) -> Vec<u8> {
    let mut utf8 = Vec::with_capacity(secret.len() * 2);
    for &octet in secret {
        if octet < 0x80 {
            utf8.push(octet);
        } else {
            utf8.push(0xc0 | octet >> 6);
            utf8.push(0x80 | octet & 0x3f);
        }
    }
    encode_grpc_message_text(&utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::tests::{mask_of, with_secret, SECRET};

    #[test]
    fn percent_encodes_as_grpc_does_over_the_utf8_of_latin1_characters() {
        assert_eq!(percent_encoded(b"tok%en \xe9"), b"tok%25en %C3%A9");
        assert_eq!(
            percent_encoded(b"\x00\x1f\x20\x7e\x7f\xff"),
            b"%00%1F ~%7F%C3%BF"
        );
        assert_eq!(percent_encoded(b"plain-token_0"), b"plain-token_0");
    }

    #[test]
    fn masks_plain_header_values_and_names() {
        assert_eq!(
            mask_header_value(b"x-echo", &with_secret(b"a ", b" b", SECRET), SECRET),
            Some(with_secret(b"a ", b" b", &mask_of(SECRET)))
        );
        assert_eq!(mask_header_value(b"x-echo", b"clean", SECRET), None);
        assert_eq!(mask_in_text(b"aaa", b"aa"), Some(b"**a".to_vec()));
        assert!(header_names_secret(
            &with_secret(b"x-", b"", SECRET),
            b"",
            SECRET
        ));
        assert!(header_names_secret(
            b"x-echo",
            &with_secret(b"", b"", SECRET),
            SECRET
        ));
        assert!(!header_names_secret(b"x-echo", &SECRET[1..], SECRET));
    }

    #[test]
    fn masks_grpc_message_in_its_percent_encoded_form() {
        let odd = b"tok%en \xe9";
        let encoded = b"tok%25en %C3%A9";
        assert_eq!(
            mask_header_value(b"grpc-message", &with_secret(b"bad: ", b"!", encoded), odd),
            Some(with_secret(b"bad: ", b"!", &mask_of(encoded)))
        );
        // Both forms in one value.
        let both = [&odd[..], b" / ", encoded].concat();
        let masked = [mask_of(odd), b" / ".to_vec(), mask_of(encoded)].concat();
        assert_eq!(mask_header_value(b"grpc-message", &both, odd), Some(masked));
        // Only grpc-message is percent-encoded.
        assert_eq!(mask_header_value(b"x-message", encoded, odd), None);
        assert!(header_names_secret(
            b"grpc-message",
            &with_secret(b"x ", b"", encoded),
            odd
        ));
        assert!(!header_names_secret(b"x-message", encoded, odd));
        assert!(!header_names_secret(
            b"grpc-message",
            b"nothing here",
            SECRET
        ));
    }

    #[test]
    fn masks_binary_headers_in_their_decoded_bytes_keeping_their_padding() {
        let details = with_secret(b"\x08\x03\x12\x10error: ", b" here", SECRET);
        let masked = with_secret(b"\x08\x03\x12\x10error: ", b" here", &mask_of(SECRET));
        let padded = base64::encode(&details);
        assert!(
            padded.ends_with(b"="),
            "the test needs a value with padding"
        );
        let unpadded: Vec<u8> = padded
            .iter()
            .copied()
            .filter(|&byte| byte != b'=')
            .collect();
        let out = mask_header_value(b"grpc-status-details-bin", &unpadded, SECRET).unwrap();
        assert!(!out.ends_with(b"="), "unpadded as it came");
        assert_eq!(base64::decode(&out), masked);
        let out = mask_header_value(b"grpc-status-details-bin", &padded, SECRET).unwrap();
        assert_eq!(out, base64::encode(&masked));
        assert!(header_names_secret(
            b"grpc-status-details-bin",
            &unpadded,
            SECRET
        ));
        // A binary value without the secret is masked as text, which it may hold as it is.
        assert_eq!(mask_header_value(b"x-bin", b"AAEC", SECRET), None);
        let raw = with_secret(b"AA", b"", SECRET);
        assert_eq!(
            mask_header_value(b"x-bin", &raw, SECRET),
            Some(with_secret(b"AA", b"", &mask_of(SECRET)))
        );
    }

    /// Values and results from Node 24: the secret at each offset modulo 3 of URL-safe base64, which
    /// goes back in the standard alphabet.
    #[test]
    fn masks_url_safe_binary_values_wherever_the_secret_falls() {
        let cases: [(&[u8], &[u8]); 3] = [
            (
                b"PGJhY2tlbmQtdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZj4",
                b"PCoqKioqKioqKioqKioqKioqKioqKioqKioqKioqKj4",
            ),
            (
                b"YTxiYWNrZW5kLXRva2VuLTAxMjM0NTY3ODlhYmNkZWY-",
                b"YTwqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio+",
            ),
            (
                b"YWI8YmFja2VuZC10b2tlbi0wMTIzNDU2Nzg5YWJjZGVmPg",
                b"YWI8KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqPg",
            ),
        ];
        for (value, masked) in cases {
            assert_eq!(
                mask_header_value(b"x-bin", value, SECRET).as_deref(),
                Some(masked)
            );
            assert!(header_names_secret(b"x-bin", value, SECRET));
            assert!(!header_names_secret(b"x-bim", value, SECRET));
        }
    }
}
