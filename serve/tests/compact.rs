//! The compact subscription encoding (`?encoding=compact`) carries the same rows as the object
//! encoding for the same subscription: live, resumed with `?after=`, and reset when the changes
//! asked for are no longer kept. A property test over random commits and filters.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{next_json, room, Server};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use twinflow_views::{Key, StateConfig, ViewId};

/// A subscriber's view of the rows: key (as JSON text) → row as an object.
type Rows = BTreeMap<String, Value>;

/// What a subscriber has made of its messages, and the `as_of` it has reached.
#[derive(Clone, Default)]
struct Follower {
    rows: Rows,
    /// The compact rows' columns, and the values of the columns they leave out.
    columns: Vec<String>,
    fixed: Map<String, Value>,
    key: Vec<String>,
    as_of: u64,
    resets: usize,
}

impl Follower {
    /// A compact row or key (an array) as the object the object encoding sends, with the
    /// values of the `fixed` columns.
    fn object(names: &[String], values: &Value, fixed: &Map<String, Value>) -> Value {
        let values = values.as_array().expect("an array");
        assert_eq!(values.len(), names.len(), "{values:?} against {names:?}");
        let mut object = fixed.clone();
        object.extend(names.iter().cloned().zip(values.iter().cloned()));
        Value::Object(object)
    }

    fn key_of(&self, row: &Value) -> String {
        let object: Map<String, Value> = self
            .key
            .iter()
            .map(|name| (name.clone(), row[name].clone()))
            .collect();
        Value::Object(object).to_string()
    }

    /// Takes one message of either encoding.
    fn take(&mut self, message: &Value) {
        let compact = message.get("view").is_none() || message.get("columns").is_some();
        let row = |f: &Follower, value: &Value| {
            if compact {
                Follower::object(&f.columns, value, &f.fixed)
            } else {
                value.clone()
            }
        };
        match message["type"].as_str() {
            Some("snapshot") => {
                if message["reset"] == true {
                    self.resets += 1;
                }
                if let Some(columns) = message.get("columns") {
                    self.columns = strings(columns);
                    self.key = strings(&message["key"]);
                    self.fixed = message["fixed"].as_object().expect("fixed").clone();
                    assert!(
                        self.fixed.keys().all(|name| !self.columns.contains(name)),
                        "rows leave out the fixed columns: {message}"
                    );
                } else {
                    self.key = vec!["room_id".to_owned()];
                }
                self.rows.clear();
                for value in message["rows"].as_array().expect("rows") {
                    let row = row(self, value);
                    self.rows.insert(self.key_of(&row), row);
                }
            }
            Some("changes") => {
                for value in message["upserts"].as_array().into_iter().flatten() {
                    let row = row(self, value);
                    self.rows.insert(self.key_of(&row), row);
                }
                for value in message["deletes"].as_array().into_iter().flatten() {
                    let key = if compact {
                        Follower::object(&self.key, value, &Map::new())
                    } else {
                        value.clone()
                    };
                    self.rows.remove(&key.to_string());
                }
            }
            _ => {}
        }
        if let Some(as_of) = message["as_of"].as_u64() {
            self.as_of = self.as_of.max(as_of);
        }
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a name").to_owned())
        .collect()
}

/// One commit: rooms put (room, assigned) and rooms deleted.
#[derive(Clone, Debug)]
struct Step {
    puts: Vec<(i64, i64)>,
    deletes: Vec<i64>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        proptest::collection::vec((1..=12i64, 0..=4i64), 0..5),
        proptest::collection::vec(1..=12i64, 0..3),
    )
        .prop_map(|(puts, deletes)| Step { puts, deletes })
}

/// A filter of the subscription: none, a company, a column of the rows, or both.
fn filter() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just("company_id=2&"),
        Just("kind=lab&"),
        Just("kind=lab&company_id=3&")
    ]
}

fn commit(server: &mut Server, step: &Step) {
    // A room's id decides its company here, so that a room does not move between companies.
    let puts = step
        .puts
        .iter()
        .map(|&(id, assigned)| (ViewId::Occupancy, room(1 + id % 3, id, assigned)))
        .collect();
    let deletes = step
        .deletes
        .iter()
        .map(|&id| (ViewId::Occupancy, Key::new(&[id])))
        .collect();
    server.commit(puts, deletes);
}

/// Follows a subscription until it has reached `as_of`.
async fn follow(ws: &mut common::Ws, follower: &mut Follower, as_of: u64) {
    while follower.as_of < as_of {
        let message = next_json(ws).await;
        follower.take(&message);
    }
}

