//! What the Kafka source makes of the messages it reads, whatever delivers them: Debezium
//! events decoded, merged back into binlog order across partitions, assembled into engine
//! transactions that carry the offsets they cover. The source's loop ([`super::source`])
//! does the transport: assigning partitions, fetching, asking for watermarks, committing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinflow_ingest::decode::debezium::{
    decode_event, decode_transaction_end, transaction_id_of, DecimalMode,
};
use twinflow_ingest::{
    now_ms, DeadLetter, DeadLetterLog, OrderedMerge, Pushed, SourcePosition, TableId, Transaction,
    TransactionAssembler,
};

use super::source::KafkaSourceConfig;

/// A partition: topic and number.
pub type Partition = (String, i32);

/// One message as read from a partition.
#[derive(Clone, Copy, Debug)]
pub struct TopicMessage<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its value (`None`: a tombstone).
    pub payload: Option<&'a [u8]>,
}

impl TopicMessage<'_> {
    fn position(&self) -> SourcePosition {
        SourcePosition::Kafka {
            offsets: vec![(self.topic.to_string(), self.partition, self.offset)],
        }
    }
}

/// Turns the messages of a source's partitions into engine transactions.
pub struct EventReader {
    name: Arc<str>,
    decimals: DecimalMode,
    /// Per partition, the offset an earlier run had applied up to (exclusive).
    resume: BTreeMap<Partition, i64>,
    /// How far below its resume offset a partition is read again, to remember what was
    /// applied there (so that a re-delivery of it is recognised).
    lookback: i64,
    merge: OrderedMerge<Partition>,
    /// The transaction metadata topic's partitions and the offset read in each.
    metadata: BTreeMap<Partition, i64>,
    assembler: TransactionAssembler,
    /// The tables this source reads: an END marker's total counts only their events.
    tables: Vec<TableId>,
    /// The offsets of the last transaction handed out.
    sent_offsets: Vec<(String, i32, i64)>,
    dead_letters: Arc<DeadLetterLog>,
}

impl EventReader {
    /// A reader for `config`'s topics; with `resume` (the offsets of an earlier run's last
    /// applied transaction), each partition it names continues from there.
    pub fn new(
        config: &KafkaSourceConfig,
        resume: Option<SourcePosition>,
        dead_letters: Arc<DeadLetterLog>,
    ) -> EventReader {
        let name: Arc<str> = Arc::from(config.source_name());
        let resume: BTreeMap<Partition, i64> = match resume {
            Some(SourcePosition::Kafka { offsets }) => offsets
                .into_iter()
                .map(|(topic, partition, next)| ((topic, partition), next))
                .collect(),
            Some(other) => {
                tracing::warn!(source = %name, "ignoring a restored position that is not Kafka offsets: {other}");
                BTreeMap::new()
            }
            None => BTreeMap::new(),
        };
        // The last `dedup_window` events, shared among the partitions.
        let lookback = i64::try_from(config.dedup_window / resume.len().max(1)).unwrap_or(i64::MAX);
        EventReader {
            assembler: TransactionAssembler::new(name.clone(), config.dedup_window),
            name,
            decimals: config.decimals,
            resume,
            lookback,
            merge: OrderedMerge::new(
                Duration::from_millis(config.transaction_grace_ms),
                Duration::from_millis(config.transaction_max_wait_ms),
            ),
            tables: config.tables(),
            metadata: BTreeMap::new(),
            sent_offsets: Vec::new(),
            dead_letters,
        }
    }

    /// Whether `partition` is read already (of the metadata topic when `metadata`).
    pub fn reads(&self, partition: &Partition, metadata: bool) -> bool {
        if metadata {
            self.metadata.contains_key(partition)
        } else {
            self.merge.partitions().any(|p| p == partition)
        }
    }

    /// Starts reading the `events` partitions (change events) and the `metadata` partitions
    /// (transaction markers). Returns every partition read with the offset to fetch next:
    /// the new ones from their start, the others where they are.
    pub fn add_partitions(
        &mut self,
        events: Vec<Partition>,
        metadata: Vec<Partition>,
    ) -> Vec<(Partition, i64)> {
        let mut starts = BTreeMap::new();
        for key in events {
            let next = self.resume.get(&key).copied().unwrap_or(0);
            starts.insert(key.clone(), next.saturating_sub(self.lookback).max(0));
            self.merge.add_partition(key, next);
        }
        if !metadata.is_empty() {
            // From now on transactions with an id wait for their END markers.
            self.merge.require_transaction_ends();
            self.metadata
                .extend(metadata.into_iter().map(|key| (key, 0)));
        }
        self.merge
            .read_offsets()
            .chain(self.metadata.iter().map(|(p, o)| (p, *o)))
            .map(|(key, next)| (key.clone(), starts.get(key).copied().unwrap_or(next)))
            .collect()
    }

