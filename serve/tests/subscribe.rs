//! WebSocket subscriptions over a real socket.

mod common;

use std::sync::Arc;

use common::{next_json, next_update, receive, room, row_json, within, Received, Server};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpSocket};
use twinflow_views::{Datum, Row, StateConfig, ViewId};

fn rows_of(message: &Value) -> Vec<Value> {
    message["rows"].as_array().cloned().expect("rows")
}

fn upserts(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| row_json(ViewId::Occupancy, row))
            .collect(),
    )
}

fn deletes(rooms: &[i64]) -> Value {
    Value::Array(
        rooms
            .iter()
            .map(|room| json!({ "room_id": room }))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_filtered_changes() {
    let mut server = Server::start(StateConfig::default()).await;
    server.put_rooms(vec![
        room(1, 10, 0),
        room(1, 11, 0),
        room(1, 12, 0),
        room(2, 20, 0),
    ]);
    let mut company1 = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=1")
        .await;
    let mut company2 = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=2")
        .await;
    let mut everything = server.subscribe("/v1/views/occupancy/subscribe").await;

    let snapshot = next_json(&mut company1).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["view"], "occupancy");
    assert_eq!(snapshot["as_of"], 1);
    assert_eq!(snapshot["reset"], false);
    assert!(snapshot.get("reason").is_none());
    assert_eq!(
        rows_of(&snapshot),
        server.expected(ViewId::Occupancy, |row| row[0] == Datum::Int(1))
    );
    assert_eq!(
        rows_of(&next_json(&mut company2).await),
        server.expected(ViewId::Occupancy, |row| row[0] == Datum::Int(2))
    );
    assert_eq!(rows_of(&next_json(&mut everything).await).len(), 4);

    // as_of 2: only company 2 changes; as_of 3: company 1 updates one room and adds one;
    // as_of 4: a room of company 1 is deleted and another one moves to company 2.
    server.put_rooms(vec![room(2, 21, 0)]);
    server.put_rooms(vec![room(1, 10, 5), room(1, 13, 0)]);
    server.commit(
        vec![(ViewId::Occupancy, room(2, 12, 3))],
        vec![(ViewId::Occupancy, twinflow_views::Key::new(&[11]))],
    );

    let changes = next_update(&mut company1).await;
    assert_eq!(
        changes,
        json!({"type": "changes", "view": "occupancy", "as_of": 3, "upserts": upserts(&[room(1, 10, 5), room(1, 13, 0)]), "deletes": []}),
        "nothing for as_of 2, which only company 2 saw"
    );
    let changes = next_update(&mut company1).await;
    assert_eq!(changes["as_of"], 4);
    assert_eq!(changes["upserts"], json!([]));
    assert_eq!(
        changes["deletes"],
        deletes(&[11, 12]),
        "the room that moved away is a delete"
    );

    let changes = next_update(&mut company2).await;
    assert_eq!(
        (changes["as_of"].clone(), changes["upserts"].clone()),
        (json!(2), upserts(&[room(2, 21, 0)]))
    );
    let changes = next_update(&mut company2).await;
    assert_eq!(changes["as_of"], 4);
    assert_eq!(
        changes["upserts"],
        upserts(&[room(2, 12, 3)]),
        "the room that moved in is an upsert"
    );
    assert_eq!(changes["deletes"], json!([]));

    for as_of in 2..=4 {
        assert_eq!(next_update(&mut everything).await["as_of"], as_of);
    }
    let status = server.operator_get("/v1/status").await.json();
    assert_eq!(status["views"]["occupancy"]["subscribers"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_while_idle() {
    let mut server = Server::start(StateConfig::default()).await;
    server.put_rooms(vec![room(1, 10, 0)]);
    let mut ws = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=1")
        .await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    // Commits elsewhere move as_of without changes for this subscriber.
    server.put_rooms(vec![room(2, 20, 0)]);
    server.commit(vec![(ViewId::Staffing, staffing_row())], Vec::new());
    // Only progress comes, at least once a second, soon naming the latest as_of.
    loop {
        let progress = next_json(&mut ws).await;
        assert_eq!(progress["type"], "progress");
        if progress["as_of"] == 3 {
            break;
        }
    }
    assert_eq!(
        next_json(&mut ws).await,
        json!({"type": "progress", "as_of": 3}),
        "and again while idle"
    );
}

fn staffing_row() -> Row {
    let mut row = vec![
        Datum::Int(1),
        Datum::Int(5),
        Datum::Null,
        Datum::Int(1),
        Datum::Text("Dev".into()),
        Datum::Null,
    ];
    row.extend([3, 2, 1, 1, 0].map(Datum::Int));
    Arc::from(row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_sends_exactly_the_later_changes() {
    let mut server = Server::start(StateConfig::default()).await;
    for i in 1..=5 {
        server.put_rooms(vec![room(1, 10, i), room(2, 20, i)]);
    }
    server.put_rooms(vec![room(2, 20, 100)]); // as_of 6: nothing for company 1
    let mut ws = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=1&after=3")
        .await;
    let first = next_update(&mut ws).await;
    assert_eq!(
        first,
        json!({"type": "changes", "view": "occupancy", "as_of": 4, "upserts": upserts(&[room(1, 10, 4)]), "deletes": []})
    );
    let second = next_update(&mut ws).await;
    assert_eq!(second["as_of"], 5);
    assert_eq!(second["upserts"], upserts(&[room(1, 10, 5)]));
    server.put_rooms(vec![room(1, 10, 7)]);
    let live = next_update(&mut ws).await;
    assert_eq!(live["as_of"], 7);
    assert_eq!(live["upserts"], upserts(&[room(1, 10, 7)]));

    // Resuming at the current as_of: nothing to replay, then live changes.
    let mut current = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=1&after=7")
        .await;
    // The first message is progress; by then the subscription exists.
    assert_eq!(
        next_json(&mut current).await,
        json!({"type": "progress", "as_of": 7})
    );
    server.delete_rooms(&[10]);
    let deleted = next_update(&mut current).await;
    assert_eq!(
        (deleted["as_of"].clone(), deleted["deletes"].clone()),
        (json!(8), deletes(&[10]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_that_cannot_be_served_resets() {
    let config = StateConfig {
        log_row_changes: 2,
        ..StateConfig::default()
    };
    let mut server = Server::start(config).await;
    for i in 1..=5 {
        server.put_rooms(vec![room(1, 10 + i, i)]);
    }
    let mut ws = server
        .subscribe("/v1/views/occupancy/subscribe?company_id=1&after=1")
        .await;
    let reset = next_json(&mut ws).await;
    assert_eq!(reset["type"], "snapshot");
    assert_eq!(reset["as_of"], 5);
    assert_eq!(reset["reset"], true);
    assert_eq!(reset["reason"], "not_retained");
    assert_eq!(
        rows_of(&reset),
        server.expected(ViewId::Occupancy, |_| true)
    );
    server.put_rooms(vec![room(1, 99, 0)]);
    assert_eq!(next_update(&mut ws).await["as_of"], 6);

    let mut ahead = server
        .subscribe("/v1/views/occupancy/subscribe?after=1000")
        .await;
    let reset = next_json(&mut ahead).await;
    assert_eq!(
        (reset["reset"].clone(), reset["reason"].clone()),
        (json!(true), json!("unknown"))
    );
    assert_eq!(reset["as_of"], 6);
}

/// A room of company 1 whose name is `size` bytes long and names `as_of`.
fn big_room(id: i64, as_of: u64, size: usize) -> Row {
    let row = room(1, id, 0);
    let mut row = row.to_vec();
    row[4] = Datum::Text(format!("{as_of:>size$}").into());
    Arc::from(row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_is_reset_never_skipped() {
    // Small socket buffers on both ends and a queue of 4 deltas: a client that does not read
    // while many large changes are committed must fall behind the queue.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_send_buffer_size(4096).expect("sndbuf");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener: TcpListener = socket.listen(16).expect("listen");
    let config = StateConfig {
        subscriber_queue: 4,
        ..StateConfig::default()
    };
    let mut server = Server::start_on(listener, config, common::anonymous());
    let rooms: Vec<i64> = (0..20).collect();
    server.put_rooms(rooms.iter().map(|&id| big_room(id, 1, 1000)).collect());

    let client = TcpSocket::new_v4().expect("socket");
    client.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = within(client.connect(server.addr)).await.expect("connect");
    let url = format!(
        "ws://{}/v1/views/occupancy/subscribe?company_id=1",
        server.addr
    );
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, stream))
        .await
        .expect("websocket");
    let snapshot = next_json(&mut ws).await;
    assert_eq!(snapshot["as_of"], 1);

    // ~20 kB a message, 300 messages: far more than socket buffers plus the queue hold.
    for _ in 0..300 {
        let as_of = server.as_of + 1;
        server.put_rooms(rooms.iter().map(|&id| big_room(id, as_of, 1000)).collect());
    }
    let last = server.as_of;

    let mut have = 1;
    let mut resets = 0;
    while have < last {
        match receive(&mut ws).await {
            Received::Json(message) if message["type"] == "changes" => {
                assert_eq!(message["as_of"], have + 1, "no gap in the changes");
                assert_eq!(message["upserts"].as_array().map(Vec::len), Some(20));
                have += 1;
            }
            Received::Json(message) if message["type"] == "snapshot" => {
                assert_eq!(
                    (message["reset"].clone(), message["reason"].clone()),
                    (json!(true), json!("too_slow"))
                );
                have = message["as_of"].as_u64().expect("as_of");
                let rows = rows_of(&message);
                assert_eq!(rows.len(), 20);
                let name = format!("{have:>1000}");
                assert!(
                    rows.iter().all(|row| row["room_name"] == name.as_str()),
                    "the snapshot is at its as_of"
                );
                resets += 1;
            }
            Received::Json(message) => assert_eq!(message["type"], "progress"),
            Received::Close(reason) => {
                assert!(reason.contains("too slow"), "closed: {reason}");
                return;
            }
        }
    }
    assert!(
        resets >= 1,
        "the subscriber fell behind and must have been reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscriptions_are_refused_before_the_upgrade() {
    let server = Server::start(StateConfig::default()).await;
    for (path, status) in [
        ("/v1/views/nope/subscribe", 404),
        ("/v1/views/occupancy/subscribe?floor_id=high", 400),
        ("/v1/views/occupancy/subscribe?cursor=1.1.1", 400),
    ] {
        let url = format!("ws://{}{path}", server.addr);
        match within(tokio_tungstenite::connect_async(url)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), status, "{path}");
                let body: Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                        .expect("a JSON error");
                assert!(body["error"].is_string(), "{path}: {body}");
            }
            other => panic!("{path}: expected an HTTP error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_closes_subscriptions_with_a_reason() {
    let mut server = Server::start(StateConfig::default()).await;
    let mut ws = server.subscribe("/v1/views/occupancy/subscribe").await;
    assert_eq!(next_json(&mut ws).await["type"], "snapshot");
    server.shut_down();
    loop {
        match receive(&mut ws).await {
            Received::Json(message) => assert_eq!(message["type"], "progress"),
            Received::Close(reason) => {
                assert_eq!(reason, "the server is shutting down");
                break;
            }
        }
    }
}
