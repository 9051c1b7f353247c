//! Debezium JSON benchmark: the decoder alone (Kafka message values, and captured lines →
//! catalog row changes), and a replay of
//! newline-delimited Debezium JSON through the whole pipeline (`--debezium-file`). Numbers go
//! to the README; nothing here asserts a time.
//!
//! `cargo bench --bench debezium -- [--people N] [--transactions N] [--schemas]`

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use twinflow::pipeline::{Pipeline, PipelineConfig};
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_connectors::{run_debezium_file, ConnectorStatus, DebeziumFileConfig};
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
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn main() -> anyhow::Result<()> {
    let Options {
        people,
        transactions,
        schemas,
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

    drop(messages);

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
    println!(
        "replay through the pipeline (snapshot + stream, to all views served): {} row changes in \
         {elapsed:.2} s = {:.0} events/s",
        metrics.changes(),
        metrics.changes() as f64 / elapsed
    );
    Ok(())
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
