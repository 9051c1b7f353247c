//! The generator's model of the source databases: compact tables, per-company candidate pools,
//! unique-pair indexes and the inserts promised for later, plus the helpers through which every
//! change goes (they keep the model and the emitted before/after images in step).

use std::collections::BTreeMap;

use twinflow_ingest::{RowChange, TableId};

use super::dice::Dice;
use super::rows::{JobSkill, JobTask, Stored, TableJob, Tables, TaskSkill};
use super::store::PairSet;
use super::text::{RowCx, Stamp};

/// Ids created for one company: where its changes pick their candidates.
///
/// Pools only grow; an id in a pool may have been deleted (pickers check liveness), and a room
/// moved to another company's floor stays in its first company's pool.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pub(crate) functions: Vec<u32>,
    pub(crate) job_levels: Vec<u32>,
    pub(crate) jobs: Vec<u32>,
    pub(crate) tasks: Vec<u32>,
    pub(crate) processes: Vec<u32>,
    pub(crate) buildings: Vec<u32>,
    pub(crate) floors: Vec<u32>,
    pub(crate) rooms: Vec<u32>,
    /// Rooms whose kind holds desks.
    pub(crate) desk_rooms: Vec<u32>,
    pub(crate) desks: Vec<u32>,
}

/// An insert promised by an earlier change that already names the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// A job of `company`.
    Job { id: u32, company: u32 },
    /// A desk in `room`.
    Desk { id: u32, room: u32 },
}

/// The indexes of the tables with a two-column unique key.
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    job_skill: PairSet,
    task_skill: PairSet,
    job_task: PairSet,
    table_job: PairSet,
}

/// A table with a two-column unique key.
pub(crate) trait Link: Stored {
    /// The unique pair of the row.
    fn pair(&self) -> (u32, u32);
    /// The index of the table's pairs.
    fn pairs(pairs: &mut Pairs) -> &mut PairSet;
}

macro_rules! link {
    ($ty:ty, $field:ident, $a:ident, $b:ident) => {
        impl Link for $ty {
            fn pair(&self) -> (u32, u32) {
                (self.$a, self.$b)
            }
            fn pairs(pairs: &mut Pairs) -> &mut PairSet {
                &mut pairs.$field
            }
        }
    };
}

link!(JobSkill, job_skill, job, skill);
link!(TaskSkill, task_skill, task, skill);
link!(JobTask, job_task, job, task);
link!(TableJob, table_job, desk, job);

/// The whole generator state.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) t: Tables,
    pub(crate) cx: RowCx,
    pub(crate) dice: Dice,
    /// Per company, index `company id - 1`.
    pub(crate) pools: Vec<Pools>,
    pub(crate) pairs: Pairs,
    /// Promised inserts by (due seq, order of promise).
    pub(crate) pending: BTreeMap<(u64, u64), Pending>,
    promises: u64,
    /// The seq of the transaction being built (0 while building the initial state).
    pub(crate) seq: u64,
    pub(crate) now: Stamp,
    /// Whether changes are recorded in `out` (not while building the initial state).
    pub(crate) emitting: bool,
    /// The changes of the transaction being built.
    pub(crate) out: Vec<RowChange>,
    /// Live rows per table (catalog order) in the initial state: the sizes churn returns to.
    targets: Vec<usize>,
}

impl Pools {
    fn heap_bytes(&self) -> usize {
        let pools = [
            &self.functions,
            &self.job_levels,
            &self.jobs,
            &self.tasks,
            &self.processes,
            &self.buildings,
            &self.floors,
            &self.rooms,
            &self.desk_rooms,
            &self.desks,
        ];
        pools.iter().map(|p| p.capacity() * 4).sum()
    }
}

impl Pairs {
    fn heap_bytes(&self) -> usize {
        [
            &self.job_skill,
            &self.task_skill,
            &self.job_task,
            &self.table_job,
        ]
        .iter()
        .map(|p| p.heap_bytes())
        .sum()
    }
}

