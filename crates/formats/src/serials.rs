//! An exact set of serials in compact memory, for duplicate detection over
//! millions of tokens: the bytes live in one arena, the table holds offsets.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Serials seen so far.
#[derive(Debug, Default)]
pub struct SerialSet {
    arena: Vec<u8>,
    /// (start, len) into `arena`.
    table: HashTable<(u32, u16)>,
    hasher: DefaultHashBuilder,
}

impl SerialSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn get(arena: &[u8], (start, len): (u32, u16)) -> &[u8] {
        let start = start as usize;
        arena
            .get(start..start + usize::from(len))
            .unwrap_or_default()
    }

    /// An empty set with room for about `n` serials (a hint, never a limit).
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        let mut set = Self::default();
        set.arena.reserve(n.saturating_mul(12));
        set.table.reserve(n, |_| 0);
        set
    }

    /// Adds `serial`; returns false when it was already there.
    ///
    /// Serials are at most 128 characters, so their byte length fits in u16;
    /// past 4 GiB of serials the set stops growing and reports every new
    /// serial as new.
    pub fn insert(&mut self, serial: &str) -> bool {
        let bytes = serial.as_bytes();
        let hash = self.hasher.hash_one(bytes);
        let arena = &self.arena;
        if self
            .table
            .find(hash, |&e| Self::get(arena, e) == bytes)
            .is_some()
        {
            return false;
        }
        let (Ok(start), Ok(len)) = (u32::try_from(self.arena.len()), u16::try_from(bytes.len()))
        else {
            return true;
        };
        self.arena.extend_from_slice(bytes);
        let (arena, hasher) = (&self.arena, &self.hasher);
        self.table.insert_unique(hash, (start, len), |&e| {
            hasher.hash_one(Self::get(arena, e))
        });
        true
    }

    /// Number of distinct serials.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no serial was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_duplicates_exactly() {
        let mut s = SerialSet::new();
        assert!(s.insert("0001"));
        assert!(s.insert("1"));
        assert!(!s.insert("0001"));
        assert!(s.insert("00010"));
        for i in 0..10_000 {
            assert!(s.insert(&format!("x{i}")));
        }
        assert!(!s.insert("x9999"));
        assert_eq!(s.len(), 10_003);
    }
}
