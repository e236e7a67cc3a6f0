//! An HPACK encoder with a dynamic table of its own, for a direction of a connection whose every
//! header block it writes: the pinned relay's requests to its server. The client's blocks are
//! decoded and written again for the server, and without a table every field of every call
//! would reach the server as a literal for it to read again; with one, a call whose fields the
//! server has seen before costs it a byte a field.
//!
//! The table starts at HTTP/2's 4096 bytes and is used only once the server's SETTINGS are known
//! (it may have asked for less); when the server asks for less than the table holds, the next
//! block starts with a size update. Fields that change from call to call or carry credentials
//! are written as literals and never enter the table.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::encoder::{encode_field, write_integer, write_string};
use super::static_table::{self, StaticMatch};
use super::table::ENTRY_OVERHEAD;

/// SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2), also the most this encoder uses.
const DEFAULT_TABLE_SIZE: usize = 4096;
const STATIC_ENTRIES: u64 = 61;

/// Fields the table never holds: a call's own deadline, and credentials.
const UNINDEXED: [&[u8]; 4] = [
    b"grpc-timeout",
    b"authorization",
    b"proxy-authorization",
    b"cookie",
];

pub struct TableEncoder {
    block: Vec<u8>,
    /// The entries' keys (see [`key_of`]), newest first. A field enters only when the table
    /// does not hold it, so no two entries share a key.
    entries: VecDeque<Vec<u8>>,
    /// The number each entry was added as, by its key.
    numbers: FxHashMap<Vec<u8>, u64>,
    /// Scratch for the key of the field being written.
    key: Vec<u8>,
    added: u64,
    size: usize,
    capacity: usize,
    /// Whether the server's SETTINGS were read: until then nothing enters the table.
    indexing: bool,
    /// The size update the next block starts with.
    pending_update: Option<usize>,
    /// Counts every change to the table (an entry added, entries evicted, a size update sent): a
    /// block that left it unchanged may be sent again while the count stays the same.
    changes: u64,
}

impl Default for TableEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl TableEncoder {
    pub fn new() -> Self {
        TableEncoder {
            block: Vec::new(),
            entries: VecDeque::new(),
            numbers: FxHashMap::default(),
            key: Vec::new(),
            added: 0,
            size: 0,
            capacity: DEFAULT_TABLE_SIZE,
            indexing: false,
            pending_update: None,
            changes: 0,
        }
    }

    /// The peer's SETTINGS were read; `table_size` is its SETTINGS_HEADER_TABLE_SIZE, when they
    /// carry one. The table is used from the next block on, within what the peer allows.
    pub fn peer_settings(&mut self, table_size: Option<u32>) {
        self.indexing = true;
        let Some(size) = table_size else {
            return;
        };
        let size = (size as usize).min(DEFAULT_TABLE_SIZE);
        if size < self.capacity {
            self.capacity = size;
            self.evict_to(size);
            self.pending_update = Some(size);
            self.changes += 1;
        }
    }

    /// The count of changes to the table so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Starts a new block, with the size update the peer is owed if any.
    pub fn clear(&mut self) {
        self.block.clear();
        if let Some(size) = self.take_update() {
            write_integer(&mut self.block, 0x20, 0x1f, size);
        }
    }

    /// Writes the size update the peer is owed, if any, at the start of a block built elsewhere
    /// (one written without the table).
    pub fn owed_update(&mut self, block: &mut Vec<u8>) {
        if let Some(size) = self.take_update() {
            write_integer(block, 0x20, 0x1f, size);
        }
    }

    /// The size update owed, counted as a change once it is written.
    fn take_update(&mut self) -> Option<usize> {
        let size = self.pending_update.take()?;
        self.changes += 1;
        Some(size)
    }

    /// The block so far.
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// Appends a field: an index when a table holds it, else a literal, added to the table when
    /// it may be.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let found = static_table::find(name, value);
        if let StaticMatch::Field(index) = found {
            write_integer(&mut self.block, 0x80, 0x7f, index);
            return;
        }
        if !self.indexing || UNINDEXED.contains(&name) {
            encode_field(&mut self.block, name, value);
            return;
        }
        key_of(&mut self.key, name, value);
        if let Some(&number) = self.numbers.get(self.key.as_slice()) {
            // The newest entry is the first after the static table's.
            let index = STATIC_ENTRIES + 1 + (self.added - number);
            write_integer(&mut self.block, 0x80, 0x7f, index as usize);
            return;
        }
        let entry_size = name.len() + value.len() + ENTRY_OVERHEAD;
        // A field too large for the table would empty it for nothing.
        if entry_size > self.capacity / 2 {
            encode_field(&mut self.block, name, value);
            return;
        }
        match found {
            StaticMatch::Name(index) => write_integer(&mut self.block, 0x40, 0x3f, index),
            _ => {
                self.block.push(0x40);
                write_string(&mut self.block, name);
            }
        }
        write_string(&mut self.block, value);
        self.evict_to(self.capacity - entry_size);
        self.added += 1;
        self.size += entry_size;
        self.entries.push_front(self.key.clone());
        self.numbers.insert(self.key.clone(), self.added);
        self.changes += 1;
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let Some(key) = self.entries.pop_back() else {
                break;
            };
            self.size -= key.len() - KEY_PREFIX + ENTRY_OVERHEAD;
            self.numbers.remove(&key);
        }
    }
}

/// The octets of a key before its name: the name's length.
const KEY_PREFIX: usize = 4;

/// The key of a field: its name's length, name and value, so no two fields share one.
fn key_of(key: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    key.clear();
    key.extend_from_slice(&(name.len() as u32).to_le_bytes());
    key.extend_from_slice(name);
    key.extend_from_slice(value);
}
