//! The operator surface end to end, on the real binary: `/v1/connectors` behind the operator
//! token, and `twinflow connectors list` talking to it.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::Engine;

const TOKEN: &str = "e2e-operator-token";

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused_with(output: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert!(stderr.contains(needle), "`{stderr}` lacks `{needle}`");
}

#[test]
fn the_cli_lists_connectors_with_the_operator_token_and_is_refused_without_it() {
    let engine = Engine::start_command(
        "demo",
        &["--scale", "2000", "--rate", "200"],
        &[("TWINFLOW_OPERATOR_TOKEN", TOKEN)],
    );
    // The generator's connector shows up, streaming, with the changes it has read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let listed: serde_json::Value = serde_json::from_str(&stdout(
            &engine.connectors_cli(Some(TOKEN), &["list", "--json"]),
        ))
        .expect("JSON");
        let first = &listed["connectors"][0];
        if first["state"] == "streaming" && first["changes"].as_u64() > Some(0) {
            break listed;
        }
        assert!(Instant::now() < deadline, "never streaming: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let connectors = listed["connectors"].as_array().expect("a list");
    assert_eq!(connectors.len(), 1);
    assert_eq!(connectors[0]["kind"], "generator");
    assert_eq!(connectors[0]["dead_letters"], 0);
    let table = stdout(&engine.connectors_cli(Some(TOKEN), &["list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{table}");
    assert!(
        lines[1].contains("generator") && lines[1].contains("streaming"),
        "{table}"
    );

    refused_with(
        &engine.connectors_cli(Some("not-the-token"), &["list"]),
        "403 Forbidden: the bearer token is not the operator token",
    );
    refused_with(
        &engine.connectors_cli(None, &["list"]),
        "TWINFLOW_OPERATOR_TOKEN",
    );
    // Paused, the generator sends nothing; resumed, it goes on from the same sequence number.
    let pause = stdout(&engine.connectors_cli(Some(TOKEN), &["pause", "generator", "--json"]));
    let paused: serde_json::Value = serde_json::from_str(&pause).expect("JSON");
    assert_eq!(paused["state"], "paused", "{paused}");
    std::thread::sleep(Duration::from_millis(300));
    let held = engine.get("/v1/status")["sources"][0]["position"]["seq"].clone();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        engine.get("/v1/status")["sources"][0]["position"]["seq"],
        held
    );
    let resume = stdout(&engine.connectors_cli(Some(TOKEN), &["resume", "generator"]));
    assert!(resume.contains("streaming"), "{resume}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.get("/v1/status")["sources"][0]["position"]["seq"] == held {
        assert!(Instant::now() < deadline, "the generator never went on");
        std::thread::sleep(Duration::from_millis(100));
    }

    refused_with(
        &engine.connectors_cli(Some(TOKEN), &["pause", "nope"]),
        "404 Not Found: unknown connector `nope`",
    );
    let unknown = common::get(engine.addr(), "/v1/connectors/nope");
    assert_eq!(unknown.status, 401, "no token, no answer, even for a 404");
}

/// `twinflow run` with no source is an empty engine; without an operator token its operator
/// endpoints refuse everyone.
#[test]
fn an_engine_without_sources_serves_empty_views_and_without_a_token_no_operator_endpoints() {
    let engine = Engine::start_command(
        "run",
        &["--allow-anonymous-reads"],
        &[("TWINFLOW_OPERATOR_TOKEN", "")],
    );
    for view in ["staffing", "occupancy", "skill_coverage"] {
        let rows = engine.get(&format!("/v1/views/{view}"));
        assert_eq!(rows["rows"], serde_json::json!([]), "{view}");
    }
    let refused = common::get(engine.addr(), "/v1/connectors");
    assert_eq!(refused.status, 401);
    let message = refused.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("disabled"), "{message}");
    refused_with(
        &engine.connectors_cli(Some("anything"), &["list"]),
        "operator endpoints are disabled",
    );
}

