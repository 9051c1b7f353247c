//! The Kafka source of Debezium change events.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_ingest::{DeadLetterLog, SourcePosition, TableId, DEFAULT_DEDUP_WINDOW};

use super::reader::{EventReader, Partition, TopicMessage};
use crate::databases;
use crate::queue::TransactionSender;
use crate::status::{ConnectorState, ConnectorStatus};

/// How to read Debezium topics.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// The bootstrap brokers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Debezium's `topic.prefix`: topics are `<prefix>.<database>.<table>`.
    pub prefix: String,
    /// The source's name; by default `kafka:<prefix>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The consumer group that records progress; by default `twinflow-<prefix>`.
    #[serde(default)]
    pub group: Option<String>,
    /// How DECIMAL values arrive in messages without schemas.
    #[serde(default)]
    pub decimals: DecimalMode,
    /// Without the transaction metadata topic: how long after a transaction's last event was
    /// read a partition read to its end is taken to hold none of its events. Events arriving
    /// later still are applied as a transaction of their own (counted as `late_events`).
    #[serde(default = "default_transaction_grace_ms")]
    pub transaction_grace_ms: u64,
    /// With the transaction metadata topic: how long a transaction waits for its END marker
    /// and its events, after its last event was read, before it is released as it is (with a
    /// warning, counted as `overdue_transactions`).
    #[serde(default = "default_transaction_max_wait_ms")]
    pub transaction_max_wait_ms: u64,
    /// How many applied events are remembered, by binlog position, to skip re-deliveries.
    #[serde(default = "default_dedup_window")]
    pub dedup_window: usize,
    /// The databases whose topics are read; by default every database of the catalog.
    #[serde(default)]
    pub databases: Option<Vec<String>>,
}

fn default_transaction_grace_ms() -> u64 {
    100
}

fn default_transaction_max_wait_ms() -> u64 {
    30_000
}

fn default_dedup_window() -> usize {
    DEFAULT_DEDUP_WINDOW
}

impl KafkaSourceConfig {
    /// Reading `prefix`'s topics from `brokers`, everything else by default.
    pub fn new(brokers: impl Into<String>, prefix: impl Into<String>) -> Self {
        KafkaSourceConfig {
            brokers: brokers.into(),
            prefix: prefix.into(),
            name: None,
            group: None,
            decimals: DecimalMode::default(),
            transaction_grace_ms: default_transaction_grace_ms(),
            transaction_max_wait_ms: default_transaction_max_wait_ms(),
            dedup_window: default_dedup_window(),
            databases: None,
        }
    }

    /// The catalog tables this source feeds (those of its databases).
    pub fn tables(&self) -> Vec<TableId> {
        databases::tables(self.databases.as_deref())
    }

    /// The source's name: the configured one, or `kafka:<prefix>`.
    pub fn source_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("kafka:{}", self.prefix))
    }

    /// Debezium's transaction metadata topic (`provide.transaction.metadata=true`).
    fn metadata_topic(&self) -> String {
        format!("{}.transaction", self.prefix)
    }

    fn group(&self) -> String {
        self.group
            .clone()
            .unwrap_or_else(|| format!("twinflow-{}", self.prefix))
    }

    /// Whether `topic` carries a catalog table's events.
    fn reads(&self, topic: &str) -> bool {
        let Some(rest) = topic
            .strip_prefix(&self.prefix)
            .and_then(|r| r.strip_prefix('.'))
        else {
            return false;
        };
        rest.split_once('.').is_some_and(|(db, table)| {
            TableId::lookup(db, table).is_some()
                && databases::selects(self.databases.as_deref(), db)
        })
    }
}

/// How long a quiet consumer waits before checking whether partitions are at their end.
const QUIET: Duration = Duration::from_millis(20);
/// Messages taken per turn of the loop, at most.
const BATCH: usize = 4096;
/// How often the per-partition status is refreshed.
const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How often new topics are looked for.
const DISCOVER_EVERY: Duration = Duration::from_secs(5);

