//! The HPACK decoder: one per connection direction, mirroring the peer encoder's dynamic table.
//!
//! A peer's encoder keeps using a 4096-byte table until it has read this side's SETTINGS, and
//! only then sends a size update; a relay announcing less than 4096 passes 4096 as the maximum.

use super::huffman::{self, HuffmanError};
use super::static_table::STATIC_TABLE;
use super::table::{DynamicTable, NameSource, ENTRY_OVERHEAD};
use super::{HpackError, INTEGER_LIMIT};

/// SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;
const MAX_CONTINUATION_BYTES: usize = 5;
const RESET: &str = "close the connection with COMPRESSION_ERROR";
/// How many blocks [`Repeat`] keeps, and the largest one it keeps (encoded, then the octets of
/// its names and values): a gRPC call's request headers, its response headers and its trailers,
/// with room to spare.
const REPEATS: usize = 4;
const MAX_REPEAT_BLOCK: usize = 512;
const MAX_REPEAT_OCTETS: usize = 2048;

/// A decoded field's name and value, owned.
pub type Field = (Vec<u8>, Vec<u8>);

pub struct HpackDecoder {
    table: DynamicTable,
    max_table_size: u64,
    max_header_list_bytes: u64,
    /// The octets of the current field's Huffman-coded strings, reused from field to field.
    scratch: Vec<u8>,
    /// The message of the failure that made the decoder unusable.
    failed: Option<String>,
    table_changes: u64,
    repeats: Vec<Repeat>,
    /// How many blocks `repeats` keeps ([`REPEATS`]; none, to test against).
    repeat_slots: usize,
    /// The slot of `repeats` the next block kept replaces.
    next_repeat: usize,
}

/// A block that left the dynamic table as it was, and its fields. Decoded against the same table
/// again it gives the same fields and again leaves the table alone, so a client sending the same
/// headers call after call (a literal `:path` it never indexes, Huffman-coded, is common) has
/// them copied rather than decoded.
#[derive(Default)]
struct Repeat {
    block: Vec<u8>,
    /// The value of `table_changes` the fields hold for.
    changes: u64,
    octets: Vec<u8>,
    /// The name and value length of each field, in order, in `octets`.
    lengths: Vec<(u32, u32)>,
}

impl Repeat {
    fn record(&mut self, name: &[u8], value: &[u8]) {
        self.octets.extend_from_slice(name);
        self.octets.extend_from_slice(value);
        self.lengths.push((name.len() as u32, value.len() as u32));
    }

    fn replay(&self, emit: &mut impl FnMut(&[u8], &[u8])) -> usize {
        let mut at = 0;
        for &(name, value) in &self.lengths {
            let (name, value) = (name as usize, value as usize);
            emit(
                &self.octets[at..at + name],
                &self.octets[at + name..at + name + value],
            );
            at += name + value;
        }
        self.lengths.len()
    }
}

/// Where a decoded name or value is, until the field is handed out. Spans, not slices, since the
/// bytes may sit in the dynamic table while the field is added to it.
#[derive(Clone, Copy)]
enum Octets {
    Static(&'static [u8]),
    Block(usize, usize),
    Scratch(usize, usize),
    Table(usize, usize),
}

/// Why a block does not decode: the problem, without the prefix and advice every message has.
struct Problem {
    text: String,
    offset: usize,
}

fn problem(offset: usize, text: String) -> Problem {
    Problem { text, offset }
}

impl HpackDecoder {
    /// `max_table_size`: the SETTINGS_HEADER_TABLE_SIZE this side announced; `max_header_list_bytes`
    /// bounds the decoded list (RFC 7540 header list size: name + value + 32 per field). Both are
    /// at most 2^31 - 1 (see [`super::checked_limit`]).
    pub fn new(max_table_size: u32, max_header_list_bytes: u32) -> Self {
        HpackDecoder {
            // Both sides start at HTTP/2's default until the encoder signals another size.
            table: DynamicTable::new(DEFAULT_TABLE_SIZE.min(max_table_size as usize)),
            max_table_size: u64::from(max_table_size),
            max_header_list_bytes: u64::from(max_header_list_bytes),
            scratch: Vec::new(),
            failed: None,
            table_changes: 0,
            repeats: Vec::new(),
            repeat_slots: REPEATS,
            next_repeat: 0,
        }
    }

    /// A decoder that decodes every block, even one it has seen.
    #[cfg(test)]
    pub(crate) fn without_repeats(mut self) -> Self {
        self.repeat_slots = 0;
        self
    }

    /// This side announced a new SETTINGS_HEADER_TABLE_SIZE: the peer's encoder may now resize
    /// its table up to it (with a table size update).
    pub fn allow_table_size(&mut self, size: u32) {
        self.max_table_size = u64::from(size);
    }

