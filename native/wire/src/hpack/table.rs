//! The dynamic table a decoder mirrors from the peer's encoder (RFC 7541 §2.3.2, §4).
//!
//! Entries are a ring (newest at the front) of spans into one byte buffer that holds their names
//! and values back to back, oldest first. Adding an entry appends to the buffer and evicting one
//! only moves the ring, so the table allocates nothing per entry; the bytes of evicted entries
//! are reclaimed all at once when the buffer is full, by moving the live ones to its start.

use std::collections::VecDeque;

/// RFC 7541 §4.1: every entry counts 32 bytes beyond its name and value.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    name_len: usize,
    value_len: usize,
}

impl Entry {
    fn size(&self) -> usize {
        self.name_len + self.value_len + ENTRY_OVERHEAD
    }
}

/// Where the name of an entry being added comes from.
#[derive(Clone, Copy)]
pub(crate) enum NameSource<'a> {
    /// Bytes outside the table.
    Outside(&'a [u8]),
    /// The span `start..end` of [`DynamicTable::bytes`], the name of an entry in the table.
    Inside(usize, usize),
}

pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    bytes: Vec<u8>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::with_capacity(16),
            bytes: Vec::new(),
            size: 0,
            max_size,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The buffer that the spans of [`Self::get`] index. Evicting leaves the bytes of the
    /// evicted entries in place until the next entry is added.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The spans of the name and value of entry `index` (0 the newest) in [`Self::bytes`].
    pub(crate) fn get(&self, index: usize) -> Option<((usize, usize), (usize, usize))> {
        let entry = self.entries.get(index)?;
        let value_start = entry.start + entry.name_len;
        Some((
            (entry.start, value_start),
            (value_start, value_start + entry.value_len),
        ))
    }

    /// Adds an entry, evicting the oldest ones to make room. RFC 7541 §4.4: an entry larger than
    /// the whole table empties it and is not added, which is not an error. Returns whether it was
    /// added; when it was not, the bytes an `Inside` name pointed at are still where they were.
    pub(crate) fn add(&mut self, name: NameSource<'_>, value: &[u8]) -> bool {
        let name_len = match name {
            NameSource::Outside(bytes) => bytes.len(),
            NameSource::Inside(start, end) => end - start,
        };
        let size = name_len + value.len() + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.evict_until(0);
            return false;
        }
        // The name may be in the buffer: copy both before evicting, since reclaiming space only
        // ever drops bytes of entries already evicted.
        let moved = self.make_room(name_len + value.len());
        let start = self.bytes.len();
        match name {
            NameSource::Outside(bytes) => self.bytes.extend_from_slice(bytes),
            NameSource::Inside(from, to) => self.bytes.extend_from_within(from - moved..to - moved),
        }
        self.bytes.extend_from_slice(value);
        self.evict_until(self.max_size - size);
        self.entries.push_front(Entry {
            start,
            name_len,
            value_len: value.len(),
        });
        self.size += size;
        true
    }

    /// A table size update: the new maximum, evicting down to it.
    pub(crate) fn resize(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_until(max_size);
    }

    fn evict_until(&mut self, limit: usize) {
        while self.size > limit {
            let Some(oldest) = self.entries.pop_back() else {
                break;
            };
            self.size -= oldest.size();
        }
    }

    /// Makes room for `more` bytes, first by dropping the bytes of evicted entries from the start
    /// of the buffer when it is full; returns by how much the live bytes moved. The buffer is
    /// kept at least twice its live bytes, so each byte is moved a bounded number of times.
    fn make_room(&mut self, more: usize) -> usize {
        if self.bytes.len() + more <= self.bytes.capacity() {
            return 0;
        }
        let dead = self
            .entries
            .back()
            .map_or(self.bytes.len(), |oldest| oldest.start);
        if dead > 0 {
            self.bytes.drain(..dead);
            for entry in &mut self.entries {
                entry.start -= dead;
            }
        }
        let needed = self.bytes.len() + more;
        if needed > self.bytes.capacity() / 2 {
            self.bytes.reserve(needed);
        }
        dead
    }
}