/// `twinflow connectors add` and `remove` on an empty engine: the added generator fills the
/// views, adding it twice is refused with the server's reason, and removing it empties them.
#[test]
fn the_cli_adds_a_connector_to_an_empty_engine_and_removes_it_with_its_rows() {
    let engine = Engine::start_command("run", &[], &[("TWINFLOW_OPERATOR_TOKEN", TOKEN)]);
    let add = [
        "add",
        "gen",
        "--kind",
        "generator",
        "--config",
        r#"{"scale": 500, "rate": 200, "seed": 3}"#,
    ];
    let added = stdout(&engine.connectors_cli(Some(TOKEN), &add));
    assert!(
        added.lines().nth(1).is_some_and(|l| l.starts_with("gen ")),
        "{added}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while engine.get("/v1/status")["views"]["staffing"]["rows"] == 0 {
        assert!(Instant::now() < deadline, "the views never filled");
        std::thread::sleep(Duration::from_millis(100));
    }
    refused_with(
        &engine.connectors_cli(Some(TOKEN), &add),
        "409 Conflict: a connector named `gen` exists",
    );
    refused_with(
        &engine.connectors_cli(
            Some(TOKEN),
            &["add", "x", "--kind", "generator", "--config", "{"],
        ),
        "--config must be a JSON object",
    );
    let removed = stdout(&engine.connectors_cli(Some(TOKEN), &["remove", "gen"]));
    assert!(removed.starts_with("removed gen;"), "{removed}");
    let status = engine.get("/v1/status");
    assert_eq!(status["views"]["staffing"]["rows"], 0, "{status}");
    assert_eq!(status["connectors"], serde_json::json!([]), "{status}");
}

/// A data directory is held by one engine: a second one started on it exits at once, saying
/// why, and the first goes on serving.
#[test]
fn a_second_engine_on_the_same_data_directory_is_refused() {
    let data = tempfile::tempdir().expect("a data directory");
    let data_dir = data.path().to_str().expect("a UTF-8 path");
    let first = Engine::start_command("run", &["--data-dir", data_dir], &[]);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args(["run", "--data-dir", data_dir, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .env("TWINFLOW_OPERATOR_TOKEN", &first.token)
        .output()
        .expect("the second engine runs");
    refused_with(&second, "in use by another twinflow process");
    assert_eq!(common::get(first.addr(), "/healthz").status, 200);
}

/// `twinflow run` with no way for a reader to authenticate does not start: it says what to
/// configure, or that `--allow-anonymous-reads` opens every company to everyone.
#[test]
fn an_engine_without_reader_authentication_refuses_to_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args(["run", "--listen", "127.0.0.1:0"])
        .env_remove("TWINFLOW_OPERATOR_TOKEN")
        .env_remove("TWINFLOW_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .expect("twinflow runs");
    refused_with(&output, "--allow-anonymous-reads");
    refused_with(&output, "TWINFLOW_JWT_SECRET");
}

/// `twinflow demo --auth` prints a token for company 1 and a platform token, signed with a
/// secret of its own: without a token a read is refused, with the tenant token it holds
/// company 1's rows only, with the platform token every company's.
#[test]
fn the_demo_with_auth_hands_out_a_tenant_and_a_platform_token() {
    use std::io::{BufRead, BufReader};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
        .args([
            "demo",
            "--auth",
            "--scale",
            "2000",
            "--rate",
            "0",
            "--workers",
            "1",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("TWINFLOW_OPERATOR_TOKEN")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("its output");
    let mut tokens = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let (label, token) = line.split_once(':')?;
            label.contains("token").then(|| token.trim().to_owned())
        });
    let tenant = tokens.next().expect("a token for company 1");
    let platform = tokens.next().expect("a platform token");
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
    let companies = |token: Option<&str>| {
        let reply = common::request(
            address,
            "GET",
            "/v1/views/occupancy_by_building",
            token,
            None,
        );
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let mut companies: Vec<i64> = reply.json()["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|row| row["company_id"].as_i64())
            .collect();
        companies.dedup();
        companies
    };
    assert_eq!(common::get(address, "/v1/views/staffing").status, 401);
    let deadline = Instant::now() + Duration::from_secs(30);
    while companies(Some(&platform)).len() < 2 {
        assert!(Instant::now() < deadline, "the org was never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(companies(Some(&tenant)), vec![1]);
    let _ = child.kill();
    let _ = child.wait();
}