    /// The number of blocks that changed the dynamic table (an entry added, a size update): a
    /// relay that drops a block it decoded knows from it whether the peer's table and its own
    /// now differ.
    pub fn table_changes(&self) -> u64 {
        self.table_changes
    }

    /// Decodes one complete header block (HEADERS and CONTINUATION payloads joined), handing each
    /// field to `emit` as (name, value) in order, and returns how many there were. On an error
    /// the fields already emitted are to be discarded, and the decoder refuses every later block.
    pub fn decode_with(
        &mut self,
        block: &[u8],
        mut emit: impl FnMut(&[u8], &[u8]),
    ) -> Result<usize, HpackError> {
        if let Some(earlier) = &self.failed {
            return Err(HpackError {
                message: format!(
                    "HPACK decoder is unusable since an earlier block failed ({earlier})"
                ),
                offset: Some(0),
            });
        }
        let changes = self.table_changes;
        if let Some(repeat) = self
            .repeats
            .iter()
            .find(|repeat| repeat.changes == changes && repeat.block == block)
        {
            return Ok(repeat.replay(&mut emit));
        }
        if block.len() > MAX_REPEAT_BLOCK || self.repeat_slots == 0 {
            return self.decode_reporting(block, &mut emit);
        }
        // Kept in the slot it would take, which is out of `self` while the block decodes.
        let slot = self.next_repeat;
        let mut kept = if slot < self.repeats.len() {
            std::mem::take(&mut self.repeats[slot])
        } else {
            Repeat::default()
        };
        kept.octets.clear();
        kept.lengths.clear();
        // A small block may still name large entries of the table: those are not kept.
        let mut fits = true;
        let decoded = self.decode_reporting(block, &mut |name: &[u8], value: &[u8]| {
            fits = fits && kept.octets.len() + name.len() + value.len() <= MAX_REPEAT_OCTETS;
            if fits {
                kept.record(name, value);
            }
            emit(name, value)
        });
        let keep = decoded.is_ok() && self.table_changes == changes && fits;
        if keep {
            kept.block.clear();
            kept.block.extend_from_slice(block);
            kept.changes = changes;
            self.next_repeat = (slot + 1) % self.repeat_slots;
        } else {
            // Never found: no table holds an unchanged count of `u64::MAX` changes.
            kept.changes = u64::MAX;
        }
        if slot < self.repeats.len() {
            self.repeats[slot] = kept;
        } else if keep {
            self.repeats.push(kept);
        }
        decoded
    }

    fn decode_reporting(
        &mut self,
        block: &[u8],
        emit: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<usize, HpackError> {
        self.decode_fields(block, emit)
            .map_err(|Problem { text, offset }| {
                let message = format!("HPACK header block: {text}; {RESET}");
                self.failed = Some(message.clone());
                HpackError {
                    message,
                    offset: Some(offset),
                }
            })
    }

    /// [`Self::decode_with`] collecting the fields.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let mut fields = Vec::new();
        self.decode_with(block, |name, value| {
            fields.push((name.to_vec(), value.to_vec()))
        })?;
        Ok(fields)
    }

    fn decode_fields(
        &mut self,
        block: &[u8],
        emit: &mut impl FnMut(&[u8], &[u8]),
    ) -> Result<usize, Problem> {
        let mut reader = Reader { block, at: 0 };
        let mut fields = 0;
        let mut list_bytes = 0u64;
        let mut changed = false;
        while let Some(&first) = block.get(reader.at) {
            let start = reader.at;
            self.scratch.clear();
            let (name, value) = if first >= 0x80 {
                let index = reader.integer(0x7f)?;
                lookup(&self.table, index, start)?
            } else if first >= 0x40 {
                let (name, value) = self.literal(&mut reader, 0x3f, start)?;
                changed = true;
                let outside = |octets| resolve(octets, block, &self.scratch, &[]);
                let source = match name {
                    Octets::Table(from, to) => NameSource::Inside(from, to),
                    other => NameSource::Outside(outside(other)),
                };
                if self.table.add(source, outside(value)) {
                    let (name, value) = self.table.get(0).unwrap_or_default();
                    (
                        Octets::Table(name.0, name.1),
                        Octets::Table(value.0, value.1),
                    )
                } else {
                    (name, value)
                }
            } else if first >= 0x20 {
                if fields > 0 {
                    return Err(problem(
                        start,
                        format!("table size update at byte {start} follows a header field"),
                    ));
                }
                let size = reader.integer(0x1f)?;
                if size > self.max_table_size {
                    return Err(problem(
                        start,
                        format!(
                            "table size update at byte {start} asks for {size} bytes, above the {} this side allows",
                            self.max_table_size
                        ),
                    ));
                }
                self.table.resize(size as usize);
                changed = true;
                continue;
            } else {
                // 0001xxxx (never indexed) and 0000xxxx (without indexing) decode alike here; the
                // relay re-encodes with its own encoder, which never indexes either.
                self.literal(&mut reader, 0x0f, start)?
            };
            let table = self.table.bytes();
            let name = resolve(name, block, &self.scratch, table);
            let value = resolve(value, block, &self.scratch, table);
            list_bytes += (name.len() + value.len() + ENTRY_OVERHEAD) as u64;
            if list_bytes > self.max_header_list_bytes {
                return Err(problem(
                    start,
                    format!(
                        "header list exceeds {} bytes at byte {start}",
                        self.max_header_list_bytes
                    ),
                ));
            }
            emit(name, value);
            fields += 1;
        }
        if changed {
            self.table_changes += 1;
        }
        Ok(fields)
    }

