//! Transaction grouping for change streams whose events each carry their transaction, such
//! as Debezium's: consecutive events of one transaction become one [`Transaction`], the
//! initial snapshot becomes one transaction (handed on in parts), and events already taken —
//! re-deliveries after a consumer restart, a rebalance or a Debezium connector restart — are
//! recognised by their binlog position and skipped.
//!
//! When the events of one source are spread over several partitions (Debezium writes a topic
//! per table), the [`OrderedMerge`] puts them back into source order and releases a
//! transaction only once every partition has moved past it, or has been read to its end at
//! least a grace period after the transaction's last event was read. Without Debezium's
//! transaction metadata that is the best anyone can know: an event that still arrives after
//! its transaction was released is not lost — the assembler tells it from a re-delivery
//! (it never took that position) and hands it on as a transaction of its own.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::change::{RowChange, SourceId, SourcePosition, Transaction};
use crate::deadletter::DeadLetter;
use crate::decode::debezium::{ChangeEvent, EventPosition};

/// Changes per part of a long snapshot transaction.
const PART: usize = 4096;

/// How many taken events an assembler remembers by default to recognise re-deliveries.
pub const DEFAULT_DEDUP_WINDOW: usize = 1 << 18;

/// Groups events into transactions.
#[derive(Debug)]
pub struct TransactionAssembler {
    source: SourceId,
    open: Option<Open>,
    taken: TakenPositions,
    duplicates: u64,
    late: u64,
}

/// What [`TransactionAssembler::push`] did with an event.
#[derive(Debug)]
#[must_use]
pub enum Pushed {
    /// Taken into a transaction.
    Taken,
    /// Skipped: an event at this position was taken before.
    Duplicate,
    /// Not taken, because the assembler cannot tell whether it is a re-delivery: its position
    /// is at or before positions it has already forgotten. The caller records the letter.
    Forgotten(Box<DeadLetter>),
}

/// The positions of the streaming events taken lately: a window of the most recent ones, and
/// the newest position that fell out of it.
#[derive(Debug)]
struct TakenPositions {
    capacity: usize,
    order: VecDeque<u128>,
    set: HashSet<u128>,
    /// The newest position taken.
    newest: Option<u128>,
    /// The newest position forgotten.
    horizon: Option<u128>,
}

impl TakenPositions {
    fn new(capacity: usize) -> Self {
        TakenPositions {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            set: HashSet::new(),
            newest: None,
            horizon: None,
        }
    }

