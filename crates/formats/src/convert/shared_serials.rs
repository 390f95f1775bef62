//! Exact duplicate detection filled by every worker at once: the serials
//! are spread over shards by hash, each behind its own lock, and each
//! serial keeps the first place (record number) it was seen at so far.
//!
//! Workers meet a file's records out of order, yet the places reported as
//! repeats are exactly those a single pass in file order reports — every
//! occurrence of a serial but its first. When a serial is met again, the
//! later of the two places is marked a repeat and the earlier one kept, so
//! each occurrence but the first is marked exactly once. A record's mark
//! can only come from a record before it, so once every chunk up to a
//! record's own is done its mark is final: the assembler, which takes
//! chunks in file order, reads them then.

use std::collections::BTreeSet;
use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Shards (a power of two): enough that two workers rarely wait.
const SHARDS: usize = 64;

/// One shard: serial bytes in an arena, the table holding where each
/// starts, its length and its first place (48 bits, as two parts).
#[derive(Default)]
struct Shard {
    arena: Vec<u8>,
    table: HashTable<Entry>,
}

#[derive(Clone, Copy)]
struct Entry {
    start: u32,
    place_low: u32,
    len: u16,
    place_high: u16,
}

impl Entry {
    fn place(self) -> u64 {
        u64::from(self.place_high) << 32 | u64::from(self.place_low)
    }

    fn set_place(&mut self, place: u64) {
        self.place_low = u32::try_from(place & 0xffff_ffff).unwrap_or(u32::MAX);
        self.place_high = u16::try_from(place >> 32).unwrap_or(u16::MAX);
    }
}

fn bytes_of(arena: &[u8], e: Entry) -> &[u8] {
    let start = e.start as usize;
    arena
        .get(start..start + usize::from(e.len))
        .unwrap_or_default()
}

/// A shard on cache lines of its own: two workers writing to neighbouring
/// shards must not take the same line from each other.
#[repr(align(128))]
#[derive(Default)]
struct Padded(Mutex<Shard>);

/// Serials of one conversion, shared by its workers.
pub(super) struct SharedSerials {
    shards: Vec<Padded>,
    hasher: DefaultHashBuilder,
    /// Places marked as repeats and not yet taken by the assembler.
    repeats: Mutex<BTreeSet<u64>>,
}

/// A worker's serials waiting to be recorded: hashed as they are read,
/// recorded shard by shard at the end of its chunk.
#[derive(Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    items: Vec<Item>,
}

struct Item {
    shard: usize,
    hash: u64,
    start: usize,
    end: usize,
    place: u64,
}

impl Batch {
    /// Adds `serial` at `place`.
    pub(super) fn push(&mut self, set: &SharedSerials, serial: &[u8], place: u64) {
        let hash = set.hasher.hash_one(serial);
        let start = self.bytes.len();
        self.bytes.extend_from_slice(serial);
        // Bits the tables do not use (they take the low bits for the
        // bucket and the top seven for their tags).
        let shard = usize::try_from((hash >> 32) & (SHARDS as u64 - 1)).unwrap_or(0);
        self.items.push(Item {
            shard,
            hash,
            start,
            end: self.bytes.len(),
            place,
        });
    }

    /// Forgets what was pushed (a chunk that failed).
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
    }
}

impl SharedSerials {
    /// Room for about `n` serials (a hint).
    pub(super) fn with_capacity(n: usize) -> Self {
        let per = n / SHARDS;
        let shards = (0..SHARDS)
            .map(|_| {
                let mut s = Shard::default();
                s.arena.reserve(per.saturating_mul(12));
                s.table.reserve(per, |_| 0);
                Padded(Mutex::new(s))
            })
            .collect();
        Self {
            shards,
            hasher: DefaultHashBuilder::default(),
            repeats: Mutex::new(BTreeSet::new()),
        }
    }

    /// Records `serial` at `place` (its record number; places up to 2^48).
    #[cfg(test)]
    fn insert(&self, serial: &str, place: u64) {
        let mut batch = Batch::default();
        batch.push(self, serial.as_bytes(), place);
        self.insert_batch(&mut batch);
    }

    /// Records a worker's serials, each shard's under one lock.
    /// Serials are at most 128 bytes; past 4 GiB of serials in a shard it
    /// stops growing and new serials go unrecorded.
    pub(super) fn insert_batch(&self, batch: &mut Batch) {
        batch.items.sort_unstable_by_key(|i| i.shard);
        let mut repeats = Vec::new();
        let mut items = batch.items.iter().peekable();
        while let Some(first) = items.peek() {
            let shard = first.shard;
            let Some(Ok(mut guard)) = self.shards.get(shard).map(|p| p.0.lock()) else {
                return;
            };
            let Shard { arena, table } = &mut *guard;
            while let Some(item) = items.next_if(|i| i.shard == shard) {
                let bytes = batch.bytes.get(item.start..item.end).unwrap_or_default();
                if let Some(e) = table.find_mut(item.hash, |&e| bytes_of(arena, e) == bytes) {
                    let first = e.place();
                    e.set_place(first.min(item.place));
                    repeats.push(first.max(item.place));
                    continue;
                }
                let (Ok(start), Ok(len)) = (u32::try_from(arena.len()), u16::try_from(bytes.len()))
                else {
                    continue;
                };
                arena.extend_from_slice(bytes);
                let mut entry = Entry {
                    start,
                    place_low: 0,
                    len,
                    place_high: 0,
                };
                entry.set_place(item.place);
                let (arena, hasher) = (&*arena, &self.hasher);
                table.insert_unique(item.hash, entry, |&e| hasher.hash_one(bytes_of(arena, e)));
            }
        }
        if !repeats.is_empty()
            && let Ok(mut r) = self.repeats.lock()
        {
            r.extend(repeats);
        }
        batch.clear();
    }

    /// Takes the repeats among places `from..=to` (sorted). Final once every
    /// record up to `to` was inserted.
    pub(super) fn take_repeats(&self, from: u64, to: u64) -> Vec<u64> {
        let Ok(mut r) = self.repeats.lock() else {
            return Vec::new();
        };
        if r.is_empty() {
            return Vec::new();
        }
        let found: Vec<u64> = r.range(from..=to).copied().collect();
        for p in &found {
            r.remove(p);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever order the places arrive in, the repeats are every
    /// occurrence but the first.
    #[test]
    fn repeats_are_every_occurrence_but_the_first_in_any_order() {
        let serials = ["a", "b", "a", "c", "a", "b", "d"];
        let want = vec![3, 5, 6];
        let orders: [&[usize]; 4] = [
            &[0, 1, 2, 3, 4, 5, 6],
            &[6, 5, 4, 3, 2, 1, 0],
            &[4, 2, 0, 6, 5, 1, 3],
            &[2, 4, 5, 0, 3, 6, 1],
        ];
        for order in orders {
            let set = SharedSerials::with_capacity(16);
            for &i in order {
                set.insert(serials[i], i as u64 + 1);
            }
            assert_eq!(set.take_repeats(1, 7), want, "{order:?}");
            assert!(set.take_repeats(1, 7).is_empty(), "taken once");
        }
        let set = SharedSerials::with_capacity(0);
        for i in 0..20_000u64 {
            set.insert(&format!("s{}", i % 10_000), i + 1);
        }
        let r = set.take_repeats(1, 9_999);
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(set.take_repeats(10_000, 20_000).len(), 10_000);
    }
}
