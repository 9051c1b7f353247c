//! End to end against a real MariaDB: `twinflow run --mysql` follows a private server while
//! random transactions are written into it, and `twinflow verify` (views.sql evaluated on the
//! server) must pass — also after the server is killed and restarted mid-stream, and with bad
//! rows and DDL in the stream.

mod common;

use common::Engine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_ingest::RowChange;
use twinflow_oracle::contract::schema_sql;
use twinflow_oracle::mariadb::PrivateMariaDb;
use twinflow_oracle::sql;

/// A server with the contract's schema and a generated org loaded; the generator to go on with.
async fn loaded_server(seed: u64, people: u64) -> (PrivateMariaDb, OrgGenerator) {
    let db = PrivateMariaDb::start().expect("a private MariaDB");
    db.source(schema_sql()).expect("schema.sql loads");
    let generator = OrgGenerator::new(
        GeneratorConfig {
            seed,
            scale: people,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let rows: Vec<RowChange> = generator.snapshot().flat_map(|t| t.changes).collect();
    let mut conn = connect(&db).await;
    sql::load_rows(&mut conn, &rows)
        .await
        .expect("the org loads");
    let people = db
        .sql("SELECT COUNT(*) FROM twin_hr.people")
        .expect("counts");
    assert_eq!(
        people.trim(),
        people_in(&rows).to_string(),
        "every person loaded"
    );
    (db, generator)
}

fn people_in(rows: &[RowChange]) -> usize {
    rows.iter()
        .filter(|c| c.table == twinflow_ingest::TableId::People)
        .count()
}

async fn connect(db: &PrivateMariaDb) -> Conn {
    Conn::from_url(db.url()).await.expect("connects")
}

/// Writes `count` generated transactions; returns how many the server refused (unique keys).
async fn write(conn: &mut Conn, generator: &mut OrgGenerator, count: usize) -> usize {
    let mut refused = 0;
    for _ in 0..count {
        let txn = generator.next_transaction();
        if sql::apply_transaction(conn, &txn.changes).await.is_err() {
            refused += 1;
        }
    }
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_equal_views_sql_through_random_transactions_and_a_server_restart() {
    let (mut db, mut generator) = loaded_server(7, 2000).await;
    let engine = Engine::start(&db.url());
    let mut conn = connect(&db).await;
    let refused = write(&mut conn, &mut generator, 2000).await;
    assert!(refused < 200, "{refused} of 2000 transactions refused");
    engine.verify(&db.url());

    // Kill the server mid-stream (SIGKILL, no clean shutdown), write on after the restart.
    write(&mut conn, &mut generator, 300).await;
    drop(conn);
    db.kill();
    std::thread::sleep(Duration::from_millis(500));
    db.restart().expect("the server restarts");
    let mut conn = connect(&db).await;
    write(&mut conn, &mut generator, 1000).await;
    engine.verify(&db.url());

    let status = engine.get("/v1/status");
    let connector = &status["connectors"][0];
    assert_eq!(connector["state"], "streaming", "{status}");
    assert!(connector["reconnects"].as_u64() >= Some(1), "{status}");
    assert_eq!(
        connector["snapshots"], 1,
        "resumed by GTID, no second snapshot: {status}"
    );
    assert!(
        status["sources"][0]["position"]["gtid"].is_string(),
        "{status}"
    );

    // Idle: heartbeats keep the lag known (it would otherwise grow with the idle time).
    std::thread::sleep(Duration::from_secs(3));
    let status = engine.get("/v1/status");
    let lag = status["sources"][0]["lag_ms"].as_u64().expect("a lag");
    assert!(lag < 2000, "lag {lag} ms after 3 s idle: {status}");
}

/// A small deterministic random number generator (xorshift), so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_killed_at_random_moments_resumes_from_its_checkpoints() {
    let (db, generator) = loaded_server(13, 2000).await;
    let data = tempfile::tempdir().expect("a data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path").to_string();
    let url = db.url();
    let args = [
        "--mysql",
        url.as_str(),
        "--data-dir",
        data_dir.as_str(),
        "--checkpoint-interval",
        "0.5",
    ];
    let seed = 0x5eed_u64 ^ std::process::id() as u64;
    println!("kill moments from seed {seed}");
    let mut dice = Dice(seed | 1);
    let mut engine = Engine::start_with(&args);
    let (mut conn, mut generator) = (connect(&db).await, generator);
    write(&mut conn, &mut generator, 300).await;
    engine.verify(&url);
    wait_for_checkpoint(&engine);

    for round in 1..=5 {
        // Transactions keep arriving while the engine is killed (SIGKILL) at a random moment.
        let count = 100 + dice.below(400) as usize;
        let writer = tokio::spawn(async move {
            write(&mut conn, &mut generator, count).await;
            (conn, generator)
        });
        tokio::time::sleep(Duration::from_millis(50 + dice.below(1500))).await;
        engine.kill();
        (conn, generator) = writer.await.expect("the writer finishes");
        engine = Engine::start_with(&args);
        engine.verify(&url);

        let status = engine.get("/v1/status");
        assert!(
            status["checkpoints"]["restored"]["ts"].is_u64(),
            "round {round}: started from a checkpoint: {status}"
        );
        assert_eq!(
            status["connectors"][0]["snapshots"], 0,
            "round {round}: resumed from the checkpoint's GTID, no snapshot: {status}"
        );
        let restored_as_of = status["checkpoints"]["restored"]["as_of"].as_u64();
        assert!(
            status["as_of"].as_u64() >= restored_as_of,
            "round {round}: {status}"
        );
        wait_for_checkpoint(&engine);
    }
}

/// Waits until `engine` has written a checkpoint.
fn wait_for_checkpoint(engine: &Engine) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = engine.get("/v1/status");
        if status["checkpoints"]["written"].as_u64() >= Some(1) {
            return;
        }
        assert!(Instant::now() < deadline, "no checkpoint written: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_and_ddl_leave_the_rest_of_the_stream_flowing() {
    let (db, _) = loaded_server(11, 600).await;
    let engine = Engine::start(&db.url());
    engine.verify(&db.url());

    // An enum value the catalog does not know, and a building with an extra column: the room is
    // a dead letter, the building flows.
    db.sql(
        "ALTER TABLE twin_infra.room MODIFY kind \
           ENUM('office','meeting','open_space','lab','other','sauna') NOT NULL; \
         ALTER TABLE twin_infra.building ADD COLUMN note TEXT NULL; \
         INSERT INTO twin_infra.room (id, floor_id, name, kind, capacity) \
           VALUES (900001, 1, 'Steam', 'sauna', 4); \
         INSERT INTO twin_infra.building (id, company_id, name, note, created_at, updated_at) \
           VALUES (900002, 1, 'Annex', 'new column', NOW(3), NOW(3));",
    )
    .expect("DDL and inserts");
    // A catalog column dropped: that table is reported and skipped, the others flow.
    db.sql(
        "ALTER TABLE twin_process.task DROP COLUMN duration_minutes; \
         INSERT INTO twin_process.task (id, company_id, name, created_at, updated_at) \
           VALUES (900003, 1, 'Brew', NOW(3), NOW(3)); \
         INSERT INTO twin_infra.floor (id, building_id, level, name) VALUES (900004, 900002, 1, 'F1');",
    )
    .expect("drop column and inserts");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let floor = engine.get("/v1/views/occupancy_by_floor?floor_id=900004");
        if floor["rows"].as_array().is_some_and(|r| r.len() == 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the floor never arrived: {floor}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let letters = engine.get("/v1/deadletters");
    assert_eq!(letters["total"], 1, "{letters}");
    let letter = &letters["recent"][0];
    assert_eq!(letter["table"], "twin_infra.room", "{letter}");
    assert_eq!(letter["key"], 900001, "{letter}");
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.contains("kind") && r.contains("ENUM") && !r.contains("sauna")),
        "the reason names the column and its type, never the value: {letter}"
    );
    assert_eq!(letter["position"]["kind"], "binlog", "{letter}");

    let status = engine.get("/v1/status");
    assert_eq!(status["dead_letters"], 1, "{status}");
    let errors = &status["connectors"][0]["table_errors"];
    assert!(
        errors["twin_process.task"]
            .as_str()
            .is_some_and(|e| e.contains("duration_minutes")),
        "{status}"
    );
    assert_eq!(status["connectors"][0]["state"], "streaming", "{status}");
}

/// Waits until the engine's source `name` has applied everything `db` has logged.
fn wait_caught_up(engine: &Engine, name: &str, db: &PrivateMariaDb) {
    let target = db.sql("SELECT @@gtid_binlog_pos").expect("position");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = engine.get("/v1/status");
        let applied = status["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["source"] == name))
            .and_then(|s| s["position"]["gtid"].as_str().map(str::to_owned));
        if applied.as_deref() == Some(target.trim()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stuck at {applied:?}, server at {target}: {}",
            status["connectors"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_feed_one_engine_each_with_its_own_databases() {
    // Both servers get the same data; each source reads only its service's databases, so the
    // views join rows that came from two servers on one timeline.
    let (org_db, mut generator) = loaded_server(5, 1500).await;
    let (hr_db, _) = loaded_server(5, 1500).await;
    let config = format!(
        "[[mysql]]\nurl = \"{}\"\nname = \"org\"\ndatabases = [\"twin_auth\", \"twin_org\", \"twin_infra\"]\n\n\
         [[mysql]]\nurl = \"{}\"\nname = \"hr\"\ndatabases = [\"twin_hr\", \"twin_process\", \"twin_skills\", \"twin_integration\"]\n",
        org_db.url(),
        hr_db.url()
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("twinflow.toml");
    std::fs::write(&path, config).expect("config written");
    let engine = Engine::start_with(&["--config", path.to_str().expect("utf-8 path")]);

    let (mut org, mut hr) = (connect(&org_db).await, connect(&hr_db).await);
    for _ in 0..800 {
        let txn = generator.next_transaction();
        let a = sql::apply_transaction(&mut org, &txn.changes).await;
        let b = sql::apply_transaction(&mut hr, &txn.changes).await;
        assert_eq!(a.is_ok(), b.is_ok(), "the servers stay identical");
    }
    wait_caught_up(&engine, "org", &org_db);
    wait_caught_up(&engine, "hr", &hr_db);
    engine.verify_with(&org_db.url(), &["--source", "org"]);
    let status = engine.get("/v1/status");
    assert_eq!(
        status["connectors"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
}

/// An operator pauses the MariaDB connector through the CLI: transactions written meanwhile
/// are not read (the connector holds its position), and after resuming they all arrive —
/// `verify` passes, without a second snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_connector_holds_its_position_and_catches_up_when_resumed() {
    const TOKEN: &str = "mysql-operator-token";
    let (db, mut generator) = loaded_server(13, 1000).await;
    let url = db.url();
    let engine = Engine::start_command(
        "run",
        &["--mysql", url.as_str()],
        &[("TWINFLOW_OPERATOR_TOKEN", TOKEN)],
    );
    let mut conn = connect(&db).await;
    write(&mut conn, &mut generator, 200).await;
    engine.verify(&url);
    let status = engine.get("/v1/status");
    let name = status["connectors"][0]["name"]
        .as_str()
        .expect("a connector name")
        .to_string();

    let paused = engine.connectors_cli(Some(TOKEN), &["pause", &name, "--json"]);
    assert!(paused.status.success(), "{paused:?}");
    let paused: serde_json::Value = serde_json::from_slice(&paused.stdout).expect("JSON");
    assert_eq!(paused["state"], "paused", "{paused}");
    // The connector stops between two transactions; what it has read by then is applied.
    std::thread::sleep(Duration::from_millis(500));
    let before = engine.get("/v1/status");
    write(&mut conn, &mut generator, 300).await;
    std::thread::sleep(Duration::from_secs(2));
    let during = engine.get("/v1/status");
    assert_eq!(during["connectors"][0]["state"], "paused", "{during}");
    assert_eq!(
        during["connectors"][0]["changes"], before["connectors"][0]["changes"],
        "nothing read while paused: {during}"
    );
    assert_eq!(
        during["sources"][0]["position"], before["sources"][0]["position"],
        "{during}"
    );

    let resumed = engine.connectors_cli(Some(TOKEN), &["resume", &name]);
    assert!(resumed.status.success(), "{resumed:?}");
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("streaming"));
    wait_caught_up(&engine, &name, &db);
    engine.verify(&url);
    let after = engine.get("/v1/status");
    assert_eq!(after["connectors"][0]["snapshots"], 1, "{after}");
}

/// The connector catalog at runtime, end to end: an empty engine with a data directory gets a
/// MariaDB connector through `POST /v1/connectors` and its views fill (`verify` passes); it is
/// paused, written to, resumed (`verify` passes); every refusal has its status; the engine is
/// killed and restarted with no sources and the connector is back from the catalog; removing
/// it empties every view in one timestamp, as a subscriber sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_added_at_runtime_survive_restarts_and_removing_one_retracts_its_rows_at_once() {
    use common::request;
    const TOKEN: &str = "catalog-operator-token";
    let (db, mut generator) = loaded_server(17, 1000).await;
    let url = db.url();
    let data_dir = tempfile::tempdir().expect("a data directory");
    let data_arg = data_dir.path().to_str().expect("utf-8 path").to_string();
    let start = || {
        Engine::start_command(
            "run",
            &["--data-dir", &data_arg],
            &[("TWINFLOW_OPERATOR_TOKEN", TOKEN)],
        )
    };
    let mut engine = start();
    let call = |engine: &Engine, method: &str, path: &str, body: Option<serde_json::Value>| {
        let body = body.map(|b| b.to_string());
        request(engine.addr(), method, path, Some(TOKEN), body.as_deref())
    };
    assert_eq!(
        engine.get("/v1/views/staffing")["rows"],
        serde_json::json!([])
    );

    // An unreachable server: created, failed with the reason, retried.
    let nowhere = serde_json::json!({"name": "nowhere", "kind": "mysql",
        "config": {"url": "mysql://root@127.0.0.1:1", "databases": ["twin_auth"], "max_backoff_ms": 200}});
    let created = call(&engine, "POST", "/v1/connectors", Some(nowhere));
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let created = created.json();
    assert_eq!(created["state"], "failed", "{created}");
    assert!(created["last_error"].as_str().is_some(), "{created}");
    std::thread::sleep(Duration::from_millis(1500));
    let retried = call(&engine, "GET", "/v1/connectors/nowhere", None).json();
    assert!(retried["errors"].as_u64() > Some(1), "retried: {retried}");
    assert_eq!(
        call(&engine, "DELETE", "/v1/connectors/nowhere", None).status,
        200
    );

    // The real server, with every database.
    let hr = serde_json::json!({"name": "db", "kind": "mysql", "config": {"url": url}});
    let created = call(&engine, "POST", "/v1/connectors", Some(hr.clone()));
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        created.header("location").as_deref(),
        Some("/v1/connectors/db")
    );
    let described = call(&engine, "GET", "/v1/connectors/db", None).json();
    assert_eq!(described["config"]["url"], url.as_str(), "{described}");
    assert!(
        described["tables"].as_array().is_some_and(|t| t.len() > 20),
        "{described}"
    );
    let mut conn = connect(&db).await;
    write(&mut conn, &mut generator, 100).await;
    wait_caught_up(&engine, "db", &db);
    engine.verify_with(&url, &["--source", "db"]);

    // Every refusal, with its status and the field or reason.
    let refusals = [
        (Some(hr.clone()), 409, "exists"),
        (
            Some(serde_json::json!({"name": "other", "kind": "mysql",
                "config": {"url": url, "databases": ["twin_hr"]}})),
            409,
            "fed by connector `db`",
        ),
        (
            Some(serde_json::json!({"name": "x", "kind": "mysql", "config": {}})),
            400,
            "config.url",
        ),
        (
            Some(serde_json::json!({"name": "x", "kind": "oracle"})),
            400,
            "kind",
        ),
        (Some(serde_json::json!({"kind": "mysql"})), 400, "name"),
        (Some(serde_json::json!([1, 2])), 400, "body"),
    ];
    for (body, status, needle) in refusals {
        let refused = call(&engine, "POST", "/v1/connectors", body.clone());
        let text = String::from_utf8_lossy(&refused.body).to_string();
        assert_eq!(refused.status, status, "{body:?}: {text}");
        assert!(text.contains(needle), "{body:?}: {text} lacks {needle}");
    }
    let not_json = request(
        engine.addr(),
        "POST",
        "/v1/connectors",
        Some(TOKEN),
        Some("{name"),
    );
    assert_eq!(
        (not_json.status, not_json.json()["field"].clone()),
        (400, "body".into())
    );
    for (method, path) in [
        ("DELETE", "/v1/connectors/nope"),
        ("POST", "/v1/connectors/nope/pause"),
        ("GET", "/v1/connectors/nope"),
    ] {
        assert_eq!(
            call(&engine, method, path, None).status,
            404,
            "{method} {path}"
        );
    }
    for (method, path) in [("PUT", "/v1/connectors"), ("PATCH", "/v1/connectors/db")] {
        let refused = call(&engine, method, path, None);
        assert_eq!(refused.status, 405, "{method} {path}");
        let allow = refused.header("allow").unwrap_or_default();
        assert!(
            allow.contains("GET"),
            "{method} {path}: {}",
            refused.headers
        );
    }
    for (token, status) in [(None, 401), (Some("wrong"), 403)] {
        for (method, path) in [("POST", "/v1/connectors"), ("DELETE", "/v1/connectors/db")] {
            let body = Some(hr.to_string());
            let refused = request(engine.addr(), method, path, token, body.as_deref());
            assert_eq!(refused.status, status, "{method} {path} with {token:?}");
        }
    }

    // Paused, the connector reads nothing; resumed, it catches up.
    let paused = call(&engine, "POST", "/v1/connectors/db/pause", None).json();
    assert_eq!(paused["state"], "paused", "{paused}");
    std::thread::sleep(Duration::from_millis(500));
    let before = call(&engine, "GET", "/v1/connectors/db", None).json();
    write(&mut conn, &mut generator, 100).await;
    std::thread::sleep(Duration::from_secs(1));
    let during = call(&engine, "GET", "/v1/connectors/db", None).json();
    assert_eq!(during["changes"], before["changes"], "{during}");
    call(&engine, "POST", "/v1/connectors/db/resume", None);
    wait_caught_up(&engine, "db", &db);
    engine.verify_with(&url, &["--source", "db"]);

    // Paused, killed and restarted with no sources: the catalog brings the connector back,
    // still paused; resumed, it catches up.
    call(&engine, "POST", "/v1/connectors/db/pause", None);
    engine.kill();
    write(&mut conn, &mut generator, 50).await;
    let engine = start();
    let listed = call(&engine, "GET", "/v1/connectors", None).json();
    let names: Vec<&str> = listed["connectors"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["db"], "{listed}");
    assert_eq!(listed["connectors"][0]["state"], "paused", "{listed}");
    call(&engine, "POST", "/v1/connectors/db/resume", None);
    wait_caught_up(&engine, "db", &db);
    engine.verify_with(&url, &["--source", "db"]);

    // Removed: a subscriber sees every row go in one message, and the views are empty.
    let staffing_rows = engine.get("/v1/status")["views"]["staffing"]["rows"]
        .as_u64()
        .expect("a row count");
    assert!(staffing_rows > 0);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/views/staffing/subscribe?access_token={}",
        engine.addr(),
        engine.token
    ))
    .await
    .expect("subscribes");
    let snapshot = next_json(&mut socket).await;
    assert_eq!(snapshot["type"], "snapshot");
    let address = engine.addr();
    let removed = tokio::task::spawn_blocking(move || {
        request(address, "DELETE", "/v1/connectors/db", Some(TOKEN), None)
    })
    .await
    .expect("the request ran");
    assert_eq!(
        removed.status,
        200,
        "{}",
        String::from_utf8_lossy(&removed.body)
    );
    let removed_at = removed.json()["as_of"].as_u64().expect("an as_of");
    let mut left = snapshot["rows"].as_array().map_or(0, Vec::len);
    loop {
        let message = next_json(&mut socket).await;
        if message["type"] == "changes" {
            let deletes = message["deletes"].as_array().map_or(0, Vec::len);
            let upserts = message["upserts"].as_array().map_or(0, Vec::len);
            if message["as_of"].as_u64() == Some(removed_at) {
                assert_eq!((deletes, upserts), (left, 0), "all at once: {message}");
                break;
            }
            assert!(
                deletes < left || upserts > 0,
                "a partial removal before {removed_at}"
            );
            left = left + upserts - deletes;
        }
        assert!(message["as_of"].as_u64() < Some(removed_at), "{message}");
    }
    let status = engine.get("/v1/status");
    for view in ["staffing", "occupancy", "skill_coverage", "desk_occupancy"] {
        assert_eq!(status["views"][view]["rows"], 0, "{view}: {status}");
    }
    assert_eq!(status["sources"], serde_json::json!([]), "{status}");
    let listed = call(&engine, "GET", "/v1/connectors", None).json();
    assert_eq!(listed["connectors"], serde_json::json!([]), "{listed}");
}

/// The next JSON text message of a subscription.
async fn next_json<S>(socket: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s")
            .expect("the subscription is open")
            .expect("a valid frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON");
        }
    }
}

