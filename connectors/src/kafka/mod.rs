//! Kafka: Debezium change events in, view changes out.
//!
//! - [`run_kafka_source`] reads every topic `<prefix>.<database>.<table>` of a catalog table
//!   (Debezium's MySQL connector, JSON converter with or without schemas). The events of one
//!   source transaction are spread over one topic per table; an [`OrderedMerge`] puts them back
//!   into binlog order and releases a transaction once every partition has moved past it or
//!   is read to its end a grace period after the transaction's last event was read, and the
//!   [`TransactionAssembler`] makes it one engine transaction, skips re-delivered events and
//!   applies events that arrive after their transaction was released. Offsets are committed (to the consumer group) only for what the
//!   engine has applied.
//!   What the source makes of the messages, transport aside, is the [`EventReader`]'s job
//!   (the benchmark feeds it from memory to measure the source without a broker).
//! - [`KafkaSink`] writes every served view's changes to `<prefix>.views.<view>`.
//!
//! One engine reads all partitions of all its topics itself (a transaction spans topics, so
//! the partitions cannot be split between engines); the consumer group records its progress.
//! Until checkpoints exist, a starting engine has no state and reads every topic from its
//! beginning.
//!
//! [`OrderedMerge`]: twinflow_ingest::OrderedMerge
//! [`TransactionAssembler`]: twinflow_ingest::TransactionAssembler

mod reader;
mod sink;
mod source;

pub use reader::{EventReader, Partition, TopicMessage};
pub use sink::{read_view_topic, KafkaSink, KafkaSinkConfig, ViewChange};
pub use source::{run_kafka_source, KafkaSourceConfig};