    /// A literal field: its name (indexed, or a string) and value.
    fn literal(
        &mut self,
        reader: &mut Reader<'_>,
        mask: u8,
        start: usize,
    ) -> Result<(Octets, Octets), Problem> {
        let name_index = reader.integer(mask)?;
        let name = if name_index == 0 {
            reader.string(&mut self.scratch)?
        } else {
            lookup(&self.table, name_index, start)?.0
        };
        Ok((name, reader.string(&mut self.scratch)?))
    }
}

fn lookup(table: &DynamicTable, index: u64, offset: usize) -> Result<(Octets, Octets), Problem> {
    if index == 0 {
        return Err(problem(
            offset,
            format!("index 0 at byte {offset} is not a valid table index"),
        ));
    }
    if let Some(&(name, value)) = STATIC_TABLE.get(index as usize - 1) {
        return Ok((Octets::Static(name), Octets::Static(value)));
    }
    let Some((name, value)) = table.get(index as usize - STATIC_TABLE.len() - 1) else {
        return Err(problem(
            offset,
            format!(
                "index {index} at byte {offset} is past the dynamic table ({} entries)",
                table.len()
            ),
        ));
    };
    Ok((
        Octets::Table(name.0, name.1),
        Octets::Table(value.0, value.1),
    ))
}

fn resolve<'a>(octets: Octets, block: &'a [u8], scratch: &'a [u8], table: &'a [u8]) -> &'a [u8] {
    match octets {
        Octets::Static(bytes) => bytes,
        Octets::Block(from, to) => &block[from..to],
        Octets::Scratch(from, to) => &scratch[from..to],
        Octets::Table(from, to) => &table[from..to],
    }
}

struct Reader<'a> {
    block: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// An integer with an N-bit prefix (RFC 7541 §5.1), `mask` holding the prefix's bits.
    fn integer(&mut self, mask: u8) -> Result<u64, Problem> {
        let start = self.at;
        let mut value = u64::from(self.block[start] & mask);
        self.at += 1;
        if value < u64::from(mask) {
            return Ok(value);
        }
        let mut shift = 0;
        for count in 0.. {
            let Some(&byte) = self.block.get(self.at) else {
                return Err(problem(
                    start,
                    format!("integer at byte {start} is cut off by the end of the block"),
                ));
            };
            if count == MAX_CONTINUATION_BYTES {
                return Err(problem(
                    start,
                    format!("integer at byte {start} has more than 5 continuation bytes"),
                ));
            }
            self.at += 1;
            value += u64::from(byte & 0x7f) << shift;
            shift += 7;
            if value > INTEGER_LIMIT {
                return Err(problem(
                    start,
                    format!("integer at byte {start} is larger than 2^31"),
                ));
            }
            if byte < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    /// A string literal (RFC 7541 §5.2); a Huffman-coded one is decoded onto the end of `scratch`.
    fn string(&mut self, scratch: &mut Vec<u8>) -> Result<Octets, Problem> {
        let start = self.at;
        let Some(&first) = self.block.get(start) else {
            return Err(problem(
                start,
                format!("a string literal should start at byte {start}, past the block"),
            ));
        };
        let length = self.integer(0x7f)?;
        let from = self.at;
        let remain = self.block.len() - from;
        if length > remain as u64 {
            return Err(problem(
                start,
                format!("string at byte {start} is {length} bytes long but only {remain} remain"),
            ));
        }
        let to = from + length as usize;
        self.at = to;
        if first < 0x80 {
            return Ok(Octets::Block(from, to));
        }
        let decoded_from = scratch.len();
        huffman::decode(&self.block[from..to], scratch).map_err(|error| {
            problem(
                start,
                match error {
                    HuffmanError::Eos => {
                        format!("Huffman string at byte {start} contains the EOS symbol")
                    }
                    HuffmanError::BadPadding => format!(
                        "Huffman string at byte {start} ends with padding that is not up to 7 one bits"
                    ),
                },
            )
        })?;
        Ok(Octets::Scratch(decoded_from, scratch.len()))
    }
}
