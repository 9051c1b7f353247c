//! The deterministic org generator: an initial snapshot of a whole organisation across the seven
//! domain databases, then an endless stream of realistic changes.
//!
//! The generator keeps a compact model of every row (small `Copy` structs per id, names and
//! emails derived from ids, shared text) and builds row images only when it emits them, so it
//! always knows the exact before image of an update or delete. Everything follows from the seed:
//! the same seed and seq give the same transaction, which is how a consumer resumes.

mod build;
mod changes;
mod dice;
mod grow;
mod model;
mod pages;
mod rows;
mod run;
mod store;
mod text;
mod vocab;

use twinflow_ingest::{RowChange, SourceId, SourcePosition, TableId, Transaction};

use self::model::Model;

pub use self::build::MAX_SCALE;
pub use self::changes::ChangeMix;
pub use self::run::run_generator;
pub use self::text::{logical_time_ms, BASE_TIME_MS, TICK_MS};

/// What the generator models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seed of everything random: same seed, same stream.
    pub seed: u64,
    /// Number of people in the initial state (clamped to `1..=MAX_SCALE`). The rest follows:
    /// `max(1, scale / 50_000)` companies (at least 2 from 100 people), a job per 20 people,
    /// a room per 50, a desk per 5, a skill per 5 000 (at least 10), ...
    pub scale: u64,
    /// Rows per part of the snapshot transaction (at least 1).
    pub snapshot_chunk: usize,
    /// Which kinds of change the stream draws.
    pub mix: ChangeMix,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 1,
            scale: 10_000,
            snapshot_chunk: 4_096,
            mix: ChangeMix::default(),
        }
    }
}

/// The org generator: a correct source (exact before images, no reused ids) of a realistic
/// organisation's changes.
#[derive(Debug)]
pub struct OrgGenerator {
    config: GeneratorConfig,
    source: SourceId,
    model: Model,
}

impl OrgGenerator {
    /// A generator of `config`'s organisation, emitting as `source`. Builds the initial state
    /// (about 0.1 s per million people in a release build).
    pub fn new(config: GeneratorConfig, source: SourceId) -> Self {
        let model = Model::build(config.seed, config.scale);
        OrgGenerator {
            config,
            source,
            model,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The source name stamped on every transaction.
    pub fn source(&self) -> &SourceId {
        &self.source
    }

    /// The seq of the last transaction produced (0 before the first).
    pub fn position(&self) -> u64 {
        self.model.seq
    }

    /// The number of live rows of `table` in the current state.
    pub fn row_count(&self, table: TableId) -> usize {
        self.model.t.len(table)
    }

    /// Heap memory held by the generator's state, approximately (bytes).
    pub fn state_bytes(&self) -> usize {
        self.model.heap_bytes()
    }

    /// The current state as ONE source transaction delivered in parts of at most
    /// `snapshot_chunk` rows (`more_follows` on all but the last), every part at the current
    /// position (seq 0 for a fresh generator). Rows come table by table in catalog order, ids
    /// ascending. Reading the snapshot does not change the generator.
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            model: &self.model,
            source: self.source.clone(),
            chunk: self.config.snapshot_chunk.max(1),
            table: 0,
            next_id: 1,
            peeked: None,
            done: false,
        }
    }

    /// The next transaction of the change stream (seq 1, 2, ...): one to a few changes that
    /// may touch several databases. Its `commit_time_ms` is the logical clock
    /// ([`logical_time_ms`]), as are the `updated_at` values in its rows.
    pub fn next_transaction(&mut self) -> Transaction {
        let changes = self.model.step(self.config.mix);
        let seq = self.model.seq;
        Transaction {
            source: self.source.clone(),
            position: SourcePosition::Generator { seq },
            commit_time_ms: logical_time_ms(seq),
            changes,
            more_follows: false,
        }
    }

    /// Moves to just after transaction `seq`, so that [`next_transaction`](Self::next_transaction)
    /// returns seq + 1, by regenerating the stream (about 1 µs per skipped transaction in a
    /// release build); going back rebuilds the initial state first.
    pub fn resume_after(&mut self, seq: u64) {
        if seq < self.model.seq {
            self.model = Model::build(self.config.seed, self.config.scale);
        }
        while self.model.seq < seq {
            self.model.step(self.config.mix);
        }
    }
}

/// The parts of a snapshot; see [`OrgGenerator::snapshot`].
#[derive(Debug)]
pub struct Snapshot<'a> {
    model: &'a Model,
    source: SourceId,
    chunk: usize,
    table: usize,
    next_id: u32,
    peeked: Option<RowChange>,
    done: bool,
}

impl Snapshot<'_> {
    fn next_row(&mut self) -> Option<RowChange> {
        if let Some(row) = self.peeked.take() {
            return Some(row);
        }
        while let Some(&table) = TableId::ALL.get(self.table) {
            let bound = self.model.t.bound(table);
            while self.next_id < bound {
                let id = self.next_id;
                self.next_id += 1;
                if let Some(row) = self.model.t.row(table, id, &self.model.cx) {
                    return Some(RowChange::insert(table, row));
                }
            }
            self.table += 1;
            self.next_id = 1;
        }
        None
    }
}

impl Iterator for Snapshot<'_> {
    type Item = Transaction;

    fn next(&mut self) -> Option<Transaction> {
        if self.done {
            return None;
        }
        let mut changes = Vec::with_capacity(self.chunk.min(1 << 16));
        while changes.len() < self.chunk {
            match self.next_row() {
                Some(change) => changes.push(change),
                None => break,
            }
        }
        self.peeked = self.next_row();
        self.done = self.peeked.is_none();
        Some(Transaction {
            source: self.source.clone(),
            position: SourcePosition::Generator {
                seq: self.model.seq,
            },
            commit_time_ms: logical_time_ms(self.model.seq),
            changes,
            more_follows: !self.done,
        })
    }
}
