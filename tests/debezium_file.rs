//! Replaying Debezium JSON (`--debezium-file`): a generated org and its change stream, encoded
//! as Debezium's MySQL connector emits them (with and without schemas, in every decimal mode),
//! with a tail of re-delivered events, through the whole pipeline; every view must equal the
//! oracle's recomputation, and bad lines must become dead letters.

mod common;

use std::io::Write;
use std::sync::Arc;

use twinflow_connectors::{run_debezium_file, ConnectorState, ConnectorStatus, DebeziumFileConfig};
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_oracle::debezium::{self as dbz, to_line, Encoding};
use twinflow_oracle::Tables;
use twinflow_views::ViewId;

const TRANSACTIONS: usize = 1500;

/// Writes the org and `TRANSACTIONS` transactions as Debezium lines, then re-delivers the
/// lines of an earlier stretch (a consumer restart); returns the file and the oracle's tables.
fn capture(encoding: Encoding) -> (tempfile::NamedTempFile, Tables) {
    let capture = common::debezium_capture(encoding, 17, 3000, TRANSACTIONS);
    // Re-deliver transactions TRANSACTIONS-300 .. TRANSACTIONS-100: applied again, they would
    // take the rows the last 100 transactions changed back in time.
    let again = capture.redelivery(300, 100);
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    for message in capture.messages.iter().chain(&again) {
        writeln!(file, "{}", to_line(message)).expect("write");
    }
    (file, capture.tables)
}

/// Runs `file` to its end into a fresh pipeline; returns the pipeline (not shut down yet).
async fn run_file(file: &std::path::Path, decimals: DecimalMode) -> Pipeline {
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
    pipeline
}

/// Replays `file` through a pipeline; returns the problems (none when every view is equal).
async fn replay(file: &std::path::Path, decimals: DecimalMode, tables: &Tables) -> Vec<String> {
    let pipeline = run_file(file, decimals).await;
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
    for view in ViewId::ALL {
        assert!(state.snapshot().len(view) > 0, "{view} is empty");
    }
    common::oracle_differences(&state, tables)
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
    let pipeline = run_file(bad.path(), DecimalMode::Precise).await;
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

/// A file of streaming events without a source position (no `source.file` or `source.pos`):
/// each one is a dead letter saying so, none is skipped silently as a re-delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_without_a_source_position_become_dead_letters() {
    let capture = common::debezium_capture(
        Encoding {
            schemas: false,
            decimals: dbz::DecimalMode::Precise,
            tinyint1_as_bool: false,
        },
        23,
        300,
        40,
    );
    let snapshot = capture.messages.len() - capture.per_transaction.iter().sum::<usize>();
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    let mut stripped = 0;
    for message in &capture.messages[snapshot..] {
        let Some(value) = &message.value else {
            continue;
        };
        let mut event: serde_json::Value = serde_json::from_str(value).expect("JSON");
        let source = event["source"].as_object_mut().expect("a source block");
        source.remove("file");
        source.remove("pos");
        writeln!(file, "{event}").expect("write");
        stripped += 1;
    }
    assert!(stripped > 40);
    let pipeline = run_file(file.path(), DecimalMode::Precise).await;
    let letters = pipeline.dead_letters().recent();
    assert_eq!(letters.len(), stripped, "every event is a dead letter");
    assert!(
        letters
            .iter()
            .all(|letter| letter.reason.contains("no usable source position")),
        "{:?}",
        letters[0]
    );
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .expect("shutdown");
}
