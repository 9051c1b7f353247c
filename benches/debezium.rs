//! Debezium JSON benchmark: the decoder alone (Kafka message values, and captured lines →
//! catalog row changes), a replay of newline-delimited Debezium JSON through the whole pipeline
//! (`--debezium-file`), and the Kafka source's reading without its transport: the messages
//! handed to its [`EventReader`] from memory, its transactions applied by the pipeline. The
//! README's table holds the current figures, docs/benchmarks.md their history; nothing here
//! asserts a time.
//!
//! With `--kafka`, the same messages are also produced to a private tansu broker (built by
//! `scripts/setup`) and consumed from it: once by a bare consumer (what the broker delivers)
//! and once by the Kafka source into the whole pipeline (consume and apply).
//!
//! `cargo bench --bench debezium -- [--people N] [--transactions N] [--schemas] [--kafka]`

#[path = "../src/allocator.rs"]
mod allocator;

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use twinflow_connectors::kafka::{EventReader, TopicMessage};
use twinflow_connectors::{run_kafka_source, KafkaSourceConfig};
use twinflow_controller::status::applied_positions;
use twinflow_ingest::TableId;
use twinflow_oracle::kafka::{produce, PrivateBroker};

use clap::Parser;
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_connectors::{run_debezium_file, ConnectorStatus, DebeziumFileConfig};
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::decode::debezium::{decode_event, decode_line, DecimalMode};
use twinflow_oracle::debezium::{encode, to_line, Encoding, EventSource, Message};

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 100_000)]
    people: u64,
    /// Streaming transactions encoded after the snapshot.
    #[arg(long, default_value_t = 100_000)]
    transactions: usize,
    /// Encode with the JSON converter's schemas.
    #[arg(long)]
    schemas: bool,
    /// Also measure consuming the messages from a private Kafka-protocol broker.
    #[arg(long)]
    kafka: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn main() -> anyhow::Result<()> {
    let Options {
        people,
        transactions,
        schemas,
        kafka,
        ..
    } = Options::parse();
    let encoding = Encoding {
        schemas,
        ..Encoding::default()
    };
    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 5,
            scale: people,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let mut messages: Vec<Message> = Vec::new();
    let mut snapshot_lines = 0;
    for part in generator.snapshot() {
        for change in &part.changes {
            let source = source("binlog.000001", 4, 0, None, true);
            messages.extend(encode(change, &source, encoding));
        }
        snapshot_lines = messages.len();
    }
    for seq in 1..=transactions {
        let txn = generator.next_transaction();
        let gtid = format!("0-1-{seq}");
        for (row, change) in txn.changes.iter().enumerate() {
            let source = source(
                "binlog.000002",
                1000 + seq as u64 * 100,
                row as u32,
                Some(&gtid),
                false,
            );
            messages.extend(encode(change, &source, encoding));
        }
    }
    let lines: Vec<String> = messages.iter().map(to_line).collect();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "twinflow Debezium benchmark: {} lines ({snapshot_lines} snapshot, {} MB, schemas {schemas})",
        lines.len(),
        bytes / 1_000_000
    );

    let start = Instant::now();
    let mut events = 0u64;
    for message in &messages {
        let value = message.value.as_deref().map(str::as_bytes);
        if decode_event(Some(&message.topic), value, DecimalMode::Precise)?.is_some() {
            events += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "decoder alone, Kafka message values: {events} events in {elapsed:.2} s = {:.0} events/s on one core",
        events as f64 / elapsed
    );

    let start = Instant::now();
    let mut events = 0u64;
    for line in &lines {
        if decode_line(line, DecimalMode::Precise)?.is_some() {
            events += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "decoder alone, captured lines: {events} events in {elapsed:.2} s = {:.0} events/s on one core",
        events as f64 / elapsed
    );

    let mut file = tempfile::NamedTempFile::new()?;
    for line in &lines {
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let start = Instant::now();
    runtime.block_on(run_debezium_file(
        DebeziumFileConfig {
            path: file.path().to_path_buf(),
            decimals: DecimalMode::Precise,
        },
        pipeline.sources(),
        pipeline.dead_letters(),
        Arc::new(ConnectorStatus::new("dbz", "debezium-file")),
        std::future::pending(),
    ));
    let metrics = pipeline.metrics();
    pipeline.shutdown();
    let elapsed = start.elapsed().as_secs_f64();
    let changes = metrics.changes();
    println!(
        "replay through the pipeline (snapshot + stream, to all views served): {changes} row changes in \
         {elapsed:.2} s = {:.0} events/s",
        changes as f64 / elapsed
    );
    drop(lines);
    runtime.block_on(from_memory(&messages, changes))?;
    if kafka {
        runtime.block_on(from_kafka(&messages, changes))?;
    }
    Ok(())
}

/// Messages a consumer's fetch returns from one partition, at most (librdkafka fetches up to
/// 1 MB per partition: a few hundred messages with schemas, thousands without).
const FETCHED: usize = 500;

/// A message waiting in a partition: its offset and value.
type Fetched<'a> = (i64, Option<&'a [u8]>);

/// Hands `messages` to the Kafka source's [`EventReader`] straight from memory, one partition
/// per topic, each read `FETCHED` messages at a time in turn as a consumer receives them, and
/// sends its transactions to a pipeline until the views have taken `changes` row changes.
async fn from_memory(messages: &[Message], changes: u64) -> anyhow::Result<()> {
    let mut partitions: BTreeMap<&str, VecDeque<Fetched<'_>>> = BTreeMap::new();
    for message in messages {
        let partition = partitions.entry(&message.topic).or_default();
        let offset = partition.len() as i64;
        partition.push_back((offset, message.value.as_deref().map(str::as_bytes)));
    }
    let ends: BTreeMap<(String, i32), i64> = partitions
        .iter()
        .map(|(topic, partition)| ((topic.to_string(), 0), partition.len() as i64))
        .collect();
    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let mut reader = EventReader::new(
        &KafkaSourceConfig::new("memory", "twin"),
        None,
        pipeline.dead_letters(),
    );
    reader.add_partitions(ends.keys().cloned().collect(), Vec::new());
    let sources = pipeline.sources();
    let metrics = pipeline.metrics();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    while metrics.changes() < changes && Instant::now() < deadline {
        let mut fed = false;
        for (topic, partition) in &mut partitions {
            let fetched = partition.len().min(FETCHED);
            for (offset, payload) in partition.drain(..fetched) {
                let message = TopicMessage {
                    topic,
                    partition: 0,
                    offset,
                    payload,
                };
                reader.receive(message, Instant::now());
                fed = true;
            }
        }
        // As the source asks for the high watermarks of partitions holding transactions back.
        let now = Instant::now();
        for partition in reader.waiting(now) {
            reader.high_watermark(&partition, ends[&partition], now);
        }
        for txn in reader.take_transactions(Instant::now()) {
            sources.send(txn).await.context("the pipeline stopped")?;
        }
        if !fed {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    report_applied(
        "Kafka source's reader, messages from memory (no broker): applied",
        metrics.changes(),
        changes,
        start,
    );
    drop(sources);
    tokio::task::spawn_blocking(move || pipeline.shutdown()).await?;
    Ok(())
}

/// Produces `messages` to a private broker, reads them back with a bare consumer, then consumes
/// and applies them with the Kafka source until the views have taken `changes` row changes.
async fn from_kafka(messages: &[Message], changes: u64) -> anyhow::Result<()> {
    let broker = PrivateBroker::with_table_topics("twin")?;
    let start = Instant::now();
    produce(&broker.brokers(), messages).await?;
    println!(
        "kafka: {} messages produced to a private tansu broker in {:.2} s",
        messages.len(),
        start.elapsed().as_secs_f64()
    );

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.brokers())
        .set("group.id", "bench-fetch")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let topics: Vec<String> = TableId::ALL
        .iter()
        .map(|t| format!("twin.{}.{}", t.schema().database, t.schema().name))
        .collect();
    consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>())?;
    let start = Instant::now();
    for _ in 0..messages.len() {
        tokio::time::timeout(Duration::from_secs(60), consumer.recv())
            .await
            .context("the broker stopped delivering")??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "kafka: the broker delivers {} messages in {elapsed:.2} s = {:.0} messages/s to a bare consumer",
        messages.len(),
        messages.len() as f64 / elapsed
    );
    drop(consumer);

    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let source = KafkaSourceConfig {
        decimals: DecimalMode::Precise,
        ..KafkaSourceConfig::new(broker.brokers(), "twin")
    };
    let status = Arc::new(ConnectorStatus::new(source.source_name(), "kafka"));
    let applied = applied_positions(pipeline.state(), source.source_name());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let start = Instant::now();
    let task = tokio::spawn(run_kafka_source(
        source,
        None,
        pipeline.sources(),
        pipeline.dead_letters(),
        status,
        applied,
        async {
            let _ = stopped.await;
        },
    ));
    let metrics = pipeline.metrics();
    let deadline = Instant::now() + Duration::from_secs(600);
    while metrics.changes() < changes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    report_applied(
        "kafka: consumed and applied",
        metrics.changes(),
        changes,
        start,
    );
    let _ = stop.send(());
    task.await?;
    tokio::task::spawn_blocking(move || pipeline.shutdown()).await?;
    Ok(())
}

/// Prints how many of `changes` row changes the views took since `start`, and the rate.
fn report_applied(what: &str, applied: u64, changes: u64, start: Instant) {
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{what} {applied} of {changes} row changes in {elapsed:.2} s = {:.0} events/s",
        applied as f64 / elapsed
    );
}

fn source<'a>(
    file: &'a str,
    pos: u64,
    row: u32,
    gtid: Option<&'a str>,
    snapshot: bool,
) -> EventSource<'a> {
    EventSource {
        server_name: "twin",
        file,
        pos,
        row,
        gtid,
        ts_ms: 1_700_000_000_000,
        snapshot,
        transaction_id: gtid,
        total_order: u64::from(row) + 1,
        data_collection_order: 1,
    }
}
