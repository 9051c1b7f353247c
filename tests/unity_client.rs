//! The protocol of the Unity example (`examples/unity/DeskOccupancy.cs`), spoken the same way
//! by a Rust client against a running pipeline: one building's `desk_occupancy` with the
//! compact encoding and a tenant token in the URL, a dictionary of desk states by `table_id`
//! (column positions from the snapshot's `columns`), and, after a lost connection, a resume
//! with `?after=<last as_of>`. At the end the client's desks equal the served rows.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use twinflow_connectors::generator::{ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_views::{Filter, ViewId};

const SECRET: &[u8] = b"the Unity protocol test's secret, 32 bytes";

/// What the example keeps of one desk.
#[derive(Clone, Debug, PartialEq)]
struct DeskState {
    label: String,
    seats: i64,
    assigned: i64,
}

/// The example's state: column positions, desks by `table_id`, the last `as_of`.
#[derive(Default)]
struct DeskBoard {
    table_id: usize,
    label: usize,
    seats: usize,
    assigned: usize,
    desks: HashMap<i64, DeskState>,
    last_as_of: u64,
    snapshots: usize,
}

impl DeskBoard {
    /// Takes one message as `OnMessage` does.
    fn on_message(&mut self, text: &str) {
        let message: serde_json::Value = serde_json::from_str(text).expect("JSON");
        match message["type"].as_str() {
            Some("snapshot") => {
                let columns: Vec<&str> = message["columns"]
                    .as_array()
                    .expect("the compact snapshot names its columns")
                    .iter()
                    .filter_map(|c| c.as_str())
                    .collect();
                let at = |name: &str| {
                    columns
                        .iter()
                        .position(|c| *c == name)
                        .unwrap_or_else(|| panic!("no column {name}"))
                };
                self.table_id = at("table_id");
                self.label = at("label");
                self.seats = at("seats");
                self.assigned = at("assigned");
                self.desks.clear();
                for row in message["rows"].as_array().expect("rows") {
                    self.upsert(row);
                }
                self.snapshots += 1;
            }
            Some("changes") => {
                for row in message["upserts"].as_array().into_iter().flatten() {
                    self.upsert(row);
                }
                for key in message["deletes"].as_array().into_iter().flatten() {
                    self.desks.remove(&key[0].as_i64().expect("a table_id"));
                }
            }
            _ => {}
        }
        let as_of = message["as_of"]
            .as_u64()
            .expect("every message says its as_of");
        self.last_as_of = self.last_as_of.max(as_of);
    }

    fn upsert(&mut self, row: &serde_json::Value) {
        let int = |i: usize| row[i].as_i64().expect("an integer");
        self.desks.insert(
            int(self.table_id),
            DeskState {
                label: row[self.label].as_str().expect("a label").to_owned(),
                seats: int(self.seats),
                assigned: int(self.assigned),
            },
        );
    }
}

#[test]
fn a_client_of_the_unity_protocol_follows_one_building_across_a_reconnect() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (pipeline, mut generator) = common::loaded_pipeline(GeneratorConfig {
        seed: 8,
        scale: 4_000,
        mix: ChangeMix::PersonMoves,
        ..GeneratorConfig::default()
    });
    let sources = pipeline.sources();
    let state = pipeline.state();
    // The building with the most desks, and its company.
    let snapshot = state.snapshot();
    let all = Filter::default();
    let mut desks_per_building: HashMap<(i64, i64), usize> = HashMap::new();
    for (_, row) in snapshot.scan(ViewId::DeskOccupancy, &all, None) {
        let key = (
            row[0].as_int().expect("company"),
            row[1].as_int().expect("building"),
        );
        *desks_per_building.entry(key).or_default() += 1;
    }
    let ((company, building), _) = desks_per_building
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .expect("desks");

    let address = common::serve_with_tokens(&runtime, &pipeline, SECRET);
    let token = common::sign_token(
        SECRET,
        serde_json::json!({"sub": "unity", "company_id": company}),
    );
    let url = |after: u64| {
        let mut url = format!(
            "ws://{address}/v1/views/desk_occupancy/subscribe?encoding=compact\
             &building_id={building}&access_token={token}"
        );
        if after > 0 {
            url.push_str(&format!("&after={after}"));
        }
        url
    };

    let mut board = DeskBoard::default();
    let feed = |generator: &mut OrgGenerator, transactions: usize| {
        for _ in 0..transactions {
            let txn = generator.next_transaction();
            sources.blocking_send(txn).expect("pipeline accepts");
        }
    };
    let connect = |after: u64| {
        runtime
            .block_on(tokio_tungstenite::connect_async(url(after)))
            .expect("subscribes")
            .0
    };
    // Connected: the snapshot, then changes while the org changes.
    let mut socket = connect(board.last_as_of);
    runtime.block_on(read_until(&mut socket, &mut board, 1));
    feed(&mut generator, 400);
    let mid = settled(&state);
    runtime.block_on(read_until(&mut socket, &mut board, mid));
    // The connection is lost; the org goes on changing.
    drop(socket);
    feed(&mut generator, 400);
    let end = settled(&state);
    // Reconnected with ?after=: the changes since, no new snapshot.
    let mut socket = connect(board.last_as_of);
    runtime.block_on(read_until(&mut socket, &mut board, end));
    assert_eq!(
        board.snapshots, 1,
        "the reconnect resumed without a snapshot"
    );

    let served: HashMap<i64, DeskState> = {
        let filter = Filter::parse(
            twinflow_dataflows::schema(ViewId::DeskOccupancy),
            [("building_id", building.to_string().as_str())],
        )
        .expect("a filter");
        let snapshot = state.snapshot();
        assert_eq!(
            snapshot.as_of, board.last_as_of,
            "the client is at the served as_of"
        );
        snapshot
            .scan(ViewId::DeskOccupancy, &filter, None)
            .map(|(_, row)| {
                let text = |i: usize| match &row[i] {
                    twinflow_views::Datum::Text(t) => t.to_string(),
                    other => panic!("not text: {other:?}"),
                };
                (
                    row[4].as_int().expect("table_id"),
                    DeskState {
                        label: text(5),
                        seats: row[6].as_int().expect("seats"),
                        assigned: row[9].as_int().expect("assigned"),
                    },
                )
            })
            .collect()
    };
    assert!(!served.is_empty());
    assert_eq!(board.desks, served);
    drop(sources);
    pipeline.shutdown();
}

/// Reads messages into `board` until it has reached `as_of`.
async fn read_until(socket: &mut common::Ws, board: &mut DeskBoard, as_of: u64) {
    while board.last_as_of < as_of {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")
            .expect("open")
            .expect("a frame");
        if let Message::Text(text) = message {
            board.on_message(&text);
        }
    }
}

/// The `as_of` once the engine has published everything sent to it (nothing new for 300 ms).
fn settled(state: &twinflow_views::ServedState) -> u64 {
    let since = Instant::now();
    let mut last = state.snapshot().as_of;
    let mut stable = Instant::now();
    while stable.elapsed() < Duration::from_millis(300) {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "the engine did not settle"
        );
        std::thread::sleep(Duration::from_millis(20));
        let now = state.snapshot().as_of;
        if now != last {
            last = now;
            stable = Instant::now();
        }
    }
    last
}
