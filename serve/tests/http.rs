//! The HTTP endpoints over a real socket.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::DataType;
use common::{arrow_rows, request, request_with, room, row_json, Server, OPERATOR_TOKEN};
use hyper::Method;
use serde_json::{json, Map, Value};
use twinflow_views::{Datum, Row, StateConfig, ViewId};

/// Two companies with `per_company` rooms each, committed at as_of 1.
async fn two_companies(per_company: i64, config: StateConfig) -> Server {
    let mut server = Server::start(config).await;
    let rows = (1..=2)
        .flat_map(|company| (0..per_company).map(move |i| room(company, company * 1000 + i, i % 5)))
        .collect();
    server.put_rooms(rows);
    server
}

fn rows_of(body: &Value) -> Vec<Value> {
    body["rows"].as_array().cloned().expect("rows")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_lists_every_view_with_typed_columns_and_row_counts() {
    let server = two_companies(3, StateConfig::default()).await;
    let reply = server.get("/v1/views").await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["as_of"], 1);
    let views = body["views"].as_array().expect("views");
    let names: Vec<_> = views
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ViewId::ALL.map(ViewId::name).to_vec());
    let occupancy = &views[ViewId::Occupancy.index()];
    assert_eq!(occupancy["rows"], 6);
    assert_eq!(occupancy["key"], json!(["room_id"]));
    assert!(occupancy["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    assert_eq!(
        occupancy["columns"][0],
        json!({"name": "company_id", "type": "int", "nullable": false})
    );
    assert_eq!(
        occupancy["columns"][4],
        json!({"name": "room_name", "type": "text", "nullable": false})
    );
    let staffing = &views[ViewId::Staffing.index()];
    assert_eq!(staffing["rows"], 0);
    assert_eq!(
        staffing["columns"][5],
        json!({"name": "job_level", "type": "text", "nullable": true})
    );
    let desks = &views[ViewId::DeskOccupancy.index()];
    assert_eq!(
        desks["columns"][7],
        json!({"name": "pos_x", "type": "float", "nullable": false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_filter_limit_and_type_values() {
    let server = two_companies(10, StateConfig::default()).await;
    let reply = server.get("/v1/views/occupancy?company_id=2").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-twinflow-as-of"), Some("1"));
    let body = reply.json();
    assert_eq!(body["view"], "occupancy");
    assert_eq!(body["as_of"], 1);
    assert_eq!(body["next"], Value::Null);
    assert_eq!(
        rows_of(&body),
        server.expected(ViewId::Occupancy, |row| row[0] == Datum::Int(2))
    );
    assert_eq!(body["rows"][0]["room_name"], "Room \"2000\"");
    assert!(body["rows"][0]["assigned"].is_i64());

    let reply = server
        .get("/v1/views/occupancy?company_id=2&building_id=201&kind=lab")
        .await;
    let expected = server.expected(ViewId::Occupancy, |row| {
        row[0] == Datum::Int(2) && row[1] == Datum::Int(201) && row[5] == Datum::Text("lab".into())
    });
    assert!(!expected.is_empty());
    assert_eq!(rows_of(&reply.json()), expected);

    let reply = server.get("/v1/views/occupancy?limit=3").await;
    let body = reply.json();
    assert_eq!(
        rows_of(&body),
        server.expected(ViewId::Occupancy, |_| true)[..3].to_vec()
    );
    let next = body["next"].as_str().expect("a next page");
    assert!(next.starts_with("1."), "{next}");
    assert_eq!(reply.header("x-twinflow-next-cursor"), Some(next));

    let reply = server.get("/v1/views/occupancy?company_id=3").await;
    assert_eq!(
        reply.json(),
        json!({"view": "occupancy", "as_of": 1, "rows": [], "next": null})
    );

    let reply = server
        .get("/v1/views/occupancy?room_name=Room%20%221003%22&format=json")
        .await;
    assert_eq!(
        rows_of(&reply.json()),
        server.expected(ViewId::Occupancy, |row| row[3] == Datum::Int(1003))
    );
}

fn staffing(company: i64, job: i64, level: Option<&str>) -> Row {
    let mut row = vec![
        Datum::Int(company),
        Datum::Int(5),
        Datum::Null,
        Datum::Int(job),
        Datum::Text("Dev".into()),
    ];
    row.push(level.map_or(Datum::Null, |l| Datum::Text(l.into())));
    row.extend([3, 2, 1, 1, 0].map(Datum::Int));
    Arc::from(row)
}

fn desk(company: i64, table: i64, x: f64) -> Row {
    let mut row: Vec<Datum> = [company, 10, 100, 1000, table].map(Datum::Int).to_vec();
    row.extend([
        Datum::Text("D".into()),
        Datum::Int(2),
        Datum::Float(x),
        Datum::Float(-0.5),
        Datum::Int(1),
        Datum::Int(0),
    ]);
    Arc::from(row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nulls_and_floats() {
    let mut server = Server::start(StateConfig::default()).await;
    server.commit(
        vec![
            (ViewId::Staffing, staffing(1, 1, None)),
            (ViewId::Staffing, staffing(1, 2, Some("senior"))),
            (ViewId::DeskOccupancy, desk(1, 7, 1.25)),
            (ViewId::DeskOccupancy, desk(1, 8, 2.0)),
        ],
        Vec::new(),
    );
    let body = server.get("/v1/views/staffing?job_level=null").await.json();
    assert_eq!(
        rows_of(&body),
        vec![row_json(ViewId::Staffing, &staffing(1, 1, None))]
    );
    assert_eq!(body["rows"][0]["function_name"], Value::Null);
    let body = server
        .get("/v1/views/desk_occupancy?pos_x=1.25")
        .await
        .json();
    assert_eq!(body["rows"][0]["pos_x"], json!(1.25));
    assert_eq!(body["rows"][0]["pos_y"], json!(-0.5));
    let body = server
        .get("/v1/views/desk_occupancy?table_id=8")
        .await
        .json();
    assert!(
        body["rows"][0]["pos_x"].is_f64(),
        "a whole float stays a float: {body}"
    );
    assert_eq!(body["rows"][0]["pos_x"], json!(2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_walks_one_snapshot_while_commits_continue() {
    // Two commits a page: only the snapshot being paged through is kept.
    let mut server = two_companies(40, StateConfig::default()).await;
    let before = server.expected(ViewId::Occupancy, |_| true);
    let mut seen = Vec::new();
    let mut path = "/v1/views/occupancy?limit=7".to_owned();
    let mut round = 0;
    loop {
        let body = server.get(&path).await.json();
        assert_eq!(
            body["as_of"], 1,
            "every page is read at the first page's as_of"
        );
        seen.extend(rows_of(&body));
        // Meanwhile: rooms change, leave, arrive; and fresh reads see them.
        round += 1;
        server.put_rooms(vec![room(1, 1000 + round, 99), room(2, 5000 + round, 0)]);
        server.delete_rooms(&[2000 + round]);
        let fresh = server.get("/v1/views/occupancy?limit=7").await.json();
        assert_eq!(fresh["as_of"], server.as_of);
        match body["next"].as_str() {
            Some(next) => path = format!("/v1/views/occupancy?limit=7&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, before, "every row of as_of 1 exactly once, in order");
    let now = server.get("/v1/views/occupancy?limit=1000000").await.json();
    assert_eq!(rows_of(&now), server.expected(ViewId::Occupancy, |_| true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_a_filter_stays_in_the_filter() {
    let server = two_companies(25, StateConfig::default()).await;
    let mut seen = Vec::new();
    let mut path = "/v1/views/occupancy?company_id=1&limit=10".to_owned();
    loop {
        let body = server.get(&path).await.json();
        seen.extend(rows_of(&body));
        match body["next"].as_str() {
            Some(next) => path = format!("/v1/views/occupancy?company_id=1&limit=10&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        server.expected(ViewId::Occupancy, |row| row[0] == Datum::Int(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cursor_is_gone() {
    let config = StateConfig {
        history_snapshots: 2,
        history_max_age: Duration::from_secs(60),
        ..StateConfig::default()
    };
    let mut server = two_companies(5, config).await;
    let body = server.get("/v1/views/occupancy?limit=2").await.json();
    let next = body["next"].as_str().expect("next").to_owned();
    // Two later walks pin their snapshots; the first walk's, least recently used, goes.
    for i in 0..2 {
        server.put_rooms(vec![room(1, 9000 + i, 0)]);
        let later = server.get("/v1/views/occupancy?limit=2").await.json();
        assert!(later["next"].is_string());
    }
    let reply = server
        .get(&format!("/v1/views/occupancy?limit=2&cursor={next}"))
        .await;
    reply.assert_error(410, "no longer retained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let server = two_companies(2, StateConfig::default()).await;
    let cases: &[(&str, u16, &str)] = &[
        ("/v1/views/nope", 404, "unknown view `nope`"),
        ("/v1/views/nope/subscribe", 404, "unknown view `nope`"),
        ("/v1/views/occupancy?colour=red", 400, "no column `colour`"),
        ("/v1/views/occupancy?company_id=two", 400, "company_id"),
        ("/v1/views/desk_occupancy?pos_x=inf", 400, "pos_x"),
        ("/v1/views/occupancy/subscribe?room_id=x", 400, "room_id"),
        ("/v1/views/occupancy/subscribe?colour=red", 400, "colour"),
        ("/v1/views/occupancy?limit=0", 400, "limit"),
        ("/v1/views/occupancy?limit=1000001", 400, "limit"),
        ("/v1/views/occupancy?limit=-1", 400, "limit"),
        ("/v1/views/occupancy?limit=ten", 400, "limit"),
        ("/v1/views/occupancy?limit=1&limit=2", 400, "more than once"),
        (
            "/v1/views/occupancy?company_id=1&company_id=2",
            400,
            "more than once",
        ),
        ("/v1/views/occupancy?cursor=abc", 400, "malformed cursor"),
        ("/v1/views/occupancy?cursor=1.2", 400, "malformed cursor"),
        (
            "/v1/views/occupancy?format=csv",
            400,
            "unknown format `csv`",
        ),
        ("/v1/views/occupancy?after=1", 400, "after"),
        ("/v1/views/occupancy/subscribe?after=x", 400, "after"),
        ("/v1/views/occupancy/subscribe?limit=5", 400, "limit"),
        ("/v1/views/occupancy/subscribe", 400, "WebSocket"),
        ("/v2/nothing", 404, "no route"),
        ("/v1/views/occupancy/extra/path", 404, "no route"),
    ];
    for (path, status, needle) in cases {
        server.get(path).await.assert_error(*status, needle);
    }
    let reply = request(server.addr, Method::POST, "/v1/views/occupancy").await;
    reply.assert_error(405, "POST");
    assert_eq!(reply.header("allow"), Some("GET,HEAD"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_pages_equal_json_pages() {
    let mut server = two_companies(30, StateConfig::default()).await;
    server.commit(
        vec![
            (ViewId::Staffing, staffing(1, 1, None)),
            (ViewId::Staffing, staffing(1, 2, Some("x"))),
        ],
        Vec::new(),
    );
    server.commit(vec![(ViewId::DeskOccupancy, desk(1, 7, 1.25))], Vec::new());

    let mut json_path = "/v1/views/occupancy?company_id=2&limit=8".to_owned();
    let mut pages = 0;
    loop {
        let arrow_reply = server.get(&format!("{json_path}&format=arrow")).await;
        assert_eq!(arrow_reply.status, 200);
        assert_eq!(
            arrow_reply.header("content-type"),
            Some("application/vnd.apache.arrow.stream")
        );
        let body = server.get(&json_path).await.json();
        assert_eq!(
            arrow_reply.header("x-twinflow-as-of"),
            Some(server.as_of.to_string().as_str())
        );
        assert_eq!(
            arrow_reply.header("x-twinflow-next-cursor"),
            body["next"].as_str()
        );
        let (rows, fields) = arrow_rows(&arrow_reply.body);
        assert_eq!(rows, rows_of(&body));
        assert_eq!(fields[0], ("company_id".to_owned(), DataType::Int64, false));
        assert_eq!(fields[4], ("room_name".to_owned(), DataType::Utf8, false));
        pages += 1;
        match body["next"].as_str() {
            Some(next) => {
                json_path = format!("/v1/views/occupancy?company_id=2&limit=8&cursor={next}")
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);

    for view in ["staffing", "desk_occupancy", "skill_coverage"] {
        let json_body = server.get(&format!("/v1/views/{view}")).await.json();
        let (rows, fields) = arrow_rows(
            &server
                .get(&format!("/v1/views/{view}?format=arrow"))
                .await
                .body,
        );
        assert_eq!(rows, rows_of(&json_body), "{view}");
        let schema = twinflow_dataflows::schema(view.parse::<ViewId>().expect("view"));
        assert_eq!(fields.len(), schema.columns.len());
        for (field, column) in fields.iter().zip(schema.columns) {
            assert_eq!(field.0, column.name);
            assert_eq!(field.2, column.nullable, "{view}.{}", column.name);
        }
    }
    let (_, fields) = arrow_rows(
        &server
            .get("/v1/views/desk_occupancy?format=arrow")
            .await
            .body,
    );
    assert_eq!(fields[7].1, DataType::Float64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_reads_follow_every_commit() {
    let mut server = two_companies(5, StateConfig::default()).await;
    let path = "/v1/views/occupancy?company_id=1";
    let first = server.get(path).await.json();
    assert_eq!(
        server.get(path).await.json(),
        first,
        "same snapshot, same body"
    );
    // A commit to another view: same rows, new as_of.
    server.commit(vec![(ViewId::Staffing, staffing(1, 1, None))], Vec::new());
    let second = server.get(path).await.json();
    assert_eq!(second["as_of"], 2);
    assert_eq!(second["rows"], first["rows"]);
    // A commit to this view: new rows.
    server.put_rooms(vec![room(1, 1000, 77)]);
    let third = server.get(path).await.json();
    assert_eq!(third["as_of"], 3);
    assert_eq!(
        rows_of(&third),
        server.expected(ViewId::Occupancy, |row| row[0] == Datum::Int(1))
    );
    assert_eq!(third["rows"][0]["assigned"], 77);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_health_and_metrics() {
    let server = two_companies(3, StateConfig::default()).await;
    let health = server.get("/healthz").await;
    assert_eq!((health.status, &health.body[..]), (200, &b"ok"[..]));

    let status = server.operator_get("/v1/status").await.json();
    assert_eq!(status["as_of"], 1);
    assert!(status["committed_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert!(status["uptime_s"].is_u64());
    assert_eq!(status["dead_letters"], 7);
    assert_eq!(status["connectors"][0]["state"], "streaming");
    let letters = server.operator_get("/v1/deadletters").await;
    assert_eq!(letters.status, 200);
    assert_eq!(
        letters.json(),
        json!({"total": 7, "recent": [{"source": "mysql-main", "reason": "bad enum"}]})
    );
    assert_eq!(status["counters"]["changes_applied_total"], 42.0);
    assert_eq!(
        status["views"]["occupancy"],
        json!({"rows": 6, "changed_at": 1, "subscribers": 0})
    );
    assert_eq!(status["views"].as_object().map(Map::len), Some(7));
    let source = &status["sources"][0];
    assert_eq!(source["source"], "mysql-main");
    assert_eq!(source["position"]["pos"], 1);
    assert!(
        source["lag_ms"].as_u64().is_some_and(|lag| lag > 1_000_000),
        "now minus 1 ms since the epoch"
    );

    server.get("/v1/views/nope").await;
    server.get("/nothing").await;
    let metrics = server.operator_get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain")));
    let text = String::from_utf8(metrics.body.to_vec()).expect("utf8");
    for line in [
        "# TYPE twinflow_as_of gauge",
        "twinflow_as_of 1",
        "twinflow_view_rows{view=\"occupancy\"} 6",
        "twinflow_view_subscribers{view=\"staffing\"} 0",
        "# TYPE twinflow_dead_letters_total counter",
        "twinflow_dead_letters_total 7",
        "twinflow_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "twinflow_http_requests_total{route=\"/v1/views/{view}\",status=\"404\"} 1",
        "twinflow_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "# HELP twinflow_changes_applied_total Row changes applied.",
        "twinflow_changes_applied_total 42",
        "twinflow_source_lag_seconds{source=\"mysql-main\"}",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "missing `{line}` in:\n{text}"
        );
    }
    let families: BTreeSet<_> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert!(families.len() >= 8, "{families:?}");
}

/// The operator endpoints need the operator's bearer token: none → 401 (with a Bearer
/// challenge), another → 403, the right one → the connectors; an unknown connector → 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_need_the_operator_token() {
    let server = Server::start(StateConfig::default()).await;
    for path in ["/v1/connectors", "/v1/connectors/mysql-main"] {
        let reply = request(server.addr, Method::GET, path).await;
        reply.assert_error(401, "Authorization: Bearer");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        let refusals = [
            ("Basic b3BlcmF0b3I6c2VjcmV0", 401, "Authorization: Bearer"),
            ("Bearer operator-secreT", 403, "not the operator token"),
            ("Bearer ", 401, "Authorization: Bearer"),
        ];
        for (authorization, status, reason) in refusals {
            request_with(
                server.addr,
                Method::GET,
                path,
                &[("authorization", authorization)],
            )
            .await
            .assert_error(status, reason);
        }
    }
    let bearer = format!("Bearer {OPERATOR_TOKEN}");
    let auth = [("authorization", bearer.as_str())];
    let all = request_with(server.addr, Method::GET, "/v1/connectors", &auth).await;
    assert_eq!(all.status, 200);
    assert_eq!(all.json()["connectors"][0]["name"], "mysql-main");
    let one = request_with(server.addr, Method::GET, "/v1/connectors/mysql-main", &auth).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["state"], "streaming");
    request_with(server.addr, Method::GET, "/v1/connectors/nope", &auth)
        .await
        .assert_error(404, "unknown connector `nope`");
    // Reading views needs no token.
    assert_eq!(
        request(server.addr, Method::GET, "/v1/views").await.status,
        200
    );
}