/// A connector of the config file whose configuration changes between two runs is applied, not
/// duplicated: one connector, the new setting, its old rows retracted and a fresh snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_config_file_connector_replaces_its_catalog_entry() {
    const TOKEN: &str = "config-change-token";
    let (db, mut generator) = loaded_server(19, 800).await;
    let url = db.url();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("twinflow.toml");
    let data = dir.path().join("data");
    let run = |heartbeat_ms: u64| {
        let text =
            format!("[[mysql]]\nurl = \"{url}\"\nname = \"db\"\nheartbeat_ms = {heartbeat_ms}\n");
        std::fs::write(&config, text).expect("config written");
        Engine::start_command(
            "run",
            &[
                "--config",
                config.to_str().expect("utf-8 path"),
                "--data-dir",
                data.to_str().expect("utf-8 path"),
                "--checkpoint-interval",
                "0.2",
            ],
            &[("TWINFLOW_OPERATOR_TOKEN", TOKEN)],
        )
    };
    let mut engine = run(1000);
    let mut conn = connect(&db).await;
    write(&mut conn, &mut generator, 100).await;
    wait_caught_up(&engine, "db", &db);
    wait_for_checkpoint(&engine);
    engine.kill();

    write(&mut conn, &mut generator, 100).await;
    let engine = run(700);
    wait_caught_up(&engine, "db", &db);
    engine.verify_with(&url, &["--source", "db"]);
    let listed =
        common::request(engine.addr(), "GET", "/v1/connectors/db", Some(TOKEN), None).json();
    assert_eq!(listed["config"]["heartbeat_ms"], 700, "{listed}");
    assert_eq!(listed["snapshots"], 1, "started over: {listed}");
    let status = engine.get("/v1/status");
    assert_eq!(
        status["connectors"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
}

/// Live revocation against a real MariaDB: a token naming a `twin_auth.user` row reads while
/// the row is active; `UPDATE ... SET is_active = 0` on the server makes the next read 403 and
/// closes the user's open subscription within a second of the commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_in_the_source_revokes_its_tokens() {
    use futures_util::StreamExt;
    use mysql_async::prelude::Queryable;
    use tokio_tungstenite::tungstenite::Message;

    const SECRET: &str = "the revocation test's secret, 32 bytes or more";
    let (db, _) = loaded_server(29, 300).await;
    let mut conn = connect(&db).await;
    conn.query_drop(
        "INSERT INTO twin_auth.user (id, email, password_hash, display_name, role_id, \
         company_id, is_active) VALUES (990001, 'ada@example.com', 'secret-hash', 'Ada', 1, 1, 1)",
    )
    .await
    .expect("a user");
    let url = db.url();
    let engine = Engine::start_command(
        "run",
        &["--mysql", &url],
        &[("TWINFLOW_JWT_SECRET", SECRET)],
    );
    let token = common::sign_token(
        SECRET.as_bytes(),
        serde_json::json!({"sub": "990001", "company_id": 1, "role": "viewer"}),
    );
    let read = || {
        common::request(
            engine.addr(),
            "GET",
            "/v1/views/staffing",
            Some(&token),
            None,
        )
    };
    // Once the snapshot is served, the user's row is known and active.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = read();
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        if reply.json()["rows"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the snapshot was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/v1/views/staffing/subscribe?access_token={token}",
        engine.addr()
    ))
    .await
    .expect("subscribes");
    assert_eq!(next_json(&mut socket).await["type"], "snapshot");

    conn.query_drop("UPDATE twin_auth.user SET is_active = 0 WHERE id = 990001")
        .await
        .expect("deactivates");
    let committed = Instant::now();
    let reason = loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("closed within the wait")
            .expect("a frame")
            .expect("a valid frame");
        if let Message::Close(frame) = message {
            break frame.map(|f| f.reason.to_string()).unwrap_or_default();
        }
    };
    let closed_after = committed.elapsed();
    assert!(reason.contains("no longer active"), "{reason}");
    assert!(
        closed_after < Duration::from_secs(1),
        "closed {closed_after:?} after the commit"
    );
    let refused = read();
    assert_eq!(refused.status, 403);
    // The dead letters and logs never saw the row's secrets.
    let letters = engine.get("/v1/deadletters").to_string();
    assert!(
        !letters.contains("secret-hash") && !letters.contains("ada@"),
        "{letters}"
    );
}