impl Model {
    /// Heap bytes held by the model, approximately.
    pub(crate) fn heap_bytes(&self) -> usize {
        let pools: usize = self.pools.iter().map(Pools::heap_bytes).sum();
        let pending = self.pending.len() * 64;
        self.t.heap_bytes() + pools + self.pairs.heap_bytes() + pending + self.out.capacity() * 64
    }

    /// An empty model drawing from `seed`.
    pub(crate) fn empty(seed: u64) -> Self {
        Model {
            t: Tables::default(),
            cx: RowCx::new(seed),
            dice: Dice::new(seed),
            pools: Vec::new(),
            pairs: Pairs::default(),
            pending: BTreeMap::new(),
            promises: 0,
            seq: 0,
            now: Stamp::HISTORIC,
            emitting: false,
            out: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Ends the initial state: later rows are stored sparsely, and churn aims at today's sizes.
    pub(crate) fn seal(&mut self) {
        self.t.seal();
        self.targets = TableId::ALL.iter().map(|&t| self.t.len(t)).collect();
    }

    /// Whether a churning table should get an insert rather than a delete now: as likely as not
    /// at its initial size, less likely above it and more below (10% to 90%), so a long stream
    /// keeps the organisation (and the generator's memory) about its initial size.
    pub(crate) fn grows(&mut self, table: TableId) -> bool {
        let target = self
            .targets
            .get(table as usize)
            .copied()
            .unwrap_or(0)
            .max(1) as i64;
        let len = self.t.len(table) as i64;
        let per_mille = (500 - 5_000 * (len - target) / target).clamp(100, 900);
        self.dice.below(1000) < per_mille as u32
    }

    /// A uniformly chosen company id.
    pub(crate) fn any_company(&mut self) -> u32 {
        let n = u32::try_from(self.pools.len()).unwrap_or(u32::MAX);
        self.dice.below(n) + 1
    }

    /// Adds `id` to a pool of `company`; now and then the pool drops ids no longer live, so
    /// pools of tables with deletes stay about the size of their live rows.
    pub(crate) fn pool_push<T: Stored>(
        &mut self,
        company: u32,
        pool: fn(&mut Pools) -> &mut Vec<u32>,
        id: u32,
    ) {
        let table = T::table(&self.t);
        let Some(pools) = self.pools.get_mut((company as usize).wrapping_sub(1)) else {
            return;
        };
        let ids = pool(pools);
        ids.push(id);
        if ids.len() >= 1024 && ids.len().is_power_of_two() {
            ids.retain(|&id| table.is_live(id));
        }
    }

    /// A live id of `T` from the pool `pool` of `company`.
    pub(crate) fn pick_in<T: Stored>(
        &mut self,
        company: u32,
        pool: fn(&Pools) -> &Vec<u32>,
    ) -> Option<u32> {
        let ids = pool(self.pools.get((company as usize).checked_sub(1)?)?);
        T::table(&self.t).pick_in(&mut self.dice, ids)
    }

    /// A live id of `T`.
    pub(crate) fn pick<T: Stored>(&mut self) -> Option<u32> {
        T::table(&self.t).pick(&mut self.dice)
    }

    /// The live row `id` of `T`.
    pub(crate) fn get<T: Stored>(&self, id: u32) -> Option<T> {
        T::table(&self.t).get(id).copied()
    }

    /// Inserts a new row and returns its id.
    pub(crate) fn create<T: Stored>(&mut self, value: T) -> Option<u32> {
        let id = T::table_mut(&mut self.t).push(value)?;
        self.emit_insert(id, &value);
        Some(id)
    }

    /// Inserts the row of an id allocated earlier.
    pub(crate) fn create_at<T: Stored>(&mut self, id: u32, value: T) -> bool {
        let inserted = T::table_mut(&mut self.t).insert(id, value);
        if inserted {
            self.emit_insert(id, &value);
        }
        inserted
    }

    fn emit_insert<T: Stored>(&mut self, id: u32, value: &T) {
        if self.emitting {
            let row = value.row(id, &self.cx);
            self.out.push(RowChange::insert(T::TABLE, row));
        }
    }

    /// Changes live row `id` with `f`; emits an update (touching `updated_at`) unless nothing
    /// changed, as a real server does. Returns whether the row changed.
    pub(crate) fn update<T: Stored>(&mut self, id: u32, f: impl FnOnce(&mut T)) -> bool {
        let now = self.now;
        let Some(slot) = T::table_mut(&mut self.t).get_mut(id) else {
            return false;
        };
        let old = *slot;
        let mut new = old;
        f(&mut new);
        if new == old {
            return false;
        }
        if self.emitting {
            new.touch(now);
        }
        *slot = new;
        if self.emitting {
            let change = RowChange::update(T::TABLE, old.row(id, &self.cx), new.row(id, &self.cx));
            self.out.push(change);
        }
        true
    }

    /// Deletes live row `id`, returning it.
    pub(crate) fn delete<T: Stored>(&mut self, id: u32) -> Option<T> {
        let old = T::table_mut(&mut self.t).remove(id)?;
        if self.emitting {
            let row = old.row(id, &self.cx);
            self.out.push(RowChange::delete(T::TABLE, row));
        }
        Some(old)
    }

    /// Inserts a link row unless its pair is taken.
    pub(crate) fn link<T: Link>(&mut self, value: T) -> Option<u32> {
        let (a, b) = value.pair();
        if T::pairs(&mut self.pairs).contains(a, b) {
            return None;
        }
        let id = self.create(value)?;
        T::pairs(&mut self.pairs).insert(a, b);
        Some(id)
    }

    /// Deletes a link row.
    pub(crate) fn unlink<T: Link>(&mut self, id: u32) -> Option<T> {
        let old = self.delete::<T>(id)?;
        let (a, b) = old.pair();
        T::pairs(&mut self.pairs).remove(a, b);
        Some(old)
    }

    /// Updates a link row unless the new pair is taken by another row.
    pub(crate) fn relink<T: Link>(&mut self, id: u32, f: impl FnOnce(&mut T)) -> bool {
        let Some(old) = self.get::<T>(id) else {
            return false;
        };
        let mut new = old;
        f(&mut new);
        let (before, after) = (old.pair(), new.pair());
        if before != after && T::pairs(&mut self.pairs).contains(after.0, after.1) {
            return false;
        }
        if !self.update::<T>(id, |v| *v = new) {
            return false;
        }
        let pairs = T::pairs(&mut self.pairs);
        pairs.remove(before.0, before.1);
        pairs.insert(after.0, after.1);
        true
    }

    /// Promises an insert of `what` about `within` transactions from now.
    pub(crate) fn promise(&mut self, what: Pending, within: u32) {
        let due = self.seq + 1 + u64::from(self.dice.below(within.max(1)));
        self.promises += 1;
        self.pending.insert((due, self.promises), what);
    }

    /// Takes the oldest promise that is due by the current seq.
    pub(crate) fn take_due(&mut self) -> Option<Pending> {
        let (&key, _) = self.pending.first_key_value()?;
        if key.0 > self.seq {
            return None;
        }
        self.pending.remove(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::ChangeMix;

    /// `cargo test --release -p twinflow-connectors -- --ignored --nocapture state_stays_bounded`
    #[test]
    #[ignore = "8M transactions at 1M people: release builds only"]
    fn state_stays_bounded_over_a_long_stream() {
        let mut m = Model::build(1, 1_000_000);
        for round in 1..=8 {
            for _ in 0..1_000_000 {
                m.step(ChangeMix::Realistic);
            }
            let mut tables = m.t.heap_by_table();
            tables.sort_by_key(|&(_, b)| std::cmp::Reverse(b));
            let top: Vec<String> = tables
                .iter()
                .take(5)
                .map(|(t, b)| format!("{} {} KiB", t.schema().name, b >> 10))
                .collect();
            println!(
                "after {round}M transactions: {} MiB ({})",
                m.heap_bytes() >> 20,
                top.join(", ")
            );
            assert!(m.heap_bytes() < 80 << 20);
            let people = m.t.len(TableId::People);
            assert!((950_000..1_050_000).contains(&people), "{people} people");
        }
    }
}
