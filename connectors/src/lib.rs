//! twinflow's sources: the deterministic org generator (an initial snapshot and an endless
//! stream of realistic changes across the seven domain databases) and its async driver, and
//! the MySQL/MariaDB binlog source, Debezium change events from Kafka or replayed from
//! newline-delimited JSON, the Kafka sink of view changes; with the status every connector
//! reports.

#![warn(missing_docs)]

mod databases;
pub mod debezium_file;
pub mod generator;
pub mod kafka;
pub mod mysql;
pub mod queue;
pub mod status;

pub use debezium_file::{run_debezium_file, DebeziumFileConfig};
pub use generator::{run_generator, ChangeMix, GeneratorConfig, OrgGenerator, Snapshot};
pub use kafka::{
    read_view_topic, run_kafka_source, KafkaSink, KafkaSinkConfig, KafkaSourceConfig, ViewChange,
};
pub use mysql::{run_mysql_source, MySqlConfig};
pub use queue::{transaction_queue, QueueClosed, TransactionReceiver, TransactionSender};
pub use status::{ConnectorReport, ConnectorState, ConnectorStatus};
