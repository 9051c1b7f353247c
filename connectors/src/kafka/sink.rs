//! The Kafka sink of view changes: one topic per view, `<prefix>.views.<view>`, keyed by the
//! view key, the row as the value or a tombstone for a deleted key (compaction keeps the
//! latest row per key), the `as_of` in a header; an idempotent producer.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
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
