//! The two indexes the registry builds on first access, each one flat allocation.
//!
//! [`NameIndex`] maps (kind, name hash) to entries by open addressing: 8 bytes a slot,
//! no per-name chain, plugins of one name (one per source) sitting in successive slots.
//! [`Positions`] maps a record's address to its entry: arithmetic when the records are
//! one contiguous slice (the linked `PLUGINS` always are), a hash map otherwise.

use rustc_hash::FxHashMap;

use crate::plugin::PluginKind;
use crate::record::PluginRecord;

/// An empty slot.
const EMPTY: u32 = u32::MAX;

/// One slot: the entry's kind in the low two bits and 30 more bits of the key above them,
/// to skip most mismatches without reading the record, and the entry index (`EMPTY`
/// when free).
#[derive(Clone, Copy)]
struct Slot {
    tag: u32,
    index: u32,
}

/// (kind, [`crate::record::name_hash`]) -> entry indices, linear probing, load at most 7/8.
///
/// It stores no name: callers compare the candidates' names themselves. Candidates are
/// always of the kind asked for.
#[derive(Clone, Debug)]
pub(super) struct NameIndex {
    slots: Vec<Slot>,
    mask: usize,
    /// 64 - log2(slots): the home slot is the top bits of the mixed key.
    shift: u32,
    len: usize,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{:08x}", self.index, self.tag)
    }
}

/// The key of (kind, name hash), mixed so that its high bits depend on every bit of the
/// name hash: names that differ in one digit land far apart.
fn key(kind: PluginKind, name_hash: u64) -> u64 {
    (name_hash ^ (kind as u64 + 1)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl NameIndex {
    /// An empty index with room for `entries` entries.
    pub(super) fn with_capacity(entries: usize) -> NameIndex {
        let slots = (entries + entries / 7 + 1).next_power_of_two().max(16);
        NameIndex {
            len: 0,
            slots: vec![
                Slot {
                    tag: 0,
                    index: EMPTY,
                };
                slots
            ],
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// The entries whose key matches (kind, hash), in insertion order, then the free slot
    /// that ends the run.
    fn probe(&self, kind: PluginKind, name_hash: u64) -> Probe<'_> {
        let key = key(kind, name_hash);
        Probe {
            index: self,
            at: (key >> self.shift) as usize,
            tag: ((key >> 2) as u32 & !3) | kind as u32,
        }
    }

    /// The entries that may be `kind` plugins named by `name_hash`.
    pub(super) fn candidates(
        &self,
        kind: PluginKind,
        name_hash: u64,
    ) -> impl Iterator<Item = u32> + '_ {
        let mut probe = self.probe(kind, name_hash);
        std::iter::from_fn(move || probe.next_match())
    }

    /// Whether one more entry would load the table over 7/8.
    pub(super) fn is_full(&self) -> bool {
        (self.len + 1) * 8 > self.slots.len() * 7
    }

    /// Adds entry `index`, unless `is_twin` says a candidate already there is the same
    /// plugin; then returns that candidate. The table must not be full.
    pub(super) fn insert(
        &mut self,
        kind: PluginKind,
        name_hash: u64,
        index: u32,
        mut is_twin: impl FnMut(u32) -> bool,
    ) -> Result<(), u32> {
        let mut probe = self.probe(kind, name_hash);
        while let Some(other) = probe.next_match() {
            if is_twin(other) {
                return Err(other);
            }
        }
        let slot = probe.at;
        self.slots[slot] = Slot {
            tag: probe.tag,
            index,
        };
        self.len += 1;
        Ok(())
    }
}

/// A walk along one run of occupied slots.
struct Probe<'a> {
    index: &'a NameIndex,
    at: usize,
    tag: u32,
}

impl Probe<'_> {
    /// The next entry with a matching tag; `None` at the first free slot, which `at` then
    /// points to.
    fn next_match(&mut self) -> Option<u32> {
        loop {
            let slot = self.index.slots[self.at];
            if slot.index == EMPTY {
                return None;
            }
            self.at = (self.at + 1) & self.index.mask;
            if slot.tag == self.tag {
                return Some(slot.index);
            }
        }
    }
}

