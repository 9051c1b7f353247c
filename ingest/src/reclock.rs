//! Reclocking: from source transactions to the engine's logical timestamps.
//!
//! Every source transaction lands in exactly one timestamp. Several small transactions may share
//! a timestamp (that is what makes high change rates cheap); a timestamp is sealed when it holds
//! enough changes, or when the input runs dry, but never while a transaction is only partly in.
//! The changes of an open timestamp are handed on in batches of up to a chunk size, so the
//! engine's queues see a few large batches rather than one message per transaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::TableId;
use crate::change::{RowChange, SourceId, SourcePosition, Transaction};

/// The engine's logical time. Timestamps start at 1 and increase by one per sealed batch.
pub type Timestamp = u64;

/// What the reclocker hands to the engine.
#[derive(Clone, Debug)]
pub enum TimestampedBatch {
    /// Changes at an open timestamp; more may follow for the same timestamp.
    Changes {
        /// The timestamp the changes belong to.
        ts: Timestamp,
        /// The changes.
        changes: Vec<RowChange>,
    },
    /// Every row of `tables` is retracted at `ts` (after the changes at `ts` handed on
    /// before it): a removed source's contribution, gone in one timestamp.
    Retract {
        /// The timestamp of the retraction.
        ts: Timestamp,
        /// The tables emptied.
        tables: Vec<TableId>,
    },
    /// Timestamp `ts` is complete: no more changes for it will come.
    Seal(Seal),
}

/// The end of one timestamp and what it covers.
#[derive(Clone, Debug, Default)]
pub struct Seal {
    /// The sealed timestamp.
    pub ts: Timestamp,
    /// For every source with a transaction in this timestamp: its position after the last one,
    /// and that transaction's commit time (ms since the epoch).
    pub positions: Vec<(SourceId, SourcePosition, u64)>,
    /// Source transactions in this timestamp.
    pub transactions: u64,
    /// Row changes in this timestamp.
    pub changes: u64,
    /// Sources removed in this timestamp: they have no position from here on.
    pub removed: Vec<SourceId>,
}

/// Assigns timestamps to transactions.
#[derive(Debug)]
pub struct Reclocker {
    max_changes_per_ts: usize,
    chunk: usize,
    pending: Vec<RowChange>,
    open: Option<Seal>,
    next_ts: Timestamp,
    /// Sources whose current transaction has more parts to come.
    in_progress: BTreeSet<SourceId>,
    positions: BTreeMap<SourceId, (SourcePosition, u64)>,
}

impl Reclocker {
    /// A reclocker whose first timestamp is `first_ts`, sealing once a timestamp holds
    /// `max_changes_per_ts` changes (a single larger transaction still gets one timestamp).
    pub fn new(first_ts: Timestamp, max_changes_per_ts: usize) -> Self {
        Reclocker {
            max_changes_per_ts: max_changes_per_ts.max(1),
            chunk: Self::CHUNK,
            pending: Vec::new(),
            open: None,
            next_ts: first_ts.max(1),
            in_progress: BTreeSet::new(),
            positions: BTreeMap::new(),
        }
    }

    /// Changes handed on per [`TimestampedBatch::Changes`], at most: small enough that the
    /// workers start on a timestamp while the rest of it still arrives.
    pub const CHUNK: usize = 512;

    /// The timestamp currently collecting changes, if one is open.
    pub fn open_timestamp(&self) -> Option<Timestamp> {
        self.open.as_ref().map(|o| o.ts)
    }

    /// Takes one transaction (or part of one), appending what is ready for the engine to `out`.
    pub fn push(&mut self, txn: Transaction, out: &mut Vec<TimestampedBatch>) {
        // A full timestamp is sealed before the next transaction, unless some source is in the
        // middle of one: its remaining parts must land in the same timestamp.
        let full = self
            .open
            .as_ref()
            .is_some_and(|o| o.changes as usize >= self.max_changes_per_ts);
        if full && self.in_progress.is_empty() {
            self.seal(out);
        }
        let open = open_or_new(&mut self.open, &mut self.next_ts);
        let ts = open.ts;
        open.changes += txn.changes.len() as u64;
        if txn.more_follows {
            self.in_progress.insert(txn.source.clone());
        } else {
            self.in_progress.remove(&txn.source);
            open.transactions += 1;
        }
        self.positions
            .insert(txn.source.clone(), (txn.position, txn.commit_time_ms));
        if self.pending.is_empty() && txn.changes.len() >= self.chunk {
            out.push(TimestampedBatch::Changes {
                ts,
                changes: txn.changes,
            });
            return;
        }
        self.pending.extend(txn.changes);
        if self.pending.len() >= self.chunk {
            self.flush(ts, out);
        }
    }

