//! The stateless HPACK encoder: it never adds to or relies on a dynamic table, so its blocks can
//! be interleaved on one connection with blocks from the peer's own encoder. A field is a static
//! index when the static table has its name and value, a literal without indexing with a static
//! name index when it has the name, a literal with a new name otherwise; never Huffman.

use super::static_table::{self, StaticMatch};
use super::HpackError;

/// Builds one header block; reused from block to block, it allocates only as its buffers grow.
#[derive(Default)]
pub struct BlockEncoder {
    block: Vec<u8>,
    name: Vec<u8>,
    value: Vec<u8>,
}

impl BlockEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new block.
    pub fn clear(&mut self) {
        self.block.clear();
    }

    /// The block so far.
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// Appends a field of octets.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        encode_field(&mut self.block, name, value);
    }

    /// Appends a field given as UTF-16 code units (a JavaScript string), one octet per unit.
    /// A unit above U+00FF has no octet: writing it as latin1 would silently mangle it, so the
    /// field is refused with the TypeScript's error, and the block is left as it was.
    pub fn push_utf16(&mut self, name: &[u16], value: &[u16]) -> Result<(), HpackError> {
        if !narrow(name, &mut self.name) || !narrow(value, &mut self.value) {
            return Err(HpackError {
                message: format!(
                    "header {} has a character above U+00FF; send such values percent- or base64-encoded",
                    json_string(name)
                ),
                offset: None,
            });
        }
        encode_field(&mut self.block, &self.name, &self.value);
        Ok(())
    }
}

/// The block for `fields`, as `encodeHeaderBlock` in the TypeScript.
pub fn encode_header_block<N: AsRef<[u8]>, V: AsRef<[u8]>>(fields: &[(N, V)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        encode_field(&mut block, name.as_ref(), value.as_ref());
    }
    block
}

pub(super) fn encode_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    match static_table::find(name, value) {
        StaticMatch::Field(index) => {
            write_integer(out, 0x80, 0x7f, index);
            return;
        }
        StaticMatch::Name(index) => write_integer(out, 0x00, 0x0f, index),
        StaticMatch::None => {
            out.push(0x00);
            write_string(out, name);
        }
    }
    write_string(out, value);
}

/// An integer with an N-bit prefix (RFC 7541 §5.1) after `flags`, `mask` holding the prefix.
pub(super) fn write_integer(out: &mut Vec<u8>, flags: u8, mask: u8, value: usize) {
    if value < usize::from(mask) {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask);
    let mut rest = value - usize::from(mask);
    while rest >= 0x80 {
        out.push(rest as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

pub(super) fn write_string(out: &mut Vec<u8>, octets: &[u8]) {
    write_integer(out, 0x00, 0x7f, octets.len());
    out.extend_from_slice(octets);
}

/// Replaces `out` with `units` as octets; false when a unit is above U+00FF.
fn narrow(units: &[u16], out: &mut Vec<u8>) -> bool {
    out.clear();
    out.extend(units.iter().map(|&unit| unit as u8));
    units.iter().fold(0, |all, &unit| all | unit) <= 0xff
}

/// `JSON.stringify` of a JavaScript string, for the message naming a refused header.
fn json_string(units: &[u16]) -> String {
    let mut text = String::with_capacity(units.len() + 2);
    text.push('"');
    for decoded in char::decode_utf16(units.iter().copied()) {
        match decoded {
            Ok('"') => text.push_str("\\\""),
            Ok('\\') => text.push_str("\\\\"),
            Ok('\u{8}') => text.push_str("\\b"),
            Ok('\u{c}') => text.push_str("\\f"),
            Ok('\n') => text.push_str("\\n"),
            Ok('\r') => text.push_str("\\r"),
            Ok('\t') => text.push_str("\\t"),
            Ok(control) if control < ' ' => text.push_str(&format!("\\u{:04x}", control as u32)),
            Ok(other) => text.push(other),
            // A lone surrogate is escaped rather than written (well-formed JSON.stringify).
            Err(lone) => text.push_str(&format!("\\u{:04x}", lone.unpaired_surrogate())),
        }
    }
    text.push('"');
    text
}