/// Record address -> entry index.
#[derive(Clone, Debug)]
pub(super) enum Positions {
    /// Entry `i` is the record at `base + i * size_of::<PluginRecord>()`.
    Contiguous { base: usize, len: usize },
    /// Records gathered from anywhere (`Registry::from_records` with a list).
    Map(FxHashMap<usize, u32>),
}

/// The address of a record, its identity.
pub(super) fn address(record: &PluginRecord) -> usize {
    record as *const PluginRecord as usize
}

impl Positions {
    /// The positions of the records at `addresses`, in order.
    pub(super) fn of(addresses: impl ExactSizeIterator<Item = usize>) -> Positions {
        let len = addresses.len();
        let mut map: Option<FxHashMap<usize, u32>> = None;
        let mut base = 0;
        for (i, at) in addresses.enumerate() {
            if i == 0 {
                base = at;
            }
            match &mut map {
                Some(map) => {
                    map.insert(at, i as u32);
                }
                None if at == base + i * size_of::<PluginRecord>() => {}
                None => {
                    let mut all = FxHashMap::with_capacity_and_hasher(len, Default::default());
                    for j in 0..i {
                        all.insert(base + j * size_of::<PluginRecord>(), j as u32);
                    }
                    all.insert(at, i as u32);
                    map = Some(all);
                }
            }
        }
        match map {
            Some(map) => Positions::Map(map),
            None => Positions::Contiguous { base, len },
        }
    }

    /// The entry of the record at `address`, if the registry holds it.
    pub(super) fn get(&self, address: usize) -> Option<u32> {
        match self {
            Positions::Contiguous { base, len } => {
                let offset = address.checked_sub(*base)?;
                let i = offset / size_of::<PluginRecord>();
                (offset % size_of::<PluginRecord>() == 0 && i < *len).then_some(i as u32)
            }
            Positions::Map(map) => map.get(&address).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_many_entries_and_runs_that_wrap() {
        let mut index = NameIndex::with_capacity(3);
        assert!(!index.is_full());
        // Find a hash whose home is the last slot: the run wraps to the front of the table.
        let hash = (0..)
            .find(|&h| index.probe(PluginKind::Kernel, h).at == 15)
            .unwrap();
        for i in 0..5 {
            assert_eq!(index.insert(PluginKind::Kernel, hash, i, |_| false), Ok(()));
        }
        let found: Vec<u32> = index.candidates(PluginKind::Kernel, hash).collect();
        assert_eq!(found, [0, 1, 2, 3, 4]);
        assert_eq!(index.candidates(PluginKind::Step, hash).count(), 0);
        assert_eq!(index.candidates(PluginKind::Kernel, hash ^ 1).count(), 0);
        assert_eq!(
            index.insert(PluginKind::Kernel, hash, 9, |i| i == 3),
            Err(3)
        );
        assert_eq!(index.candidates(PluginKind::Kernel, hash).count(), 5);
        for i in 5..14 {
            assert!(!index.is_full());
            index
                .insert(PluginKind::Step, i, i as u32, |_| false)
                .unwrap();
        }
        assert!(index.is_full(), "14 of 16 slots");
    }

    #[test]
    fn positions_by_arithmetic_or_by_map() {
        let size = size_of::<PluginRecord>();
        let array: Vec<usize> = (0..4).map(|i| 4096 + i * size).collect();
        let contiguous = Positions::of(array.iter().copied());
        assert!(matches!(contiguous, Positions::Contiguous { len: 4, .. }));
        for (i, &at) in array.iter().enumerate() {
            assert_eq!(contiguous.get(at), Some(i as u32));
        }
        for outside in [0, 4095, 4097, 4096 + 4 * size] {
            assert_eq!(contiguous.get(outside), None, "{outside}");
        }
        let scattered = [4096, 4096 + size, 64, 9000];
        let mapped = Positions::of(scattered.iter().copied());
        assert!(matches!(mapped, Positions::Map(_)));
        for (i, &at) in scattered.iter().enumerate() {
            assert_eq!(mapped.get(at), Some(i as u32));
        }
        assert_eq!(mapped.get(4096 + 2 * size), None);
    }
}
