//! Base64 as Node's Buffer reads and writes it, for the binary response headers (`-bin`) that are
//! masked in their decoded bytes: the masked value must be what `Buffer.from(value, 'base64')` and
//! `toString('base64')` make of it in the TypeScript.
//!
//! Node decodes leniently, and gRPC peers rely on part of that (they send values unpadded): both
//! alphabets at once ('+' and '-' are 62, '/' and '_' are 63), every other byte skipped, the value
//! ending at the first '=' whatever follows, a lone last character dropped. The `base64` crate's
//! decoders refuse most of these, so matching Node with it would take a pass over the text doing
//! this decoder's work first; and the encoder alone is a dozen lines. Hence no dependency.

const INVALID: u8 = 0xff;

/// The value of each byte as a base64 digit, or INVALID.
const DIGITS: [u8; 256] = {
    let mut digits = [INVALID; 256];
    let mut value = 0;
    while value < 64 {
        digits[STANDARD[value] as usize] = value as u8;
        value += 1;
    }
    digits[b'-' as usize] = 62;
    digits[b'_' as usize] = 63;
    digits
};

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The bytes `Buffer.from(text, 'base64')` gives for `text`, a latin1 string's octets.
pub fn decode(text: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut group = 0u32;
    let mut digits = 0;
    for &byte in text {
        if byte == b'=' {
            break;
        }
        let digit = DIGITS[usize::from(byte)];
        if digit == INVALID {
            continue;
        }
        group = group << 6 | u32::from(digit);
        digits += 1;
        if digits == 4 {
            bytes.extend_from_slice(&group.to_be_bytes()[1..]);
            group = 0;
            digits = 0;
        }
    }
    // The bits past the last whole byte are dropped, whatever they are.
    match digits {
        2 => bytes.push((group >> 4) as u8),
        3 => bytes.extend_from_slice(&[(group >> 10) as u8, (group >> 2) as u8]),
        _ => {}
    }
    bytes
}

/// `bytes.toString('base64')`: the standard alphabet, padded with '='.
pub fn encode(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    for three in bytes.chunks(3) {
        let group = three
            .iter()
            .enumerate()
            .fold(0u32, |group, (index, &byte)| {
                group | u32::from(byte) << (16 - 8 * index)
            });
        for index in 0..4 {
            text.push(if index <= three.len() {
                STANDARD[(group >> (18 - 6 * index) & 0x3f) as usize]
            } else {
                b'='
            });
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648 §10.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn encodes_and_decodes_the_rfc_vectors() {
        for (bytes, text) in VECTORS {
            assert_eq!(encode(bytes.as_bytes()), text.as_bytes(), "{bytes:?}");
            assert_eq!(decode(text.as_bytes()), bytes.as_bytes(), "{text:?}");
            let unpadded = text.trim_end_matches('=');
            assert_eq!(
                decode(unpadded.as_bytes()),
                bytes.as_bytes(),
                "{unpadded:?}"
            );
        }
    }

    #[test]
    fn round_trips_every_byte_value() {
        let all: Vec<u8> = (0..=255).collect();
        for length in 0..all.len() {
            assert_eq!(decode(&encode(&all[..length])), &all[..length]);
        }
    }

    /// What Node 24 gives for each text (Buffer.from(text, 'base64')).
    #[test]
    fn decodes_leniently_as_node_does() {
        let cases: [(&[u8], &[u8]); 12] = [
            (b"Zm9v\r\nYmFy", b"foobar"),
            (b"-_-_", b"\xfb\xff\xbf"),
            (b"+/+/", b"\xfb\xff\xbf"),
            (b"+_-/", b"\xfb\xff\xbf"),
            (b"Zm9v=YmFy", b"foo"),
            (b"Zm9vYg==Zm9v", b"foob"),
            (b"Zm9vYg=", b"foob"),
            (b"Zm9vY", b"foo"),
            (b"Zm9vYR", b"fooa"),
            (b"Zm\xe99v", b"foo"),
            (b"Z", b""),
            (b"Zh==", b"f"),
        ];
        for (text, bytes) in cases {
            assert_eq!(decode(text), bytes, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
