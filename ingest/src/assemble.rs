//! Transaction grouping for change streams whose events each carry their transaction, such
//! as Debezium's: consecutive events of one transaction become one [`Transaction`], the
//! initial snapshot becomes one transaction (handed on in parts), and events at or before the
//! position of a transaction already completed — re-deliveries after a consumer restart or a
//! rebalance — are recognised and skipped.
//!
//! When the events of one source are spread over several partitions (Debezium writes a topic
//! per table), the [`OrderedMerge`] puts them back into source order and releases a
//! transaction only once every partition has moved past it or reached its end.

use std::collections::{BTreeMap, HashMap, VecDeque};

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

/// Merges the events of several partitions, each in source order, into whole transactions in
/// source order. `P` names a partition (a topic and partition number, say).
#[derive(Debug)]
pub struct OrderedMerge<P> {
    lanes: BTreeMap<P, Lane>,
    /// Whether transactions with a Debezium transaction id wait for their END marker.
    require_ends: bool,
    /// END markers seen: transaction id → its events in catalog tables.
    ends: HashMap<String, u64>,
}

#[derive(Debug, Default)]
struct Lane {
    /// Events read and not yet released, with their offsets.
    events: VecDeque<(i64, ChangeEvent)>,
    /// The offset after the last message read.
    next_offset: i64,
    /// Whether the partition has no more messages for now.
    at_end: bool,
}

impl<P: Ord + Clone> Default for OrderedMerge<P> {
    fn default() -> Self {
        OrderedMerge {
            lanes: BTreeMap::new(),
            require_ends: false,
            ends: HashMap::new(),
        }
    }
}

impl<P: Ord + Clone> OrderedMerge<P> {
    /// Adds a partition whose next message is at `next_offset`.
    pub fn add_partition(&mut self, partition: P, next_offset: i64) {
        self.lanes.entry(partition).or_insert_with(|| Lane {
            next_offset,
            ..Lane::default()
        });
    }

    /// From now on, a transaction whose events carry a Debezium transaction id is complete
    /// when its END marker has been seen and all its events have arrived (the source reads the
    /// transaction metadata topic).
    pub fn require_transaction_ends(&mut self) {
        self.require_ends = true;
    }

    /// The END marker of transaction `id`, with its number of events in catalog tables.
    pub fn transaction_ended(&mut self, id: String, catalog_events: u64) {
        if catalog_events > 0 {
            self.ends.insert(id, catalog_events);
        }
    }

    /// The partitions.
    pub fn partitions(&self) -> impl Iterator<Item = &P> {
        self.lanes.keys()
    }

    /// A message at `offset` of `partition` that carried `event` (`None`: a message with no
    /// change, such as a tombstone or a dead letter, which only moves the partition on).
    pub fn push(&mut self, partition: &P, offset: i64, event: Option<ChangeEvent>) {
        let lane = self.lanes.entry(partition.clone()).or_default();
        lane.next_offset = lane.next_offset.max(offset + 1);
        lane.at_end = false;
        if let Some(event) = event {
            lane.events.push_back((offset, event));
        }
    }

    /// Says whether `partition` has no more messages for now (read up to its high watermark).
    pub fn set_at_end(&mut self, partition: &P, at_end: bool) {
        if let Some(lane) = self.lanes.get_mut(partition) {
            lane.at_end = at_end;
        }
    }

