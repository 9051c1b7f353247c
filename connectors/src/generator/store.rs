//! Compact entity storage: one small `Copy` struct per id and a liveness bit, with ids
//! allocated sequentially from 1 like `AUTO_INCREMENT`.
//!
//! An allocated id may be not live: reserved for a row that is inserted later, or deleted (ids
//! are never reused).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use twinflow_ingest::{Row, TableId};

use super::dice::Dice;
use super::pages::Pages;
use super::text::{mix, RowCx, Stamp};

/// The largest id an `INT` primary key can hold.
const MAX_ID: u32 = i32::MAX as u32;

/// A row kind of the model: a compact struct from which the row image is derived.
pub(crate) trait Entity: Copy + Default + PartialEq {
    /// The table the rows belong to.
    const TABLE: TableId;
    /// The row image of the entity with id `id`.
    fn row(&self, id: u32, cx: &RowCx) -> Row;
    /// Marks the entity as changed by the transaction `now` (sets `updated_at`, where the table
    /// has one).
    fn touch(&mut self, _now: Stamp) {}
}

/// The rows of one table.
///
/// Rows of the initial state live in a dense vector indexed by id (a liveness bit each; a
/// deleted row keeps its slot). Once the table is sealed, new ids go to a map that forgets
/// deleted rows, and when three quarters of the dense rows are deleted the rest move to the map
/// too: a long stream costs memory for live rows only.
#[derive(Debug)]
pub(crate) struct Table<T> {
    dense: Vec<T>,
    dense_live: Vec<u64>,
    dense_live_count: usize,
    sealed: bool,
    /// Live and reserved rows with ids above the dense ones.
    sparse: Pages<T>,
    /// The ids of `sparse` for uniform picks, plus deleted ones until the next compaction.
    sparse_ids: Vec<u32>,
    /// Allocated ids whose row is not inserted yet.
    reserved: HashSet<u32, BuildHasherDefault<IdHasher>>,
    live_count: usize,
    next_id: u32,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            dense: Vec::new(),
            dense_live: Vec::new(),
            dense_live_count: 0,
            sealed: false,
            sparse: Pages::default(),
            sparse_ids: Vec::new(),
            reserved: HashSet::default(),
            live_count: 0,
            next_id: 1,
        }
    }
}

/// `sparse_ids` drops deleted ids whenever its length reaches a power of two from this on.
const COMPACT_FROM: usize = 1024;

impl<T: Entity> Table<T> {
    fn dense_index(&self, id: u32) -> Option<usize> {
        (id as usize)
            .checked_sub(1)
            .filter(|&i| i < self.dense.len())
    }

    /// Ends the initial state: later ids are stored sparsely, and the dense part is trimmed.
    pub(crate) fn seal(&mut self) {
        self.sealed = true;
        self.dense.shrink_to_fit();
        self.dense_live.shrink_to_fit();
    }

    /// Allocates the next id for a row inserted later; `None` once the `INT` id space is spent.
    pub(crate) fn allocate(&mut self) -> Option<u32> {
        let id = self.next_slot(T::default())?;
        self.reserved.insert(id);
        Some(id)
    }

    /// Takes the next id with `value` in its slot, not yet counted live.
    fn next_slot(&mut self, value: T) -> Option<u32> {
        let id = self.next_id;
        if id > MAX_ID {
            return None;
        }
        self.next_id += 1;
        if self.sealed {
            self.sparse.insert(id, value);
            self.sparse_ids.push(id);
            let n = self.sparse_ids.len();
            if n >= COMPACT_FROM && n.is_power_of_two() {
                let sparse = &self.sparse;
                self.sparse_ids.retain(|&id| sparse.contains(id));
            }
        } else {
            self.dense.push(value);
            if self.dense.len() > self.dense_live.len() * 64 {
                self.dense_live.push(0);
            }
        }
        Some(id)
    }

    fn mark_live(&mut self, id: u32) {
        if let Some(i) = self.dense_index(id) {
            set_bit(&mut self.dense_live, i, true);
            self.dense_live_count += 1;
        }
        self.live_count += 1;
    }

    /// Inserts the row of an id allocated (and not inserted) earlier; `false` for any other id.
    pub(crate) fn insert(&mut self, id: u32, value: T) -> bool {
        if !self.reserved.remove(&id) {
            return false;
        }
        match self.slot_mut(id) {
            Some(slot) => *slot = value,
            None => return false,
        }
        self.mark_live(id);
        true
    }