    /// Takes one message, read at `now`.
    pub fn receive(&mut self, message: TopicMessage<'_>, now: Instant) {
        let partition = (message.topic.to_string(), message.partition);
        if let Some(read) = self.metadata.get_mut(&partition) {
            *read = message.offset + 1;
            match decode_transaction_end(message.payload) {
                Ok(Some(end)) => {
                    let events = end.events_in(|table| self.tables.contains(&table));
                    self.merge.transaction_ended(end.id, events);
                }
                Ok(None) => {}
                Err(err) => self.dead_letter(message, err),
            }
        } else if self
            .resume
            .get(&partition)
            .is_some_and(|&below| message.offset < below)
        {
            // Applied before the restart (a bad one was dead-lettered then).
            if let Ok(Some(event)) =
                decode_event(Some(message.topic), message.payload, self.decimals)
            {
                self.assembler.remember(&event);
            }
        } else {
            let event = match decode_event(Some(message.topic), message.payload, self.decimals) {
                Ok(event) => event,
                Err(err) => {
                    // It still counts towards its transaction's END total.
                    if let Some(id) = transaction_id_of(message.payload) {
                        self.merge.event_dead_lettered(id);
                    }
                    self.dead_letter(message, err);
                    None
                }
            };
            self.merge.push(&partition, message.offset, event, now);
        }
    }

    /// Transactions released after waiting their longest for an END marker.
    pub fn overdue_transactions(&self) -> u64 {
        self.merge.overdue()
    }

    /// The transactions complete at `now`, each with the offsets it covers. When everything
    /// read is released but the last transaction handed out does not cover it all
    /// (tombstones, re-delivered events), an empty transaction moves the position on, so that
    /// these offsets are committed too.
    pub fn take_transactions(&mut self, now: Instant) -> Vec<Transaction> {
        let mut ready = Vec::new();
        while let Some(merged) = self.merge.next_transaction(now) {
            let mut txns = Vec::new();
            for event in merged.events {
                if let Pushed::Forgotten(letter) = self.assembler.push(event, &mut txns) {
                    self.dead_letters.record(*letter);
                }
            }
            self.assembler.flush(&mut txns);
            for mut txn in txns {
                txn.position = SourcePosition::Kafka {
                    offsets: merged
                        .offsets
                        .iter()
                        .map(|((t, p), o)| (t.clone(), *p, *o))
                        .collect(),
                };
                ready.push(txn);
            }
        }
        if ready.is_empty() && self.merge.is_empty() {
            let read: Vec<(String, i32, i64)> = self
                .merge
                .read_offsets()
                .map(|((t, p), o)| (t.clone(), *p, o))
                .collect();
            if read != self.sent_offsets {
                ready.push(Transaction {
                    source: self.name.clone(),
                    position: SourcePosition::Kafka { offsets: read },
                    commit_time_ms: now_ms(),
                    changes: Vec::new(),
                    more_follows: false,
                });
            }
        }
        if let Some(SourcePosition::Kafka { offsets }) = ready.last().map(|txn| &txn.position) {
            self.sent_offsets.clone_from(offsets);
        }
        ready
    }

    /// The partitions that hold transactions back at `now`: whether they are at their end is
    /// worth asking.
    pub fn waiting(&self, now: Instant) -> Vec<Partition> {
        self.merge.waiting(now)
    }

    /// The offset to read next in each event partition.
    pub fn read_offsets(&self) -> impl Iterator<Item = (&Partition, i64)> {
        self.merge.read_offsets()
    }

    /// Learns `partition`'s high watermark, at `now`.
    pub fn high_watermark(&mut self, partition: &Partition, high: i64, now: Instant) {
        let next = self
            .merge
            .read_offsets()
            .find(|(p, _)| *p == partition)
            .map_or(0, |(_, next)| next);
        self.merge.set_at_end(partition, next >= high, now);
    }

    /// Events skipped as re-deliveries, and events applied after their transaction.
    pub fn duplicates_and_late(&self) -> (u64, u64) {
        (self.assembler.duplicates(), self.assembler.late())
    }

    /// Records `message` as a dead letter, with its topic, partition and offset.
    fn dead_letter(&self, message: TopicMessage<'_>, reason: impl ToString) {
        self.dead_letters.record(DeadLetter::new(
            &self.name,
            message.position(),
            None,
            None,
            reason,
        ));
    }
}
