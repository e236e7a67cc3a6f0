//! HPACK (RFC 7541), the header compression of HTTP/2, as in `src/gateway/wire/hpack.ts`: a
//! decoder that mirrors one peer encoder's dynamic table for the life of a connection, and a
//! stateless encoder whose blocks can be interleaved with the peer's own without the two tables
//! drifting apart. Both behave as the TypeScript does, down to the text of every error, which the
//! gateway shows to users.
//!
//! Header names and values are octet strings; the addon hands them to JavaScript as latin1
//! strings, one character per octet, as node:http2 does.

mod decoder;
mod encoder;
mod huffman;
mod static_table;
mod table;
mod table_encoder;
#[cfg(test)]
mod tests;

pub use decoder::{Field, HpackDecoder};
pub use encoder::{encode_header_block, BlockEncoder};
pub use table_encoder::TableEncoder;

use std::fmt;

/// A header block this side cannot decode or encode. For a decoder it is fatal to the connection
/// (RFC 7540 COMPRESSION_ERROR): the two dynamic tables may no longer agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpackError {
    pub message: String,
    /// The byte offset in the header block where decoding failed; `None` when encoding.
    pub offset: Option<usize>,
}

impl fmt::Display for HpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HpackError {}

/// HPACK integers above 2^31 are refused, as in the TypeScript (and every limit is below it).
const INTEGER_LIMIT: u64 = 1 << 31;

/// Checks a limit given as a JavaScript number, as `checkedLimit` in the TypeScript does: an
/// integer from 0 to 2^31 - 1, else the text of the RangeError it throws.
pub fn checked_limit(value: f64, what: &str) -> Result<u32, String> {
    if value.fract() == 0.0 && (0.0..INTEGER_LIMIT as f64).contains(&value) {
        return Ok(value as u32);
    }
    Err(format!(
        "{what} must be an integer from 0 to 2^31 - 1, got {}",
        js_number_text(value)
    ))
}

/// `String(value)` for a JavaScript number, for error messages.
pub(crate) fn js_number_text(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if value == 0.0 {
        // Both zeros print as 0.
        return "0".to_owned();
    }
    let magnitude = value.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust prints the shortest digits that read back as the same number, as JavaScript does.
        return format!("{value}");
    }
    // JavaScript writes the exponent with its sign: 1e+21, 1e-7.
    let text = format!("{value:e}");
    match text.split_once('e') {
        Some((digits, exponent)) if !exponent.starts_with('-') => format!("{digits}e+{exponent}"),
        _ => text,
    }
}
