//! Keeps a secret (the backend token the gateway injects) out of everything sent back to clients,
//! as `src/gateway/proxy/secret-masker.ts` does: occurrences in a call's response bytes are
//! overwritten with '*' of the same length, so protobuf and gRPC lengths stay valid, and response
//! headers are masked by `mask_header_value` (binary values in their decoded bytes, grpc-message
//! in its percent-encoded form too).
//!
//! The response bytes are gRPC messages, followed as they pass: only the end of a chunk that could
//! be the start of the secret, inside a message that is not complete yet, is held back until the
//! next chunk. A complete message is never held, so no reply waits for bytes the server has not
//! sent.
//!
//! The secret is given as octets: the latin1 form the TypeScript masks bodies with. Header names
//! and values are octets too (HPACK's), so comparing them with those octets is what the
//! TypeScript's comparison of latin1 strings does, for any secret of characters up to U+00FF,
//! which is every secret a header can carry. Those octets also give back the secret's UTF-8 bytes,
//! which grpc-message's percent-encoding is made from, so no second form is taken.

mod base64;
mod headers;
#[cfg(test)]
mod tests;

pub use headers::{header_names_secret, mask_header_value};

use memchr::memmem::Finder;

use crate::scan::grpc_frame::GRPC_HEADER_BYTES;

const MASK: u8 = b'*';

/// What to send for one pushed chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Masked {
    /// The chunk, masked in place, is exactly what to send now: nothing was held before it and
    /// nothing of it is held back.
    InPlace,
    /// Send these bytes instead: what was held before the chunk and the chunk, masked, less a tail
    /// now held back. The chunk itself is masked only when nothing was held before it.
    Replaced(Vec<u8>),
}

/// The masker of one call's response bytes.
pub struct SecretMasker {
    finder: Finder<'static>,
    held: Vec<u8>,
    /// Where the response stands in its gRPC framing: prefix bytes still to read (the first is the
    /// compression flag, the next four the body's big-endian length), the length read so far, and
    /// the bytes left of the message body.
    prefix_left: usize,
    length: u32,
    body_left: u32,
}

impl SecretMasker {
    /// `secret`: its latin1 octets. An empty secret masks nothing.
    pub fn new(secret: &[u8]) -> Self {
        SecretMasker {
            finder: Finder::new(secret).into_owned(),
            held: Vec::new(),
            prefix_left: GRPC_HEADER_BYTES,
            length: 0,
            body_left: 0,
        }
    }

    /// Masks `chunk` and says what to send for it (see `Masked`).
    pub fn push(&mut self, chunk: &mut [u8]) -> Masked {
        if self.finder.needle().is_empty() {
            return Masked::InPlace;
        }
        let ended = self.last_message_end(chunk);
        if self.held.is_empty() {
            mask_all(&self.finder, chunk);
            // Only bytes of a message still open may be the start of a secret the next chunk
            // completes.
            let keep = partial_tail(chunk, ended.unwrap_or(0), self.finder.needle());
            if keep == 0 {
                return Masked::InPlace;
            }
            let send = chunk.len() - keep;
            self.held.extend_from_slice(&chunk[send..]);
            return Masked::Replaced(chunk[..send].to_vec());
        }
        // The held bytes start a secret only with what follows: masked together, in a new buffer,
        // which the TypeScript's Buffer.concat leaves the chunk out of too.
        let open_from = ended.map_or(0, |end| self.held.len() + end);
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(chunk);
        mask_all(&self.finder, &mut data);
        let keep = partial_tail(&data, open_from, self.finder.needle());
        let send = data.len() - keep;
        self.held.extend_from_slice(&data[send..]);
        data.truncate(send);
        Masked::Replaced(data)
    }

    /// Bytes held back: sent by `flush` when the stream ends, or lost with the call.
    pub fn held_bytes(&self) -> usize {
        self.held.len()
    }

    /// Bytes still held back, at the end of the stream (empties the hold).
    pub fn flush(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Follows the framing through `chunk`; the offset just past the last message ended in it.
    fn last_message_end(&mut self, chunk: &[u8]) -> Option<usize> {
        let mut end = None;
        let mut at = 0;
        while at < chunk.len() {
            if self.body_left > 0 {
                let take = (self.body_left as usize).min(chunk.len() - at);
                self.body_left -= take as u32;
                at += take;
                if self.body_left == 0 {
                    end = Some(at);
                }
                continue;
            }
            let byte = chunk[at];
            at += 1;
            if self.prefix_left < GRPC_HEADER_BYTES {
                self.length = self.length << 8 | u32::from(byte);
            }
            self.prefix_left -= 1;
            if self.prefix_left > 0 {
                continue;
            }
            self.prefix_left = GRPC_HEADER_BYTES;
            self.body_left = std::mem::take(&mut self.length);
            if self.body_left == 0 {
                end = Some(at);
            }
        }
        end
    }
}

/// Overwrites every occurrence of the needle in `data`, left to right, none overlapping.
fn mask_all(finder: &Finder<'_>, data: &mut [u8]) {
    let length = finder.needle().len();
    let mut from = 0;
    while let Some(found) = finder.find(&data[from..]) {
        let at = from + found;
        data[at..at + length].fill(MASK);
        from = at + length;
    }
}

/// Length of the longest suffix of `data`, starting at `from` or later, that is a proper prefix of
/// `needle`.
fn partial_tail(data: &[u8], from: usize, needle: &[u8]) -> usize {
    let longest = (needle.len() - 1).min(data.len() - from);
    (1..=longest)
        .rev()
        .find(|&length| data[data.len() - length..] == needle[..length])
        .unwrap_or(0)
}

/// `text` with every occurrence of `secret` masked; `None` when it has none (or the secret is
/// empty), so that the text goes as it is.
pub fn mask_in_text(text: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    if secret.is_empty() {
        return None;
    }
    let finder = Finder::new(secret);
    finder.find(text)?;
    let mut masked = text.to_vec();
    mask_all(&finder, &mut masked);
    Some(masked)
}
