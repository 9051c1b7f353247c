//! The Kafka sink of view changes: one topic per view, `<prefix>.views.<view>`, keyed by the
//! view key, the row as the value or a tombstone for a deleted key (compaction keeps the
//! latest row per key), the `as_of` in a header; an idempotent producer.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;

/// Where view changes go.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// The bootstrap brokers.
    pub brokers: String,
    /// Topics are `<prefix>.views.<view>`.
    pub prefix: String,
}

/// One key's change: its key and its new row as JSON, `None` when the key was deleted.
#[derive(Clone, Debug)]
pub struct ViewChange {
    /// The view key as a JSON object.
    pub key: String,
    /// The row as a JSON object, or `None` for a tombstone.
    pub row: Option<String>,
}

/// A producer of view changes.
pub struct KafkaSink {
    producer: FutureProducer,
    config: KafkaSinkConfig,
}

impl KafkaSink {
    /// Connects, and creates the topics of `views` that do not exist yet (compacted).
    pub async fn new(config: KafkaSinkConfig, views: &[&str]) -> Result<Self, KafkaError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5");
        let producer: FutureProducer = client.create()?;
        let admin: AdminClient<DefaultClientContext> = client.create()?;
        let sink = KafkaSink { producer, config };
        let names: Vec<String> = views.iter().map(|v| sink.topic(v)).collect();
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                NewTopic::new(name, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact")
            })
            .collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            if let Err((topic, code)) = result {
                if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    tracing::warn!("creating {topic}: {code}");
                }
            }
        }
        Ok(sink)
    }

    /// The topic of `view`.
    pub fn topic(&self, view: &str) -> String {
        format!("{}.views.{view}", self.config.prefix)
    }

    /// What `view`'s topic holds now: the latest row of every key not deleted since.
    pub async fn current_rows(&self, view: &str) -> KafkaResult<BTreeMap<String, String>> {
        let (brokers, topic) = (self.config.brokers.clone(), self.topic(view));
        tokio::task::spawn_blocking(move || read_view_topic(&brokers, &topic, READ_TIMEOUT))
            .await
            .map_err(|_| KafkaError::Canceled)?
    }

    /// Writes the changes of `view` at `as_of`, in order, and waits until the broker has them.
    pub async fn send(
        &self,
        view: &str,
        as_of: u64,
        changes: &[ViewChange],
    ) -> Result<(), KafkaError> {
        let topic = self.topic(view);
        let as_of_text = as_of.to_string();
        let mut deliveries = Vec::with_capacity(changes.len());
        for change in changes {
            let headers = OwnedHeaders::new().insert(Header {
                key: "as_of",
                value: Some(as_of_text.as_bytes()),
            });
            let mut record: FutureRecord<'_, str, str> = FutureRecord::to(&topic)
                .key(change.key.as_str())
                .headers(headers);
            if let Some(row) = &change.row {
                record = record.payload(row.as_str());
            }
            let delivery = self.producer.send_result(record).map_err(|(err, _)| err)?;
            deliveries.push(delivery);
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((err, _))) => return Err(err),
                Err(_) => return Err(KafkaError::Canceled),
            }
        }
        Ok(())
    }
}

/// How long reading a view topic to its end may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads every partition of a view topic from its beginning to its end, as any consumer
/// rebuilding the view would: the latest row per key, keys whose latest message is a
/// tombstone left out. Blocking.
pub fn read_view_topic(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> KafkaResult<BTreeMap<String, String>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "twinflow-view-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut assignment = TopicPartitionList::new();
    let mut remaining = BTreeMap::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer.fetch_watermarks(topic, partition.id(), timeout)?;
        if high > low {
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
            remaining.insert(partition.id(), high);
        }
    }
    let mut latest = BTreeMap::new();
    if remaining.is_empty() {
        return Ok(latest);
    }
    consumer.assign(&assignment)?;
    let deadline = Instant::now() + timeout;
    while !remaining.is_empty() {
        if Instant::now() >= deadline {
            return Err(KafkaError::MessageConsumption(
                rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        if remaining
            .get(&message.partition())
            .is_some_and(|&high| message.offset() + 1 >= high)
        {
            remaining.remove(&message.partition());
        }
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        match message.payload() {
            Some(row) => latest.insert(key, String::from_utf8_lossy(row).into_owned()),
            None => latest.remove(&key),
        };
    }
    Ok(latest)
}