    /// Removes `source`: every row of `tables` (the tables it alone feeds) is retracted in the
    /// open timestamp, or a new one, after everything taken before; a transaction of its still
    /// in parts is dropped with the rest. Returns the retraction's timestamp.
    pub fn retract(
        &mut self,
        source: &SourceId,
        tables: Vec<TableId>,
        out: &mut Vec<TimestampedBatch>,
    ) -> Timestamp {
        self.in_progress.remove(source);
        self.positions.remove(source);
        let open = open_or_new(&mut self.open, &mut self.next_ts);
        let ts = open.ts;
        open.transactions += 1;
        open.removed.push(source.clone());
        self.flush(ts, out);
        out.push(TimestampedBatch::Retract { ts, tables });
        ts
    }

    /// The input has run dry for now: seal the open timestamp unless a transaction is mid-way.
    pub fn idle(&mut self, out: &mut Vec<TimestampedBatch>) {
        if self.in_progress.is_empty() && self.open.is_some() {
            self.seal(out);
        }
    }

    fn flush(&mut self, ts: Timestamp, out: &mut Vec<TimestampedBatch>) {
        if !self.pending.is_empty() {
            let changes = std::mem::replace(&mut self.pending, Vec::with_capacity(self.chunk));
            out.push(TimestampedBatch::Changes { ts, changes });
        }
    }

    fn seal(&mut self, out: &mut Vec<TimestampedBatch>) {
        if let Some(mut seal) = self.open.take() {
            self.flush(seal.ts, out);
            seal.positions = std::mem::take(&mut self.positions)
                .into_iter()
                .map(|(source, (position, commit))| (source, position, commit))
                .collect();
            out.push(TimestampedBatch::Seal(seal));
        }
    }
}