    /// Records `position` as taken, forgetting the oldest beyond the capacity.
    fn take(&mut self, position: u128) {
        self.set.insert(position);
        self.order.push_back(position);
        self.newest = self.newest.max(Some(position));
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
                self.horizon = self.horizon.max(Some(old));
            }
        }
    }
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
    /// An assembler for `source`'s events that remembers the positions of the last
    /// `dedup_window` streaming events it took (at least one).
    pub fn new(source: SourceId, dedup_window: usize) -> Self {
        TransactionAssembler {
            source,
            open: None,
            taken: TakenPositions::new(dedup_window),
            duplicates: 0,
            late: 0,
        }
    }

    /// Takes one event, appending what is complete to `out`: the previous transaction when
    /// this event starts another, and parts of a long snapshot. Snapshot events are always
    /// taken; a streaming event only if its position was not taken before.
    pub fn push(&mut self, event: ChangeEvent, out: &mut Vec<Transaction>) -> Pushed {
        if !event.snapshot {
            let position = event.position.ordinal();
            if self.taken.set.contains(&position) {
                self.duplicates += 1;
                return Pushed::Duplicate;
            }
            if self.taken.horizon.is_some_and(|h| position <= h) {
                return Pushed::Forgotten(Box::new(self.forgotten_letter(&event)));
            }
            if self.taken.newest.is_some_and(|n| position < n) {
                self.late += 1;
            }
            self.taken.take(position);
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
        Pushed::Taken
    }

    /// Remembers `event`'s position as taken without taking the event: one applied before a
    /// restart, read again so that a re-delivery of it after the restart is recognised.
    pub fn remember(&mut self, event: &ChangeEvent) {
        let position = event.position.ordinal();
        if !event.snapshot && !self.taken.set.contains(&position) {
            self.taken.take(position);
        }
    }

    /// The dead letter of an event older than the positions remembered.
    fn forgotten_letter(&self, event: &ChangeEvent) -> DeadLetter {
        let position = &event.position;
        DeadLetter::new(
            &self.source,
            SourcePosition::Binlog {
                gtid: event.gtid.clone(),
                file: position.file.clone(),
                pos: position.pos,
            },
            Some(event.change.table.schema().qualified_name()),
            event.change.key(),
            format!(
                "row {} of this binlog event is older than the {} events remembered to \
                 recognise re-deliveries, so it was skipped as one (raise the dedup window if \
                 it was not)",
                position.row, self.taken.capacity
            ),
        )
    }

    /// Completes the open transaction (at the end of the input, or when the stream is idle).
    pub fn flush(&mut self, out: &mut Vec<Transaction>) {
        if let Some(mut open) = self.open.take() {
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

    /// Events taken after a later position had been taken: parts of transactions that
    /// arrived after the rest was handed on.
    pub fn late(&self) -> u64 {
        self.late
    }
}

/// Merges the events of several partitions, each in source order, into whole transactions in
/// source order. `P` names a partition (a topic and partition number, say).
#[derive(Debug)]
pub struct OrderedMerge<P> {
    lanes: BTreeMap<P, Lane>,
    /// Whether transactions with a Debezium transaction id wait for their END marker.
    require_ends: bool,
    /// END markers seen: transaction id → its events in the tables read.
    ends: HashMap<String, u64>,
    /// Events of a transaction (by id) that were dead-lettered: they count towards its END
    /// total, or it would never be complete.
    dead: HashMap<String, u64>,
    /// How long after a transaction's last event was read a partition must still be found at
    /// its end to count as holding none of its events.
    grace: Duration,
    /// How long a transaction with an id waits for its END marker and its events, after its
    /// last event was read, before it is released as it is.
    max_wait: Duration,
    /// Transactions released without their END total reached.
    overdue: u64,
}

#[derive(Debug, Default)]
struct Lane {
    /// Events read and not yet released, with their offsets and when they were read.
    events: VecDeque<(i64, Instant, ChangeEvent)>,
    /// The offset after the last message read.
    next_offset: i64,
    /// When the partition was last found to have no more messages, if it has none since.
    at_end: Option<Instant>,
}

impl<P: Ord + Clone> OrderedMerge<P> {
    /// A merge whose transactions (without END markers) wait `grace` after their last event
    /// was read for partitions at their end, and whose transactions with END markers wait at
    /// most `max_wait` after their last event was read.
    pub fn new(grace: Duration, max_wait: Duration) -> Self {
        OrderedMerge {
            lanes: BTreeMap::new(),
            require_ends: false,
            ends: HashMap::new(),
            dead: HashMap::new(),
            grace,
            max_wait,
            overdue: 0,
        }
    }

    /// Transactions released after waiting `max_wait` without their END total reached.
    pub fn overdue(&self) -> u64 {
        self.overdue
    }

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

    /// The END marker of transaction `id`, with its number of events in the tables read.
    pub fn transaction_ended(&mut self, id: String, events: u64) {
        if events > self.dead.get(&id).copied().unwrap_or(0) {
            self.ends.insert(id, events);
        } else {
            // Nothing of it is left to apply.
            self.dead.remove(&id);
        }
    }

    /// An event of transaction `id` that was dead-lettered: it counts towards the END total.
    pub fn event_dead_lettered(&mut self, id: String) {
        *self.dead.entry(id).or_default() += 1;
    }

    /// The partitions.
    pub fn partitions(&self) -> impl Iterator<Item = &P> {
        self.lanes.keys()
    }

    /// A message at `offset` of `partition`, read at `now`, that carried `event` (`None`: a
    /// message with no change, such as a tombstone or a dead letter, which only moves the
    /// partition on).
    pub fn push(&mut self, partition: &P, offset: i64, event: Option<ChangeEvent>, now: Instant) {
        let lane = self.lanes.entry(partition.clone()).or_default();
        lane.next_offset = lane.next_offset.max(offset + 1);
        lane.at_end = None;
        if let Some(event) = event {
            lane.events.push_back((offset, now, event));
        }
    }

    /// Says whether `partition` was found, at `now`, to have no more messages (read up to its
    /// high watermark).
    pub fn set_at_end(&mut self, partition: &P, at_end: bool, now: Instant) {
        if let Some(lane) = self.lanes.get_mut(partition) {
            lane.at_end = at_end.then_some(now);
        }
    }

    /// The partitions worth asking at `now` whether they are at their end: they hold back the
    /// next transaction (nothing buffered after it, not found at their end late enough), and
    /// asking can settle it — a partition already found at its end is asked again only once
    /// the grace period has passed.
    pub fn waiting(&self, now: Instant) -> Vec<P> {
        let Some((key, read)) = self.next_key() else {
            return Vec::new();
        };
        let ready_after = read + self.grace;
        self.lanes
            .iter()
            .filter(|(_, lane)| {
                !lane.is_past(&key, ready_after) && (lane.at_end.is_none() || now >= ready_after)
            })
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Whether no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.lanes.values().all(|lane| lane.events.is_empty())
    }

    /// The transaction of the earliest buffered event, and when its last buffered event was
    /// read.
    fn next_key(&self) -> Option<(String, Instant)> {
        let key = self
            .lanes
            .values()
            .filter_map(|lane| lane.events.front())
            .min_by(|(_, _, a), (_, _, b)| a.position.cmp(&b.position))
            .map(|(_, _, event)| event.transaction.clone())?;
        let read = self
            .lanes
            .values()
            .filter_map(|lane| lane.last_read_of(&key))
            .max()?;
        Some((key, read))
    }

    /// The offset after the last message read from each partition.
    pub fn read_offsets(&self) -> impl Iterator<Item = (&P, i64)> {
        self.lanes.iter().map(|(p, lane)| (p, lane.next_offset))
    }

    /// The next complete transaction at `now`, if one is.
    pub fn next_transaction(&mut self, now: Instant) -> Option<MergedTransaction<P>> {
        let (key, read) = self.next_key()?;
        let of_key = |lane: &Lane| {
            lane.events
                .iter()
                .take_while(|(_, _, e)| e.transaction == key)
                .count()
        };
        let has_id = self
            .lanes
            .values()
            .filter_map(|lane| lane.events.front())
            .any(|(_, _, e)| e.transaction == key && e.has_transaction_id);
        let complete = if self.require_ends && has_id {
            // The END marker says how many events the transaction has.
            let buffered: usize = self.lanes.values().map(of_key).sum();
            let dead = self.dead.get(&key).copied().unwrap_or(0);
            let ended = self
                .ends
                .get(&key)
                .is_some_and(|&n| buffered as u64 + dead >= n);
            if !ended && now >= read + self.max_wait {
                self.overdue += 1;
                tracing::warn!(
                    transaction = %key,
                    "released after waiting {} ms for its END marker and its events \
                     ({buffered} events arrived)",
                    self.max_wait.as_millis()
                );
            }
            ended || now >= read + self.max_wait
        } else {
            let ready_after = read + self.grace;
            self.lanes
                .values()
                .all(|lane| lane.is_past(&key, ready_after))
        };
        if !complete {
            return None;
        }
        self.ends.remove(&key);
        self.dead.remove(&key);
        let mut events = Vec::new();
        for lane in self.lanes.values_mut() {
            while lane
                .events
                .front()
                .is_some_and(|(_, _, e)| e.transaction == key)
            {
                if let Some((_, _, event)) = lane.events.pop_front() {
                    events.push(event);
                }
            }
        }
        events.sort_by(|a, b| a.position.cmp(&b.position));
        let offsets = self
            .lanes
            .iter()
            .map(|(p, lane)| {
                let offset = lane.events.front().map_or(lane.next_offset, |(o, _, _)| *o);
                (p.clone(), offset)
            })
            .collect();
        Some(MergedTransaction { events, offsets })
    }
}

impl Lane {
    /// Whether this partition holds no more events of transaction `key`, the earliest
    /// buffered one: its latest event belongs to a later transaction, or it was found at its
    /// end at or after `ready_after`. (Looking at the latest event alone keeps this constant
    /// time while a large transaction, such as a snapshot, is buffered.)
    fn is_past(&self, key: &str, ready_after: Instant) -> bool {
        self.events
            .back()
            .is_some_and(|(_, _, e)| e.transaction != key)
            || self.at_end.is_some_and(|at| at >= ready_after)
    }

    /// When this partition's last buffered event of transaction `key` was read, if its
    /// buffered events start with that transaction. A transaction's events are contiguous in
    /// a partition, so the end of the run is found by bisection (a large buffered
    /// transaction, such as a snapshot, is not walked on every look).
    fn last_read_of(&self, key: &str) -> Option<Instant> {
        let run = self
            .events
            .partition_point(|(_, _, e)| e.transaction == key);
        match run.checked_sub(1).map(|last| &self.events[last]) {
            Some((_, read, e)) if e.transaction == key => Some(*read),
            _ => None,
        }
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

    /// The longest wait for an END marker in these tests.
    const WAIT: Duration = Duration::from_secs(30);
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
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"), 16);
        let mut out = Vec::new();
        for e in [
            event("a", 10, 0, false),
            event("a", 10, 1, false),
            event("b", 20, 0, false),
        ] {
            assert!(matches!(assembler.push(e, &mut out), Pushed::Taken));
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
            let _ = assembler.push(e, &mut out);
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
        let now = Instant::now();
        let mut merge = OrderedMerge::new(Duration::ZERO, WAIT);
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        // Transaction a touches both partitions; b only floor.
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), now);
        merge.push(&"floor", 1, Some(event("b", 20, 0, false)), now);
        assert!(
            merge.next_transaction(now).is_none(),
            "room may still hold part of a"
        );
        merge.push(&"room", 0, Some(event("a", 10, 1, false)), now);
        assert!(
            merge.next_transaction(now).is_none(),
            "room may hold more of a"
        );
        merge.push(&"room", 1, None, now);
        merge.set_at_end(&"room", true, now);
        let a = merge.next_transaction(now).expect("a is complete");
        assert_eq!(a.events.len(), 2);
        assert!(a.events.iter().all(|e| e.transaction == "a"));
        assert_eq!(a.offsets, vec![("floor", 1), ("room", 2)]);
        assert!(
            merge.next_transaction(now).is_none(),
            "floor may hold more of b"
        );
        merge.set_at_end(&"floor", true, now);
        let b = merge.next_transaction(now).expect("b");
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.offsets, vec![("floor", 2), ("room", 2)]);
        assert!(merge.next_transaction(now).is_none());
    }

    #[test]
    fn an_event_remembered_from_before_a_restart_is_a_duplicate_when_delivered_again() {
        let mut assembler = TransactionAssembler::new(Arc::from("k"), 8);
        assembler.remember(&event("a", 10, 0, false));
        let mut out = Vec::new();
        assert!(matches!(
            assembler.push(event("a", 10, 0, false), &mut out),
            Pushed::Duplicate
        ));
        assert!(matches!(
            assembler.push(event("b", 11, 0, false), &mut out),
            Pushed::Taken
        ));
        assembler.flush(&mut out);
        assert_eq!(out.len(), 1, "only b is emitted");
        assert_eq!(assembler.duplicates(), 1);
    }

    #[test]
    fn with_transaction_metadata_a_transaction_waits_for_its_end_marker() {
        let now = Instant::now();
        let mut merge = OrderedMerge::new(Duration::ZERO, WAIT);
        merge.require_transaction_ends();
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), now);
        merge.set_at_end(&"floor", true, now);
        merge.set_at_end(&"room", true, now);
        assert!(merge.next_transaction(now).is_none(), "no END for a yet");
        merge.transaction_ended("a".into(), 2);
        assert!(
            merge.next_transaction(now).is_none(),
            "one of a's two events is still missing"
        );
        merge.push(&"room", 0, Some(event("a", 10, 1, false)), now);
        let a = merge.next_transaction(now).expect("a is complete");
        assert_eq!(a.events.len(), 2);
    }

    #[test]
    fn a_dead_lettered_event_counts_towards_its_end_total() {
        let now = Instant::now();
        let mut merge = OrderedMerge::new(Duration::ZERO, WAIT);
        merge.require_transaction_ends();
        merge.add_partition("floor", 0);
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), now);
        merge.push(&"floor", 1, None, now);
        merge.event_dead_lettered("a".into());
        merge.transaction_ended("a".into(), 2);
        let a = merge.next_transaction(now).expect("a is complete");
        assert_eq!(a.events.len(), 1);
        // A transaction all of whose events were dead letters leaves nothing waiting.
        merge.event_dead_lettered("b".into());
        merge.transaction_ended("b".into(), 1);
        assert!(merge.ends.is_empty() && merge.dead.is_empty());
    }

    #[test]
    fn a_transaction_whose_end_never_comes_is_released_after_the_longest_wait() {
        let read = Instant::now();
        let mut merge = OrderedMerge::new(Duration::ZERO, WAIT);
        merge.require_transaction_ends();
        merge.add_partition("floor", 0);
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), read);
        assert!(merge.next_transaction(read + WAIT / 2).is_none());
        assert_eq!(merge.overdue(), 0);
        let a = merge.next_transaction(read + WAIT).expect("released");
        assert_eq!(a.events.len(), 1);
        assert_eq!(merge.overdue(), 1);
    }

    #[test]
    fn partitions_at_their_end_release_a_transaction_only_after_the_grace_period() {
        let read = Instant::now();
        let grace = Duration::from_millis(100);
        let mut merge = OrderedMerge::new(grace, WAIT);
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), read);
        merge.set_at_end(&"floor", true, read);
        merge.set_at_end(&"room", true, read);
        assert!(
            merge.next_transaction(read + grace).is_none(),
            "room's part of a may not be written yet"
        );
        assert!(
            merge.waiting(read).is_empty(),
            "nothing to ask before the grace period is over"
        );
        assert_eq!(merge.waiting(read + grace), vec!["floor", "room"]);
        merge.set_at_end(&"floor", true, read + grace);
        merge.set_at_end(&"room", true, read + grace);
        assert!(merge.waiting(read + grace).is_empty());
        assert_eq!(
            merge
                .next_transaction(read + grace)
                .expect("a")
                .events
                .len(),
            1
        );
    }

    #[test]
    fn an_event_arriving_after_its_transaction_was_released_is_taken_but_a_redelivery_is_not() {
        let now = Instant::now();
        let mut merge = OrderedMerge::new(Duration::ZERO, WAIT);
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"), 16);
        let mut out = Vec::new();
        let mut release = |merge: &mut OrderedMerge<&str>, out: &mut Vec<Transaction>| {
            while let Some(merged) = merge.next_transaction(now) {
                for e in merged.events {
                    let _ = assembler.push(e, out);
                }
                assembler.flush(out);
            }
        };
        merge.add_partition("floor", 0);
        merge.add_partition("room", 0);
        // a's floor event and b are read; room's part of a is not written yet.
        merge.push(&"floor", 0, Some(event("a", 10, 0, false)), now);
        merge.push(&"floor", 1, Some(event("b", 20, 0, false)), now);
        merge.set_at_end(&"floor", true, now);
        merge.set_at_end(&"room", true, now);
        release(&mut merge, &mut out);
        assert_eq!(out.len(), 2, "a (in part) and b are released");
        // Room's part of a arrives, and then floor re-delivers a and b.
        merge.push(&"room", 0, Some(event("a", 10, 1, false)), now);
        merge.set_at_end(&"room", true, now);
        release(&mut merge, &mut out);
        merge.push(&"floor", 2, Some(event("a", 10, 0, false)), now);
        merge.push(&"floor", 3, Some(event("b", 20, 0, false)), now);
        merge.set_at_end(&"floor", true, now);
        release(&mut merge, &mut out);
        let changes: Vec<usize> = out.iter().map(|t| t.changes.len()).collect();
        assert_eq!(changes, vec![1, 1, 1], "the late event is applied once");
        assert_eq!(assembler.late(), 1);
        assert_eq!(assembler.duplicates(), 2);
    }

    #[test]
    fn an_event_before_the_forgotten_positions_is_handed_back() {
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"), 2);
        let mut out = Vec::new();
        for pos in [10, 20, 30] {
            let _ = assembler.push(event("t", pos, 0, false), &mut out);
            assembler.flush(&mut out);
        }
        assert!(matches!(
            assembler.push(event("t", 20, 0, false), &mut out),
            Pushed::Duplicate
        ));
        assert!(matches!(
            assembler.push(event("t", 10, 0, false), &mut out),
            Pushed::Forgotten(_)
        ));
        assert!(matches!(
            assembler.push(event("t", 5, 0, false), &mut out),
            Pushed::Forgotten(_)
        ));
        assert!(matches!(
            assembler.push(event("t", 25, 0, false), &mut out),
            Pushed::Taken
        ));
    }

    #[test]
    fn a_snapshot_is_one_transaction_in_parts() {
        let mut assembler = TransactionAssembler::new(Arc::from("dbz"), 16);
        let mut out = Vec::new();
        for i in 0..(PART as u64 + 10) {
            assert!(matches!(
                assembler.push(event("ignored", 5, i, true), &mut out),
                Pushed::Taken
            ));
        }
        let mut last = event("ignored", 5, 0, true);
        last.last_of_snapshot = true;
        let _ = assembler.push(last, &mut out);
        assert_eq!(out.len(), 2);
        assert!(out[0].more_follows && !out[1].more_follows);
        assert_eq!(
            out.iter().map(|t| t.changes.len()).sum::<usize>(),
            PART + 11
        );
        assert!(!assembler.is_open());
    }
}
