//! Property tests: random source transactions driven through the dataflow engine; after every
//! published timestamp, every view equals the oracle's plain recomputation of views.sql over the
//! source tables as they are at that timestamp.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use std::collections::BTreeSet;
use twinflow_dataflows::{Engine, EngineConfig, Restore};
use twinflow_ingest::reclock::Seal;
use twinflow_ingest::{TableId, TimestampedBatch, Transaction};
use twinflow_oracle::{diff, evaluate, RandomSource, Tables};

use twinflow_views::{ServedState, StateConfig, ViewId};

use common::{served_rows, wait_for_as_of};

/// An engine fed timestamp by timestamp, next to the oracle's copy of the source tables.
struct Harness {
    engine: Option<Engine>,
    state: ServedState,
    tables: Tables,
    ts: u64,
}

impl Harness {
    fn new(workers: usize) -> Harness {
        Harness::start(workers, None, Tables::new())
    }

    /// An engine started from `restore`, whose source tables the oracle has as `tables`.
    fn start(workers: usize, restore: Option<Restore>, tables: Tables) -> Harness {
        let (state, writer) =
            ServedState::new(StateConfig::default(), twinflow_dataflows::catalog());
        let config = EngineConfig {
            workers,
            ..EngineConfig::default()
        };
        let ts = restore.as_ref().map_or(0, |r| r.seal.ts);
        let engine = Engine::start(config, writer, restore).expect("engine starts");
        if ts > 0 {
            wait_for_as_of(&state, ts, Duration::from_secs(30));
        }
        Harness {
            engine: Some(engine),
            state,
            tables,
            ts,
        }
    }

    /// The engine's base tables as of the last timestamp, restored `gap` timestamps later.
    fn checkpoint(&self, gap: u64) -> Restore {
        let engine = self.engine.as_ref().expect("running");
        let shards = engine.checkpoint().expect("checkpoint requested");
        let mut shards: Vec<_> = shards.iter().take(engine.workers()).collect();
        shards.sort_by_key(|shard| shard.worker);
        Restore {
            seal: Seal {
                ts: self.ts + gap,
                ..Seal::default()
            },
            shards: shards
                .into_iter()
                .map(|shard| shard.records.encode().expect("shard encodes"))
                .collect(),
        }
    }

    /// Applies `txns` as one timestamp and waits for it to be published.
    fn apply(&mut self, txns: &[Transaction]) {
        self.apply_then_retract(txns, &[]);
    }

    /// Applies `txns` and then retracts every row of `tables`, as one timestamp, and waits
    /// for it to be published.
    fn apply_then_retract(&mut self, txns: &[Transaction], tables: &[TableId]) {
        self.ts += 1;
        let engine = self.engine.as_ref().expect("running");
        for txn in txns {
            self.tables.apply_transaction(txn);
            // Several sends per timestamp, as a large transaction delivered in parts would be.
            let batch = TimestampedBatch::Changes {
                ts: self.ts,
                changes: txn.changes.clone(),
            };
            engine.send(batch).expect("engine accepts input");
        }
        if !tables.is_empty() {
            for &table in tables {
                self.tables.clear(table);
            }
            let retract = TimestampedBatch::Retract {
                ts: self.ts,
                tables: tables.to_vec(),
            };
            engine.send(retract).expect("engine accepts input");
        }
        let seal = Seal {
            ts: self.ts,
            transactions: txns.len() as u64,
            ..Seal::default()
        };
        engine
            .send(TimestampedBatch::Seal(seal))
            .expect("engine accepts input");
        wait_for_as_of(&self.state, self.ts, Duration::from_secs(30));
    }

    /// Compares every served view with the oracle; returns the views that had rows.
    fn check(&self) -> Result<Vec<ViewId>, String> {
        let snapshot = self.state.snapshot();
        assert_eq!(
            snapshot.as_of, self.ts,
            "published exactly the fed timestamp"
        );
        let mut problems = Vec::new();
        let mut non_empty = Vec::new();
        for (view, expected) in evaluate(&self.tables) {
            if !expected.is_empty() {
                non_empty.push(view);
            }
            let actual = served_rows(&snapshot, view);
            if let Some(d) = diff(view, &expected, &actual) {
                problems.push(d);
            }
        }
        if problems.is_empty() {
            Ok(non_empty)
        } else {
            Err(format!("at as_of {}:\n{}", self.ts, problems.join("\n")))
        }
    }
}