    /// The partitions that hold back the next transaction: not known to be at their end, and
    /// with nothing buffered after it.
    pub fn waiting(&self) -> Vec<P> {
        let Some(key) = self.next_key() else {
            return Vec::new();
        };
        self.lanes
            .iter()
            .filter(|(_, lane)| {
                !lane.at_end && lane.events.iter().all(|(_, e)| e.transaction == key)
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Whether no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.lanes.values().all(|lane| lane.events.is_empty())
    }

    /// The transaction of the earliest buffered event.
    fn next_key(&self) -> Option<String> {
        self.lanes
            .values()
            .filter_map(|lane| lane.events.front())
            .min_by(|(_, a), (_, b)| a.position.cmp(&b.position))
            .map(|(_, event)| event.transaction.clone())
    }

    /// The offset after the last message read from each partition.
    pub fn read_offsets(&self) -> impl Iterator<Item = (&P, i64)> {
        self.lanes.iter().map(|(p, lane)| (p, lane.next_offset))
    }

    /// The next complete transaction, if one is.
    pub fn next_transaction(&mut self) -> Option<MergedTransaction<P>> {
        let key = self.next_key()?;
        let of_key = |lane: &Lane| {
            lane.events
                .iter()
                .take_while(|(_, e)| e.transaction == key)
                .count()
        };
        let has_id = self
            .lanes
            .values()
            .filter_map(|lane| lane.events.front())
            .any(|(_, e)| e.transaction == key && e.has_transaction_id);
        let complete = if self.require_ends && has_id {
            // The END marker says how many events the transaction has.
            let buffered: usize = self.lanes.values().map(of_key).sum();
            self.ends.get(&key).is_some_and(|&n| buffered as u64 >= n)
        } else {
            self.lanes
                .values()
                .all(|lane| lane.at_end || lane.events.iter().any(|(_, e)| e.transaction != key))
        };
        if !complete {
            return None;
        }
        self.ends.remove(&key);
        let mut events = Vec::new();
        for lane in self.lanes.values_mut() {
            while lane
                .events
                .front()
                .is_some_and(|(_, e)| e.transaction == key)
            {
                if let Some((_, event)) = lane.events.pop_front() {
                    events.push(event);
                }
            }
        }
        events.sort_by(|a, b| a.position.cmp(&b.position));
        let offsets = self
            .lanes
            .iter()
            .map(|(p, lane)| {
                let offset = lane.events.front().map_or(lane.next_offset, |(o, _)| *o);
                (p.clone(), offset)
            })
            .collect();
        Some(MergedTransaction { events, offsets })
    }
}

/// A transaction released by an [`OrderedMerge`].
#[derive(Debug)]
pub struct MergedTransaction<P> {
    /// Its events, in source order.
    pub events: Vec<ChangeEvent>,
    /// Per partition, the offset below which every message belongs to this transaction or an
    /// earlier one: committing these is safe once the transaction is applied.
    pub offsets: Vec<(P, i64)>,
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
            has_transaction_id: true,
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
    fn a_merge_releases_transactions_in_source_order_once_every_partition_is_past_them() {
        let mut merge = OrderedMerge::default();
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        // Transaction a touches both partitions; b only floor.
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)));
        merge.push(&"floor", 1, Some(event("b", 20, 0, false)));
        assert!(
            merge.next_transaction().is_none(),
            "room may still hold part of a"
        );
        merge.push(&"room", 0, Some(event("a", 10, 1, false)));
        assert!(
            merge.next_transaction().is_none(),
            "room may hold more of a"
        );
        merge.push(&"room", 1, None);
        merge.set_at_end(&"room", true);
        let a = merge.next_transaction().expect("a is complete");
        assert_eq!(a.events.len(), 2);
        assert!(a.events.iter().all(|e| e.transaction == "a"));
        assert_eq!(a.offsets, vec![("floor", 1), ("room", 2)]);
        assert!(
            merge.next_transaction().is_none(),
            "floor may hold more of b"
        );
        merge.set_at_end(&"floor", true);
        let b = merge.next_transaction().expect("b");
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.offsets, vec![("floor", 2), ("room", 2)]);
        assert!(merge.next_transaction().is_none());
    }

    #[test]
    fn with_transaction_metadata_a_transaction_waits_for_its_end_marker() {
        let mut merge = OrderedMerge::default();
        merge.require_transaction_ends();
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)));
        merge.set_at_end(&"floor", true);
        merge.set_at_end(&"room", true);
        assert!(merge.next_transaction().is_none(), "no END for a yet");
        merge.transaction_ended("a".into(), 2);
        assert!(
            merge.next_transaction().is_none(),
            "one of a's two events is still missing"
        );
        merge.push(&"room", 0, Some(event("a", 10, 1, false)));
        let a = merge.next_transaction().expect("a is complete");
        assert_eq!(a.events.len(), 2);
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
