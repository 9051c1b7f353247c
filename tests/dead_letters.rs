//! Bad input loses nothing else: a change that does not fit the catalog becomes a dead letter
//! naming the table, primary key, column and reason (never the values), the valid changes of
//! the same transaction are applied, and the pipeline keeps running.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::txn;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::{RowChange, SourcePosition, TableId, Value};
use twinflow_oracle::rows;
use twinflow_views::{Datum, Filter, ViewId};

#[test]
fn a_malformed_change_becomes_a_dead_letter_and_the_rest_flows_on() {
    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline starts");
    let sources = pipeline.sources();
    let state = pipeline.state();

    let mut bad_room: Vec<Value> = rows::room(2, 1, "secret-name", "office", 4).to_vec();
    bad_room[3] = Value::text("kitchen"); // not a value of ENUM('office','meeting',...)
    let changes = vec![
        RowChange::insert(TableId::Company, rows::company(1, false)),
        RowChange::insert(TableId::Building, rows::building(1, 1, "HQ")),
        RowChange::insert(TableId::Floor, rows::floor(1, 1, 0, "ground")),
        RowChange::insert(TableId::Room, rows::room(1, 1, "lab", "lab", 6)),
        RowChange::insert(TableId::Room, Arc::from(bad_room)),
    ];
    sources
        .blocking_send(txn("faulty", 1, changes))
        .expect("pipeline accepts");
    // A later transaction still flows.
    sources
        .blocking_send(txn(
            "faulty",
            2,
            vec![RowChange::insert(
                TableId::Room,
                rows::room(3, 1, "meet", "meeting", 8),
            )],
        ))
        .expect("pipeline accepts");

    let deadline = Instant::now() + Duration::from_secs(30);
    while state.snapshot().len(ViewId::Occupancy) < 2 {
        assert!(Instant::now() < deadline, "the valid rooms never appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
    let snapshot = state.snapshot();
    let all = Filter::default();
    let rooms: Vec<Datum> = snapshot
        .scan(ViewId::Occupancy, &all, None)
        .map(|(_, row)| row[3].clone())
        .collect();
    assert_eq!(
        rooms,
        vec![Datum::Int(1), Datum::Int(3)],
        "the valid rooms are served, the bad one is not"
    );

    let letters = pipeline.dead_letters();
    assert_eq!(letters.total(), 1);
    let letter = &letters.recent()[0];
    assert_eq!(letter.source, "faulty");
    assert_eq!(letter.position, SourcePosition::Generator { seq: 1 });
    assert_eq!(letter.table.as_deref(), Some("twin_infra.room"));
    assert_eq!(letter.key, Some(2));
    assert!(
        letter.reason.contains("kind") && letter.reason.contains("ENUM"),
        "reason names the column and its type: {}",
        letter.reason
    );
    let written = serde_json::to_string(letter).expect("a letter serializes");
    for value in ["kitchen", "secret-name"] {
        assert!(!written.contains(value), "a column value leaked: {written}");
    }

    drop(sources);
    pipeline.shutdown();
}