/// The open timestamp, opened as `next_ts` (which moves on) if none is.
fn open_or_new<'a>(open: &'a mut Option<Seal>, next_ts: &mut Timestamp) -> &'a mut Seal {
    open.get_or_insert_with(|| {
        let seal = Seal {
            ts: *next_ts,
            ..Seal::default()
        };
        *next_ts += 1;
        seal
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::value::Value;

    fn txn(seq: u64, n: usize, more_follows: bool) -> Transaction {
        let row: crate::Row = Arc::from(vec![Value::Int(1), Value::Int(1), Value::Int(1)]);
        Transaction {
            source: Arc::from("gen"),
            position: SourcePosition::Generator { seq },
            commit_time_ms: seq,
            changes: vec![RowChange::insert(TableId::TableJob, row); n],
            more_follows,
        }
    }

    fn seals(out: &[TimestampedBatch]) -> Vec<(Timestamp, u64, u64)> {
        out.iter()
            .filter_map(|b| match b {
                TimestampedBatch::Seal(s) => Some((s.ts, s.transactions, s.changes)),
                TimestampedBatch::Changes { .. } | TimestampedBatch::Retract { .. } => None,
            })
            .collect()
    }

    #[test]
    fn small_transactions_share_a_timestamp_until_full() {
        let mut r = Reclocker::new(1, 10);
        let mut out = Vec::new();
        for seq in 0..5 {
            r.push(txn(seq, 4, false), &mut out);
        }
        r.idle(&mut out);
        assert_eq!(seals(&out), vec![(1, 3, 12), (2, 2, 8)]);
    }

    #[test]
    fn changes_of_one_timestamp_travel_in_few_batches() {
        let mut r = Reclocker::new(1, 100_000);
        let mut out = Vec::new();
        for seq in 0..10_000 {
            r.push(txn(seq, 1, false), &mut out);
        }
        r.idle(&mut out);
        let batches: Vec<usize> = out
            .iter()
            .filter_map(|b| match b {
                TimestampedBatch::Changes { changes, .. } => Some(changes.len()),
                TimestampedBatch::Seal(_) | TimestampedBatch::Retract { .. } => None,
            })
            .collect();
        assert_eq!(batches.iter().sum::<usize>(), 10_000);
        assert_eq!(batches.len(), 10_000usize.div_ceil(Reclocker::CHUNK));
    }

    #[test]
    fn a_transaction_in_parts_is_never_split() {
        let mut r = Reclocker::new(1, 2);
        let mut out = Vec::new();
        r.push(txn(0, 5, true), &mut out);
        r.idle(&mut out);
        r.push(txn(0, 5, true), &mut out);
        r.push(txn(0, 5, false), &mut out);
        r.push(txn(1, 1, false), &mut out);
        r.idle(&mut out);
        assert_eq!(seals(&out), vec![(1, 1, 15), (2, 1, 1)]);
        let mut changes_per_ts = BTreeMap::new();
        for batch in &out {
            if let TimestampedBatch::Changes { ts, changes } = batch {
                *changes_per_ts.entry(*ts).or_insert(0) += changes.len();
            }
        }
        assert_eq!(
            changes_per_ts.into_iter().collect::<Vec<_>>(),
            vec![(1, 15), (2, 1)]
        );
    }

    #[test]
    fn another_sources_whole_transaction_does_not_end_one_in_parts() {
        let mut r = Reclocker::new(1, 2);
        let mut out = Vec::new();
        let from = |source: &str, seq, n, more_follows| Transaction {
            source: Arc::from(source),
            ..txn(seq, n, more_follows)
        };
        r.push(from("a", 0, 5, true), &mut out);
        r.push(from("b", 0, 5, false), &mut out);
        r.idle(&mut out);
        r.push(from("b", 1, 5, false), &mut out);
        r.push(from("a", 0, 5, false), &mut out);
        r.idle(&mut out);
        // Source a's two parts share timestamp 1, whatever source b did meanwhile.
        assert_eq!(seals(&out), vec![(1, 3, 20)]);
    }

    #[test]
    fn a_retraction_follows_what_came_before_and_ends_its_sources_transaction() {
        let mut r = Reclocker::new(1, 100);
        let mut out = Vec::new();
        let from = |source: &str, seq, n, more_follows| Transaction {
            source: Arc::from(source),
            ..txn(seq, n, more_follows)
        };
        r.push(from("a", 0, 2, false), &mut out);
        r.push(from("b", 0, 3, true), &mut out);
        let ts = r.retract(&Arc::from("b"), vec![TableId::TableJob], &mut out);
        // b's half-read transaction no longer holds the timestamp open.
        r.idle(&mut out);
        assert_eq!(ts, 1);
        let kinds: Vec<&str> = out
            .iter()
            .map(|b| match b {
                TimestampedBatch::Changes { .. } => "changes",
                TimestampedBatch::Retract { .. } => "retract",
                TimestampedBatch::Seal(_) => "seal",
            })
            .collect();
        assert_eq!(kinds, ["changes", "retract", "seal"]);
        let Some(TimestampedBatch::Seal(seal)) = out.last() else {
            panic!("no seal");
        };
        let sources: Vec<&str> = seal.positions.iter().map(|(s, _, _)| &**s).collect();
        assert_eq!(sources, ["a"]);
        assert_eq!(seal.removed, vec![Arc::<str>::from("b")]);
    }

    #[test]
    fn a_seal_carries_each_sources_last_position() {
        let mut r = Reclocker::new(7, 100);
        let mut out = Vec::new();
        r.push(txn(3, 1, false), &mut out);
        r.push(txn(4, 1, false), &mut out);
        r.idle(&mut out);
        let TimestampedBatch::Seal(seal) = out.last().expect("sealed") else {
            panic!("no seal")
        };
        assert_eq!(seal.ts, 7);
        assert_eq!(seal.positions.len(), 1);
        assert_eq!(seal.positions[0].1, SourcePosition::Generator { seq: 4 });
    }
}