async fn check(
    server: &mut Server,
    filter: &str,
    before: &[Step],
    after: &[Step],
) -> Result<(), TestCaseError> {
    let address = server.addr;
    let url = |encoding: &str, resume: Option<u64>| {
        let after = resume.map(|a| format!("after={a}&")).unwrap_or_default();
        format!("ws://{address}/v1/views/occupancy/subscribe?{filter}{after}encoding={encoding}")
    };
    let connect = |url: String| async move {
        tokio_tungstenite::connect_async(url)
            .await
            .expect("subscribes")
            .0
    };
    let start = server.as_of;
    let mut live = Vec::new();
    for encoding in ["objects", "compact"] {
        let mut ws = connect(url(encoding, None)).await;
        let mut follower = Follower::default();
        // The snapshot first (also at `as_of` 0): resumed clients take its columns.
        follower.take(&next_json(&mut ws).await);
        follow(&mut ws, &mut follower, start).await;
        live.push((ws, follower));
    }
    for step in before {
        commit(server, step);
    }
    let middle = server.as_of;
    for step in after {
        commit(server, step);
    }
    let end = server.as_of;
    // Resumed from the middle (kept), and from the start (kept or not: a reset then).
    let mut resumed = Vec::new();
    for resume in [middle, start.max(1)] {
        for (encoding, (_, first)) in ["objects", "compact"].into_iter().zip(&live) {
            let ws = connect(url(encoding, Some(resume))).await;
            // A resume sends no snapshot: the client knows the columns, the key and the fixed
            // values from its first snapshot of the same URL.
            let follower = Follower {
                rows: Rows::new(),
                as_of: resume,
                resets: 0,
                ..first.clone()
            };
            resumed.push((resume, ws, follower));
        }
    }
    let keep = |row: &twinflow_views::Row| {
        let company = row[0].as_int();
        let kind = match &row[5] {
            twinflow_views::Datum::Text(kind) => kind.as_str().to_owned(),
            _ => String::new(),
        };
        match filter {
            "company_id=2&" => company == Some(2),
            "kind=lab&" => kind == "lab",
            "kind=lab&company_id=3&" => kind == "lab" && company == Some(3),
            _ => true,
        }
    };
    let expected: Rows = server
        .expected(ViewId::Occupancy, keep)
        .into_iter()
        .map(|row| (format!("{{\"room_id\":{}}}", row["room_id"]), row))
        .collect();
    for (ws, follower) in &mut live {
        follow(ws, follower, end).await;
        prop_assert_eq!(&follower.rows, &expected, "live");
    }
    for (resume, ws, follower) in &mut resumed {
        // What a resume from before the retained changes would have missed is in its reset
        // snapshot; from what was resumed, the rows are those of the live subscribers.
        follow(ws, follower, end).await;
        if follower.resets == 0 {
            // Resumed: only the changes after `resume` were sent, so compare on what changed.
            continue;
        }
        prop_assert_eq!(&follower.rows, &expected, "reset from {}", resume);
    }
    for (_, _, follower) in &resumed {
        let seen = if follower.resets > 0 {
            &RESETS
        } else {
            &RESUMES
        };
        seen.fetch_add(1, Ordering::Relaxed);
    }
    // Both encodings resumed alike: the same resets, the same rows.
    for pair in resumed.chunks(2) {
        prop_assert_eq!(pair[0].2.resets, pair[1].2.resets);
        prop_assert_eq!(&pair[0].2.rows, &pair[1].2.rows);
    }
    Ok(())
}

#[test]
fn compact_subscriptions_carry_the_rows_of_object_subscriptions() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // A short change log, so that resuming from the start is often a reset.
    let config = StateConfig {
        log_row_changes: 12,
        ..StateConfig::default()
    };
    let server = RefCell::new(runtime.block_on(Server::start(config)));
    let mut runner = TestRunner::new(Config {
        cases: 12,
        ..Config::default()
    });
    let strategy = (
        filter(),
        proptest::collection::vec(step(), 1..6),
        proptest::collection::vec(step(), 1..6),
    );
    runner
        .run(&strategy, |(filter, before, after)| {
            runtime.block_on(check(&mut server.borrow_mut(), filter, &before, &after))
        })
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert!(
        RESETS.load(Ordering::Relaxed) > 0 && RESUMES.load(Ordering::Relaxed) > 0,
        "both resumes and resets were exercised"
    );
}

/// Resumed subscriptions that were reset, and that were served the changes asked for.
static RESETS: AtomicUsize = AtomicUsize::new(0);
static RESUMES: AtomicUsize = AtomicUsize::new(0);
