//! Protobuf bytes and gRPC messages written by hand for the scan's unit tests.

pub fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

pub fn tag(field: u32, wire_type: u8) -> Vec<u8> {
    varint(u64::from(field) << 3 | u64::from(wire_type))
}

/// A length-delimited field (wire type 2) holding `value`.
pub fn len_field(field: u32, value: &[u8]) -> Vec<u8> {
    [tag(field, 2), varint(value.len() as u64), value.to_vec()].concat()
}

/// A gRPC message: the compressed flag, the body's 4-byte big-endian length, the body.
pub fn framed(body: &[u8], compressed: bool) -> Vec<u8> {
    [
        &[u8::from(compressed)][..],
        &(body.len() as u32).to_be_bytes(),
        body,
    ]
    .concat()
}
