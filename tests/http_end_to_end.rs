//! End to end over real sockets: the org generator's snapshot and change stream go through the
//! whole pipeline, and every view read over HTTP (JSON, paged, and Arrow) equals the oracle's
//! recomputation of views.sql over the same transactions.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_oracle::{evaluate, Tables};
use twinflow_views::{ColumnType, ViewId};

use common::{get, read_all, sort_key, to_json};

#[test]
fn served_views_equal_the_oracle_over_http() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let pipeline = Pipeline::start(PipelineConfig::default()).expect("pipeline starts");
    let sources = pipeline.sources();
    let mut tables = Tables::new();
    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 3,
            scale: 3_000,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    for part in generator.snapshot() {
        tables.apply_transaction(&part);
        sources.blocking_send(part).expect("pipeline accepts");
    }
    for _ in 0..3_000 {
        let txn = generator.next_transaction();
        tables.apply_transaction(&txn);
        sources.blocking_send(txn).expect("pipeline accepts");
    }
    let metrics = pipeline.metrics();
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics.transactions() < 3_001 {
        assert!(Instant::now() < deadline, "pipeline did not catch up");
        std::thread::sleep(Duration::from_millis(5));
    }

    let address = common::serve_pipeline(
        &runtime,
        &pipeline,
        twinflow_serve::ServeConfig::anonymous(None),
    );

    let expected = evaluate(&tables);
    let mut counts = BTreeMap::new();
    for view in ViewId::ALL {
        let (_, mut actual) = read_all(address, None, view);
        let mut wanted: Vec<serde_json::Value> =
            expected[&view].iter().map(|r| to_json(view, r)).collect();
        // Served rows may carry derived ratio columns: compare the SQL columns only.
        for row in &mut actual {
            if let Some(object) = row.as_object_mut() {
                object.retain(|name, _| {
                    twinflow_dataflows::schema(view)
                        .column_index(name)
                        .is_some()
                });
            }
        }
        actual.sort_by_key(sort_key);
        wanted.sort_by_key(sort_key);
        assert!(
            !wanted.is_empty(),
            "{view} is empty: the test would prove nothing"
        );
        assert_eq!(actual.len(), wanted.len(), "{view}: row count");
        assert!(
            actual == wanted,
            "{view}: served rows differ from the oracle"
        );
        counts.insert(view, actual.len());
    }

    // The Arrow export of one company's desks carries the same values as the JSON.
    let json = get(
        address,
        "/v1/views/desk_occupancy?company_id=1&limit=1000000",
    )
    .json();
    let arrow = get(
        address,
        "/v1/views/desk_occupancy?company_id=1&limit=1000000&format=arrow",
    );
    assert_eq!(arrow.status, 200);
    assert_eq!(
        arrow
            .header("x-twinflow-as-of")
            .and_then(|v| v.parse().ok()),
        json["as_of"].as_u64()
    );
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body), None)
        .expect("Arrow IPC stream");
    let mut arrow_rows: Vec<serde_json::Value> = Vec::new();
    for batch in reader {
        let batch = batch.expect("record batch");
        for i in 0..batch.num_rows() {
            let mut object = serde_json::Map::new();
            for column in twinflow_dataflows::schema(ViewId::DeskOccupancy).columns {
                let array = batch.column_by_name(column.name).expect("column present");
                let value: serde_json::Value = if array.is_null(i) {
                    serde_json::Value::Null
                } else {
                    match column.ty {
                        ColumnType::Int => array
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .expect("int64")
                            .value(i)
                            .into(),
                        ColumnType::Float => array
                            .as_any()
                            .downcast_ref::<Float64Array>()
                            .expect("float64")
                            .value(i)
                            .into(),
                        ColumnType::Text => array
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .expect("utf8")
                            .value(i)
                            .into(),
                    }
                };
                object.insert(column.name.to_owned(), value);
            }
            arrow_rows.push(serde_json::Value::Object(object));
        }
    }
    let mut json_rows: Vec<serde_json::Value> = json["rows"].as_array().expect("rows").clone();
    for row in &mut json_rows {
        if let Some(object) = row.as_object_mut() {
            object.retain(|name, _| {
                twinflow_dataflows::schema(ViewId::DeskOccupancy)
                    .column_index(name)
                    .is_some()
            });
        }
    }
    assert!(!json_rows.is_empty());
    arrow_rows.sort_by_key(sort_key);
    json_rows.sort_by_key(sort_key);
    assert!(arrow_rows == json_rows, "Arrow and JSON differ");

    let status = get(address, "/v1/status").json();
    assert_eq!(
        status["as_of"].as_u64(),
        Some(pipeline.state().snapshot().as_of)
    );
    drop(sources);
    pipeline.shutdown();
    eprintln!("rows per view: {counts:?}");
}