    /// Allocates an id and inserts `value` under it.
    pub(crate) fn push(&mut self, value: T) -> Option<u32> {
        let id = self.next_slot(value)?;
        self.mark_live(id);
        Some(id)
    }

    /// Removes a live row, returning it.
    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        if !self.is_live(id) {
            return None;
        }
        self.live_count -= 1;
        match self.dense_index(id) {
            Some(i) => {
                set_bit(&mut self.dense_live, i, false);
                self.dense_live_count -= 1;
                let old = self.dense.get(i).copied();
                if self.sealed && self.dense_live_count * 4 < self.dense.len() {
                    self.retire_dense();
                }
                old
            }
            None => self.sparse.remove(id),
        }
    }

    /// Moves the live and reserved rows of the (mostly deleted) dense part to the sparse map and
    /// frees the dense part: a long stream does not keep paying for rows it deleted.
    fn retire_dense(&mut self) {
        let dense = std::mem::take(&mut self.dense);
        let live = std::mem::take(&mut self.dense_live);
        for (i, value) in dense.into_iter().enumerate() {
            let Ok(id) = u32::try_from(i + 1) else { break };
            if bit(&live, i) || self.reserved.contains(&id) {
                self.sparse.insert(id, value);
                self.sparse_ids.push(id);
            }
        }
        self.dense_live_count = 0;
    }

    /// Whether `id` is a live row.
    pub(crate) fn is_live(&self, id: u32) -> bool {
        match self.dense_index(id) {
            Some(i) => bit(&self.dense_live, i),
            None => self.sparse.contains(id) && !self.reserved.contains(&id),
        }
    }

    /// The live row `id`.
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        match self.dense_index(id) {
            Some(i) => self.dense.get(i).filter(|_| bit(&self.dense_live, i)),
            None => self.sparse.get(id).filter(|_| !self.reserved.contains(&id)),
        }
    }

    /// The live row `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        if self.is_live(id) {
            self.slot_mut(id)
        } else {
            None
        }
    }

    /// The slot of a live or reserved id, or of a deleted id of the initial state (for
    /// bookkeeping that outlives the row).
    pub(crate) fn slot_mut(&mut self, id: u32) -> Option<&mut T> {
        match self.dense_index(id) {
            Some(i) => self.dense.get_mut(i),
            None => self.sparse.get_mut(id),
        }
    }

    /// The number of live rows.
    pub(crate) fn len(&self) -> usize {
        self.live_count
    }

    /// Heap bytes held (capacity, not length), approximately.
    pub(crate) fn heap_bytes(&self) -> usize {
        let size = std::mem::size_of::<T>();
        self.dense.capacity() * size
            + self.dense_live.capacity() * 8
            + self.sparse.heap_bytes()
            + self.sparse_ids.capacity() * 4
            + self.reserved.capacity() * 5
    }

    /// The live ids, ascending.
    pub(crate) fn live_ids(&self) -> impl Iterator<Item = u32> + '_ {
        (1..self.next_id).filter(|&id| self.is_live(id))
    }

    /// One more than the largest allocated id.
    pub(crate) fn bound(&self) -> u32 {
        self.next_id
    }

    /// A uniformly chosen live id, if one is found in a few tries.
    pub(crate) fn pick(&self, dice: &mut Dice) -> Option<u32> {
        let total = u32::try_from(self.live_count).ok().filter(|&n| n > 0)?;
        let sparse_live = (self.live_count - self.dense_live_count) as u32;
        let dense = u32::try_from(self.dense.len()).unwrap_or(u32::MAX);
        (0..32)
            .map(|_| {
                if dice.below(total) < sparse_live {
                    dice.pick(&self.sparse_ids).unwrap_or(0)
                } else {
                    dice.below(dense) + 1
                }
            })
            .find(|&id| self.is_live(id))
    }

    /// A live id among `pool` (ids of this table), if one is found in a few tries.
    pub(crate) fn pick_in(&self, dice: &mut Dice, pool: &[u32]) -> Option<u32> {
        (0..16)
            .filter_map(|_| dice.pick(pool))
            .find(|&id| self.is_live(id))
    }
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

fn set_bit(bits: &mut [u64], i: usize, on: bool) {
    if let Some(w) = bits.get_mut(i / 64) {
        if on {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }
}

/// A cheap hasher for integer keys (SplitMix64 of the key).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = mix(self.0 ^ n);
    }
}

/// The live `(a, b)` pairs of a table with a two-column unique key.
#[derive(Debug, Default)]
pub(crate) struct PairSet(HashSet<u64, BuildHasherDefault<IdHasher>>);

fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl PairSet {
    /// Whether the pair is taken.
    pub(crate) fn contains(&self, a: u32, b: u32) -> bool {
        self.0.contains(&pair_key(a, b))
    }

    /// Takes the pair; `false` if it was already taken.
    pub(crate) fn insert(&mut self, a: u32, b: u32) -> bool {
        self.0.insert(pair_key(a, b))
    }

    /// Heap bytes held, approximately (a key and a control byte per bucket).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.0.capacity() * 9
    }

    /// Frees the pair.
    pub(crate) fn remove(&mut self, a: u32, b: u32) {
        self.0.remove(&pair_key(a, b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use twinflow_ingest::Value;

    #[derive(Clone, Copy, Default, PartialEq, Debug)]
    struct Thing(u8);

    impl Entity for Thing {
        const TABLE: TableId = TableId::Role;
        fn row(&self, id: u32, _cx: &RowCx) -> Row {
            Arc::new([Value::Int(id.into()), Value::Int(self.0.into())])
        }
    }

    #[test]
    fn ids_are_sequential_and_never_reused() {
        let mut t = Table::<Thing>::default();
        assert_eq!(t.push(Thing(1)), Some(1));
        let reserved = t.allocate();
        assert_eq!(reserved, Some(2));
        assert!(!t.is_live(2));
        assert_eq!(t.push(Thing(3)), Some(3));
        assert!(t.insert(2, Thing(2)));
        assert!(!t.insert(2, Thing(9)), "already live");
        assert_eq!(t.remove(1), Some(Thing(1)));
        assert!(!t.insert(1, Thing(1)), "deleted ids stay deleted");
        assert!(!t.insert(5, Thing(5)), "never allocated");
        assert_eq!(t.push(Thing(4)), Some(4));
        assert_eq!(t.len(), 3);
        assert_eq!(t.bound(), 5);
        assert_eq!(t.get(2), Some(&Thing(2)));
        assert_eq!(t.get(1), None);
    }

    #[test]
    fn sealed_tables_store_new_rows_sparsely() {
        let mut t = Table::<Thing>::default();
        for i in 0..10 {
            t.push(Thing(i));
        }
        t.seal();
        let reserved = t.allocate().unwrap_or(0);
        assert_eq!(reserved, 11);
        assert!(!t.is_live(11) && t.get(11).is_none() && t.slot_mut(11).is_some());
        let mut dice = Dice::new(1);
        for _ in 0..5_000 {
            let id = t.push(Thing(1)).unwrap_or(0);
            if id % 3 != 0 {
                assert_eq!(t.remove(id), Some(Thing(1)));
                assert!(!t.is_live(id) && t.slot_mut(id).is_none());
            }
        }
        assert!(t.insert(11, Thing(7)));
        assert_eq!(t.get(11), Some(&Thing(7)));
        let kept = (12..=5_011).filter(|id| id % 3 == 0).count();
        assert_eq!(t.len(), 10 + 1 + kept);
        assert_eq!(t.live_ids().count(), t.len());
        assert!(t.sparse_ids.len() < 4_096, "deleted ids are compacted away");
        for id in 1..=8 {
            assert_eq!(t.remove(id), Some(Thing(id as u8 - 1)));
        }
        assert!(t.dense.is_empty(), "a mostly deleted dense part is retired");
        assert_eq!(t.get(9), Some(&Thing(8)));
        assert_eq!(t.get(1), None);
        assert!(!t.insert(1, Thing(0)), "deleted ids stay deleted");
        for _ in 0..1_000 {
            let id = t.pick(&mut dice).unwrap_or(0);
            assert!(t.is_live(id));
        }
    }

    #[test]
    fn pick_finds_live_rows_only() {
        let mut t = Table::<Thing>::default();
        for i in 0..200 {
            t.push(Thing(i));
        }
        for id in (1..=200).filter(|id| id % 2 == 0) {
            t.remove(id);
        }
        let mut dice = Dice::new(5);
        for _ in 0..100 {
            let id = t.pick(&mut dice).unwrap_or(1);
            assert!(t.is_live(id));
        }
        assert_eq!(Table::<Thing>::default().pick(&mut dice), None);
    }

    #[test]
    fn pairs() {
        let mut p = PairSet::default();
        assert!(p.insert(1, 2));
        assert!(!p.insert(1, 2));
        assert!(!p.contains(2, 1));
        p.remove(1, 2);
        assert!(!p.contains(1, 2));
    }
}