/// Reads `config`'s topics into `tx` until `shutdown`; commits to the consumer group the
/// offsets of what `applied` says the engine has applied (or has made durable). With `resume`
/// (the Kafka offsets of an earlier run's last applied transaction), each partition it names
/// is read from there, the others from their beginning.
pub async fn run_kafka_source(
    config: KafkaSourceConfig,
    resume: Option<SourcePosition>,
    tx: TransactionSender,
    dead_letters: Arc<DeadLetterLog>,
    status: Arc<ConnectorStatus>,
    mut applied: watch::Receiver<Option<SourcePosition>>,
    shutdown: impl Future<Output = ()>,
) {
    let name: Arc<str> = Arc::from(config.source_name());
    let clients = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", config.group())
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create::<StreamConsumer>()
        .and_then(|consumer| {
            // High watermarks are asked on connections of their own: on the consumer's, a
            // broker answers only after the long-polling fetch ahead of the question
            // (`fetch.wait.max.ms`, 500 ms), and a merge waiting for partitions at their end
            // would release about one transaction per answer.
            let watermarks = ClientConfig::new()
                .set("bootstrap.servers", &config.brokers)
                .create::<BaseConsumer>()?;
            Ok((consumer, watermarks))
        });
    let (consumer, watermarks) = match clients {
        Ok(clients) => clients,
        Err(err) => {
            status.error(format!("cannot create a Kafka consumer: {err}"));
            status.set_state(ConnectorState::Stopped);
            return;
        }
    };
    let mut shutdown = pin!(shutdown);
    let mut reader = EventReader::new(&config, resume, dead_letters);
    let mut high: BTreeMap<Partition, i64> = BTreeMap::new();
    let mut discovered: Option<Instant> = None;
    let mut checked_ends = Instant::now();
    let mut reported = Instant::now();
    loop {
        if discovered.is_none_or(|at| at.elapsed() >= DISCOVER_EVERY) {
            discovered = Some(Instant::now());
            discover(&config, &consumer, &mut reader, &status);
        }
        let received = tokio::select! {
            biased;
            () = shutdown.as_mut() => break,
            Ok(()) = applied.changed() => {
                let position = applied.borrow_and_update().clone();
                commit(&consumer, position, &status);
                continue;
            }
            // Paused: nothing is read (applied offsets are still committed).
            received = async {
                status.unpaused().await;
                tokio::time::timeout(QUIET, consumer.recv()).await
            } => received,
        };
        let mut next = received.ok();
        let mut batch = 0;
        while let Some(received) = next.take() {
            match received {
                Ok(message) => {
                    let message = TopicMessage {
                        topic: message.topic(),
                        partition: message.partition(),
                        offset: message.offset(),
                        payload: message.payload(),
                    };
                    reader.receive(message, Instant::now());
                }
                Err(err) => {
                    tracing::warn!(source = %name, "Kafka: {err}");
                    status.error(format!("Kafka: {err}"));
                    break;
                }
            }
            // Take what else is ready without waiting, up to a batch.
            batch += 1;
            if batch < BATCH {
                next = consumer.recv().now_or_never();
            }
        }
        for txn in reader.take_transactions(Instant::now()) {
            if !txn.changes.is_empty() {
                status.read(txn.changes.len(), &txn.position);
            }
            if tx.send(txn).await.is_err() {
                status.set_state(ConnectorState::Stopped);
                return;
            }
        }
        // Partitions that hold transactions back may be at their end: ask.
        if checked_ends.elapsed() >= QUIET {
            let waiting = reader.waiting(Instant::now());
            if !waiting.is_empty() {
                checked_ends = Instant::now();
                refresh_ends(&watermarks, &mut reader, waiting, &mut high);
            }
        }
        if reported.elapsed() >= REPORT_EVERY {
            reported = Instant::now();
            report_partitions(&status, &reader, &high);
        }
    }
    status.set_state(ConnectorState::Stopped);
}