/// The oracle's source tables after `txns`.
fn tables_after(txns: &[Transaction]) -> Tables {
    let mut tables = Tables::new();
    for txn in txns {
        tables.apply_transaction(txn);
    }
    tables
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A checkpoint taken after a random prefix of the stream, restored into an engine with
    /// the same or another number of workers: the restored timestamp and every later one equal
    /// the oracle.
    #[test]
    fn a_restored_checkpoint_continues_like_the_original(
        txns in twinflow_oracle::random::transactions(80, 6, true),
        split in 0usize..=80,
        workers in 1usize..=2,
        restored_workers in 1usize..=3,
    ) {
        let split = split.min(txns.len());
        let mut original = Harness::new(workers);
        for txn in &txns[..split] {
            original.apply(std::slice::from_ref(txn));
        }
        let restore = original.checkpoint(3);
        // The original goes on after its checkpoint: the checkpoint is not disturbed by it.
        for txn in &txns[split..] {
            original.apply(std::slice::from_ref(txn));
        }
        let mut restored = Harness::start(restored_workers, Some(restore), tables_after(&txns[..split]));
        restored.check().map_err(TestCaseError::fail)?;
        for txn in &txns[split..] {
            restored.apply(std::slice::from_ref(txn));
            restored.check().map_err(TestCaseError::fail)?;
        }
    }

    /// A source removed now and then: every row of one database's tables retracted in the
    /// timestamp of other transactions, after them. Every published timestamp equals the
    /// oracle, whose tables lose those rows at once.
    #[test]
    fn retracting_a_sources_tables_equals_the_oracle_without_them(
        txns in twinflow_oracle::random::transactions(60, 6, true),
        every in 3usize..=12,
        workers in 1usize..=2,
    ) {
        let databases: Vec<&str> = {
            let mut all: Vec<&str> = TableId::ALL.iter().map(|t| t.schema().database).collect();
            all.dedup();
            all
        };
        let mut harness = Harness::new(workers);
        for (i, chunk) in txns.chunks(2).enumerate() {
            let retracted: Vec<TableId> = if i % every == every - 1 {
                let database = databases[i % databases.len()];
                TableId::ALL.iter().copied().filter(|t| t.schema().database == database).collect()
            } else {
                Vec::new()
            };
            harness.apply_then_retract(chunk, &retracted);
            harness.check().map_err(TestCaseError::fail)?;
        }
    }

    /// Random (also faulty) transaction sequences, grouped into timestamps of one to three
    /// transactions, on one or two workers: every published timestamp equals the oracle.
    #[test]
    fn every_timestamp_equals_the_oracle(
        txns in twinflow_oracle::random::transactions(120, 6, true),
        group in 1usize..=3,
        workers in 1usize..=2,
    ) {
        let mut harness = Harness::new(workers);
        for chunk in txns.chunks(group) {
            harness.apply(chunk);
            harness.check().map_err(TestCaseError::fail)?;
        }
    }
}

/// A longer seeded run on two workers with well-behaved and faulty transactions interleaved.
#[test]
fn a_long_random_stream_equals_the_oracle_at_every_timestamp() {
    let mut source = RandomSource::new(7);
    let mut harness = Harness::new(2);
    let mut seen_non_empty = BTreeSet::new();
    for step in 0..1000 {
        let faulty = step % 5 == 0;
        let txns: Vec<Transaction> = (0..1 + step % 3)
            .map(|_| source.next_transaction(8, faulty))
            .collect();
        harness.apply(&txns);
        match harness.check() {
            Ok(non_empty) => seen_non_empty.extend(non_empty),
            Err(problem) => panic!("step {step}: {problem}"),
        }
    }
    // The comparison is only worth something if every view actually had rows along the way.
    assert_eq!(seen_non_empty, ViewId::ALL.into_iter().collect());
}
