//! Transaction grouping for change streams whose events each carry their transaction, such
//! as Debezium's: consecutive events of one transaction become one [`Transaction`], the
//! initial snapshot becomes one transaction (handed on in parts), and events at or before the
//! position of a transaction already completed — re-deliveries after a consumer restart or a
//! rebalance — are recognised and skipped.

use crate::change::{RowChange, SourceId, SourcePosition, Transaction};
use crate::decode::debezium::{ChangeEvent, EventPosition};

/// Changes per part of a long snapshot transaction.
const PART: usize = 4096;

/// Groups events into transactions.
#[derive(Debug)]
pub struct TransactionAssembler {
    source: SourceId,
    open: Option<Open>,
    /// The newest position of a completed streaming transaction.
    applied: Option<EventPosition>,
    duplicates: u64,
}

#[derive(Debug)]
struct Open {
    key: String,
    snapshot: bool,
    changes: Vec<RowChange>,
    last: EventPosition,
    gtid: Option<String>,
    ts_ms: u64,
    /// Parts of this transaction already handed on.
    parts: usize,
}

impl TransactionAssembler {
    /// An assembler for `source`'s events.
    pub fn new(source: SourceId) -> Self {
        TransactionAssembler {
            source,
            open: None,
            applied: None,
            duplicates: 0,
        }
    }

    /// Takes one event, appending what is complete to `out`: the previous transaction when
    /// this event starts another, and parts of a long snapshot.
    pub fn push(&mut self, event: ChangeEvent, out: &mut Vec<Transaction>) {
        if !event.snapshot && self.applied.as_ref().is_some_and(|a| event.position <= *a) {
            self.duplicates += 1;
            return;
        }
        let key = if event.snapshot {
            "snapshot".to_string()
        } else {
            event.transaction
        };
        if self.open.as_ref().is_some_and(|o| o.key != key) {
            self.flush(out);
        }
        let open = self.open.get_or_insert_with(|| Open {
            key,
            snapshot: event.snapshot,
            changes: Vec::new(),
            last: EventPosition::default(),
            gtid: None,
            ts_ms: 0,
            parts: 0,
        });
        open.changes.push(event.change);
        open.last = open.last.clone().max(event.position);
        open.gtid = event.gtid.or(open.gtid.take());
        open.ts_ms = open.ts_ms.max(event.ts_ms);
        if open.snapshot && open.changes.len() >= PART {
            let part = std::mem::take(&mut open.changes);
            open.parts += 1;
            out.push(transaction(&self.source, open, part, true));
        }
        if event.last_of_snapshot {
            self.flush(out);
        }
    }

    /// Completes the open transaction (at the end of the input, or when the stream is idle).
    pub fn flush(&mut self, out: &mut Vec<Transaction>) {
        if let Some(mut open) = self.open.take() {
            if !open.snapshot {
                self.applied = Some(open.last.clone());
            }
            let changes = std::mem::take(&mut open.changes);
            out.push(transaction(&self.source, &open, changes, false));
        }
    }

    /// Whether a transaction is open (its end not seen yet).
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Events skipped as re-deliveries so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

fn transaction(
    source: &SourceId,
    open: &Open,
    changes: Vec<RowChange>,
    more_follows: bool,
) -> Transaction {
    Transaction {
        source: source.clone(),
        position: SourcePosition::Binlog {
            gtid: open.gtid.clone(),
            file: open.last.file.clone(),
            pos: open.last.pos,
        },
        commit_time_ms: open.ts_ms,
        changes,
        more_follows,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::TableId;
    use crate::decode::debezium::Op;
    use crate::value::Value;

    fn event(txn: &str, pos: u64, row: u64, snapshot: bool) -> ChangeEvent {
        let image: crate::Row = vec![
            Value::Int(pos as i64),
            Value::Int(1),
            Value::Int(0),
            Value::text("F"),
        ]
        .into();
        ChangeEvent {
            change: RowChange::insert(TableId::Floor, image),
            op: if snapshot { Op::Read } else { Op::Create },
            snapshot,
            last_of_snapshot: false,
            position: EventPosition {
                file: "binlog.000001".into(),
                pos,
                row,
            },
            transaction: txn.into(),
            gtid: None,
            ts_ms: pos,
        }
    }

    #[test]
    fn consecutive_events_of_a_transaction_become_one_and_redeliveries_are_skipped() {
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"));
        let mut out = Vec::new();
        for e in [
            event("a", 10, 0, false),
            event("a", 10, 1, false),
            event("b", 20, 0, false),
        ] {
            assembler.push(e, &mut out);
        }
        assert_eq!(out.len(), 1, "a completes when b starts");
        assert_eq!(out[0].changes.len(), 2);
        assert!(assembler.is_open());
        assembler.flush(&mut out);
        assert_eq!(out.len(), 2);
        // A consumer restart delivers a and b again, then c.
        for e in [
            event("a", 10, 0, false),
            event("b", 20, 0, false),
            event("c", 30, 0, false),
        ] {
            assembler.push(e, &mut out);
        }
        assembler.flush(&mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(assembler.duplicates(), 2);
        assert!(matches!(
            &out[2].position,
            SourcePosition::Binlog { pos: 30, .. }
        ));
    }

    #[test]
    fn a_snapshot_is_one_transaction_in_parts() {
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"));
        let mut out = Vec::new();
        for i in 0..(PART as u64 + 10) {
            assembler.push(event("ignored", 5, i, true), &mut out);
        }
        let mut last = event("ignored", 5, 0, true);
        last.last_of_snapshot = true;
        assembler.push(last, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].more_follows && !out[1].more_follows);
        assert_eq!(
            out.iter().map(|t| t.changes.len()).sum::<usize>(),
            PART + 11
        );
        assert!(!assembler.is_open());
    }
}