/// Assigns every not yet assigned partition of the catalog's topics (and of the transaction
/// metadata topic) to the consumer, where `reader` starts reading it.
fn discover(
    config: &KafkaSourceConfig,
    consumer: &StreamConsumer,
    reader: &mut EventReader,
    status: &ConnectorStatus,
) {
    let listing =
        match tokio::task::block_in_place(|| consumer.fetch_metadata(None, Duration::from_secs(5)))
        {
            Ok(listing) => listing,
            Err(err) => {
                status.error(format!("listing the topics: {err}"));
                status.set_state(ConnectorState::Retrying);
                return;
            }
        };
    status.set_state(ConnectorState::Streaming);
    let mut found = Vec::new();
    let mut found_metadata = Vec::new();
    let metadata_topic = config.metadata_topic();
    for topic in listing.topics() {
        let is_metadata = topic.name() == metadata_topic;
        if !is_metadata && !config.reads(topic.name()) {
            continue;
        }
        for partition in topic.partitions() {
            let key = (topic.name().to_string(), partition.id());
            if !reader.reads(&key, is_metadata) {
                if is_metadata {
                    found_metadata.push(key);
                } else {
                    found.push(key);
                }
            }
        }
    }
    if found.is_empty() && found_metadata.is_empty() {
        return;
    }
    tracing::info!(
        "reading {} new partition(s)",
        found.len() + found_metadata.len()
    );
    // The whole assignment again: the partitions read so far where they are, the new ones from
    // where they start.
    let mut assignment = TopicPartitionList::new();
    for ((topic, partition), next) in reader.add_partitions(found, found_metadata) {
        let offset = if next == 0 {
            Offset::Beginning
        } else {
            Offset::Offset(next)
        };
        if let Err(err) = assignment.add_partition_offset(&topic, partition, offset) {
            status.error(format!("assigning {topic}[{partition}]: {err}"));
        }
    }
    if let Err(err) = consumer.assign(&assignment) {
        status.error(format!("assigning partitions: {err}"));
    }
}

/// Asks the brokers whether the `waiting` partitions (holding transactions back) are at
/// their end.
fn refresh_ends(
    watermarks: &BaseConsumer,
    reader: &mut EventReader,
    waiting: Vec<Partition>,
    high: &mut BTreeMap<Partition, i64>,
) {
    for partition in waiting {
        let watermark = tokio::task::block_in_place(|| {
            watermarks.fetch_watermarks(&partition.0, partition.1, Duration::from_secs(1))
        });
        if let Ok((_, high_watermark)) = watermark {
            reader.high_watermark(&partition, high_watermark, Instant::now());
            high.insert(partition, high_watermark);
        }
    }
}

/// Per partition: the offset read, the high watermark, the lag in messages; and the events
/// skipped as re-deliveries or applied late.
fn report_partitions(
    status: &ConnectorStatus,
    reader: &EventReader,
    high: &BTreeMap<Partition, i64>,
) {
    let partitions: Vec<serde_json::Value> = reader
        .read_offsets()
        .map(|(key, read)| {
            let (topic, partition) = key;
            let high = high.get(key).copied().unwrap_or(read);
            serde_json::json!({
                "topic": topic, "partition": partition, "read": read,
                "high_watermark": high, "lag": (high - read).max(0),
            })
        })
        .collect();
    let (duplicates, late) = reader.duplicates_and_late();
    status.set_details(serde_json::json!({
        "partitions": partitions,
        "duplicate_events": duplicates,
        "late_events": late,
        "overdue_transactions": reader.overdue_transactions(),
    }));
}

/// Commits the offsets of an applied position to the consumer group.
fn commit(consumer: &StreamConsumer, position: Option<SourcePosition>, status: &ConnectorStatus) {
    let Some(SourcePosition::Kafka { offsets }) = position else {
        return;
    };
    let mut list = TopicPartitionList::new();
    for (topic, partition, offset) in &offsets {
        if list
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .is_err()
        {
            return;
        }
    }
    if let Err(err) = consumer.commit(&list, CommitMode::Async) {
        status.error(format!("committing offsets: {err}"));
    }
}
