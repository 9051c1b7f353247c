//! Replaying Debezium JSON (`--debezium-file`): a generated org and its change stream, encoded
//! as Debezium's MySQL connector emits them (with and without schemas, in every decimal mode),
//! with a tail of re-delivered events, through the whole pipeline; every view must equal the
//! oracle's recomputation, and bad lines must become dead letters.

mod common;

use std::io::Write;
use std::sync::Arc;

use twinflow::pipeline::{Pipeline, PipelineConfig};
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_connectors::{run_debezium_file, ConnectorState, ConnectorStatus, DebeziumFileConfig};
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_ingest::Transaction;
use twinflow_oracle::debezium::{self as dbz, encode, to_line, Encoding, EventSource};
use twinflow_oracle::{diff, evaluate, Tables};
use twinflow_views::{Filter, ViewId};

const TRANSACTIONS: usize = 1500;

/// The lines of one transaction, as the connector writes them.
fn lines_of(txn: &Transaction, seq: usize, snapshot: bool, encoding: Encoding) -> Vec<String> {
    let gtid = format!("0-1-{seq}");
    let (file, pos) = if snapshot {
        ("binlog.000001", 4)
    } else {
        ("binlog.000002", 1000 + 100 * seq as u64)
    };
    let mut lines = Vec::new();
    for (row, change) in txn.changes.iter().enumerate() {
        let source = EventSource {
            server_name: "twin",
            file,
            pos,
            row: row as u32,
            gtid: (!snapshot).then_some(gtid.as_str()),
            ts_ms: 1_700_000_000_000 + seq as u64,
            snapshot,
            transaction_id: (!snapshot).then_some(gtid.as_str()),
            total_order: row as u64 + 1,
            data_collection_order: 1,
        };
        lines.extend(encode(change, &source, encoding).iter().map(to_line));
    }
    lines
}

/// Writes the org and `TRANSACTIONS` transactions as Debezium lines, then re-delivers the
/// lines of an earlier stretch (a consumer restart); returns the file and the oracle's tables.
fn capture(encoding: Encoding) -> (tempfile::NamedTempFile, Tables) {
    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 17,
            scale: 3000,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let mut tables = Tables::new();
    let mut lines = Vec::new();
    for part in generator.snapshot() {
        tables.apply_transaction(&part);
        lines.extend(lines_of(&part, 0, true, encoding));
    }
    let mut stretches = Vec::new();
    for seq in 1..=TRANSACTIONS {
        let txn = generator.next_transaction();
        tables.apply_transaction(&txn);
        let txn_lines = lines_of(&txn, seq, false, encoding);
        stretches.push(txn_lines.len());
        lines.extend(txn_lines);
    }
    // Re-deliver transactions TRANSACTIONS-300 .. TRANSACTIONS-100: applied again, they would
    // take the rows the last 100 transactions changed back in time.
    let total = lines.len();
    let tail: usize = stretches[TRANSACTIONS - 300..].iter().sum();
    let skip_end: usize = stretches[TRANSACTIONS - 100..].iter().sum();
    let again: Vec<String> = lines[total - tail..total - skip_end].to_vec();
    lines.extend(again);
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    for line in &lines {
        writeln!(file, "{line}").expect("write");
    }
    (file, tables)
}

/// Replays `file` through a pipeline; returns the problems (none when every view is equal).
async fn replay(file: &std::path::Path, decimals: DecimalMode, tables: &Tables) -> Vec<String> {
    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let status = Arc::new(ConnectorStatus::new("dbz", "debezium-file"));
    run_debezium_file(
        DebeziumFileConfig {
            path: file.to_path_buf(),
            decimals,
        },
        pipeline.sources(),
        pipeline.dead_letters(),
        status.clone(),
        std::future::pending(),
    )
    .await;
    assert_eq!(status.report().state, ConnectorState::Stopped);
    assert_eq!(
        pipeline.dead_letters().total(),
        0,
        "{:?}",
        pipeline.dead_letters().recent()
    );
    let state = pipeline.state();
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .expect("shutdown");
    let snapshot = state.snapshot();
    let mut problems = Vec::new();
    for (view, expected) in evaluate(tables) {
        let mut served: Vec<_> = snapshot
            .scan(view, &Filter::default(), None)
            .map(|(_, row)| row.clone())
            .collect();
        served.sort();
        assert!(
            view == ViewId::OccupancyByBuilding || !expected.is_empty(),
            "{view} is empty"
        );
        if let Some(d) = diff(view, &expected, &served) {
            problems.push(d);
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_debezium_json_equals_the_oracle_in_every_encoding() {
    let encodings = [
        (
            Encoding {
                schemas: false,
                decimals: dbz::DecimalMode::Precise,
                tinyint1_as_bool: false,
            },
            DecimalMode::Precise,
        ),
        (
            Encoding {
                schemas: true,
                decimals: dbz::DecimalMode::Precise,
                tinyint1_as_bool: true,
            },
            DecimalMode::Precise,
        ),
        (
            Encoding {
                schemas: false,
                decimals: dbz::DecimalMode::String,
                tinyint1_as_bool: false,
            },
            DecimalMode::String,
        ),
        (
            Encoding {
                schemas: true,
                decimals: dbz::DecimalMode::Double,
                tinyint1_as_bool: false,
            },
            DecimalMode::Double,
        ),
    ];
    for (encoding, decimals) in encodings {
        let (file, tables) = capture(encoding);
        let problems = replay(file.path(), decimals, &tables).await;
        assert!(
            problems.is_empty(),
            "{encoding:?}:\n{}",
            problems.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_become_dead_letters_and_the_rest_flows() {
    let (file, tables) = capture(Encoding {
        schemas: false,
        decimals: dbz::DecimalMode::Precise,
        tinyint1_as_bool: false,
    });
    let mut text = std::fs::read_to_string(file.path()).expect("read");
    let good_lines = text.lines().count();
    text.insert_str(0, "{\"not json\n{\"topic\":\"twin.twin_infra.floor\",\"key\":{\"id\":1},\"value\":{\"op\":\"x\",\"source\":{}}}\n");
    let mut bad = tempfile::NamedTempFile::new().expect("temp");
    bad.write_all(text.as_bytes()).expect("write");
    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline");
    let status = Arc::new(ConnectorStatus::new("dbz", "debezium-file"));
    run_debezium_file(
        DebeziumFileConfig {
            path: bad.path().to_path_buf(),
            decimals: DecimalMode::Precise,
        },
        pipeline.sources(),
        pipeline.dead_letters(),
        status,
        std::future::pending(),
    )
    .await;
    let letters = pipeline.dead_letters().recent();
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert!(
        letters[0].reason.starts_with("not JSON"),
        "{:?}",
        letters[0]
    );
    assert_eq!(letters[0].position.to_string(), "line 1");
    assert!(
        letters[1].reason.contains("unsupported op"),
        "{:?}",
        letters[1]
    );
    assert!(good_lines > 1000);
    let state = pipeline.state();
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .expect("shutdown");
    let served = state.snapshot().len(ViewId::Staffing);
    assert_eq!(
        served,
        twinflow_oracle::evaluate_view(&tables, ViewId::Staffing).len()
    );
}
