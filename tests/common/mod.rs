//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use twinflow_ingest::{RowChange, SourcePosition, Transaction};

/// A response read off a real socket.
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// `GET path` over HTTP/1.0 (the server closes the connection after the response, so the body
/// is everything up to EOF).
pub fn get(address: SocketAddr, path: &str) -> Response {
    request(address, "GET", path, None, None)
}

/// `method path` over HTTP/1.0 with `token` as the bearer token and `body` (if any).
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: test\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    write!(stream, "{head}\r\n{body}").expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has headers");
    let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A whole transaction from `source` at generator position `seq`.
pub fn txn(source: &str, seq: u64, changes: Vec<RowChange>) -> Transaction {
    Transaction {
        source: Arc::from(source),
        position: SourcePosition::Generator { seq },
        commit_time_ms: seq,
        changes,
        more_follows: false,
    }
}

/// A generated org and change stream as Debezium messages, with the oracle's tables after it.
pub struct DebeziumCapture {
    /// Every message, snapshot first, in binlog order.
    pub messages: Vec<twinflow_oracle::debezium::Message>,
    /// The tables after every transaction.
    pub tables: twinflow_oracle::Tables,
    /// How many messages each streaming transaction has, in order.
    pub per_transaction: Vec<usize>,
}

impl DebeziumCapture {
    /// The messages of the streaming transactions `from_end` .. `to_end` counted from the end
    /// (a re-delivery, as after a consumer restart).
    pub fn redelivery(
        &self,
        from_end: usize,
        to_end: usize,
    ) -> Vec<twinflow_oracle::debezium::Message> {
        let n = self.per_transaction.len();
        let tail: usize = self.per_transaction[n - from_end..].iter().sum();
        let skip: usize = self.per_transaction[n - to_end..].iter().sum();
        let total = self.messages.len();
        self.messages[total - tail..total - skip].to_vec()
    }
}

/// Encodes a generated org (`scale` people, `seed`) and `transactions` transactions as the
/// Debezium MySQL connector writes them (topic prefix `twin`): the snapshot as reads at one
/// binlog position, then each transaction at its own position with a GTID.
pub fn debezium_capture(
    encoding: twinflow_oracle::debezium::Encoding,
    seed: u64,
    scale: u64,
    transactions: usize,
) -> DebeziumCapture {
    use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
    use twinflow_oracle::debezium::{encode, EventSource};

    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed,
            scale,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let encode_txn = |txn: &Transaction, seq: usize, snapshot: bool| {
        let gtid = format!("0-1-{seq}");
        let (file, pos) = if snapshot {
            ("binlog.000001", 4)
        } else {
            ("binlog.000002", 1000 + 100 * seq as u64)
        };
        let mut messages = Vec::new();
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
            messages.extend(encode(change, &source, encoding));
        }
        messages
    };
    let mut tables = twinflow_oracle::Tables::new();
    let mut messages = Vec::new();
    for part in generator.snapshot() {
        tables.apply_transaction(&part);
        messages.extend(encode_txn(&part, 0, true));
    }
    let mut per_transaction = Vec::new();
    for seq in 1..=transactions {
        let txn = generator.next_transaction();
        tables.apply_transaction(&txn);
        let encoded = encode_txn(&txn, seq, false);
        per_transaction.push(encoded.len());
        messages.extend(encoded);
    }
    DebeziumCapture {
        messages,
        tables,
        per_transaction,
    }
}

/// The differences between every served view and the oracle's recomputation over `tables`.
pub fn oracle_differences(
    state: &twinflow_views::ServedState,
    tables: &twinflow_oracle::Tables,
) -> Vec<String> {
    let snapshot = state.snapshot();
    let mut problems = Vec::new();
    for (view, expected) in twinflow_oracle::evaluate(tables) {
        let mut served: Vec<_> = snapshot
            .scan(view, &twinflow_views::Filter::default(), None)
            .map(|(_, row)| row)
            .collect();
        served.sort();
        if let Some(d) = twinflow_oracle::diff(view, &expected, &served) {
            problems.push(d);
        }
    }
    problems
}

/// A served row as the JSON API writes it.
pub fn to_json(view: twinflow_views::ViewId, row: &twinflow_views::Row) -> serde_json::Value {
    let object = twinflow_dataflows::schema(view)
        .columns
        .iter()
        .zip(row.iter())
        .map(|(column, value)| {
            let value = match value {
                twinflow_views::Datum::Null => serde_json::Value::Null,
                twinflow_views::Datum::Int(i) => (*i).into(),
                twinflow_views::Datum::Float(f) => (*f).into(),
                twinflow_views::Datum::Text(s) => s.to_string().into(),
            };
            (column.name.to_owned(), value)
        })
        .collect();
    serde_json::Value::Object(object)
}

/// The order rows are compared in.
pub fn sort_key(value: &serde_json::Value) -> String {
    value.to_string()
}

/// Reads a whole view page by page (small pages, so paging is exercised), checking that every
/// page has the same `as_of`.
pub fn read_all(
    address: SocketAddr,
    token: Option<&str>,
    view: twinflow_views::ViewId,
) -> (u64, Vec<serde_json::Value>) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut as_of = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/views/{view}?limit=97&cursor={c}"),
            None => format!("/v1/views/{view}?limit=97"),
        };
        let response = request(address, "GET", &path, token, None);
        assert_eq!(
            response.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let body = response.json();
        let page_as_of = body["as_of"].as_u64().expect("as_of");
        assert_eq!(
            *as_of.get_or_insert(page_as_of),
            page_as_of,
            "all pages at one as_of"
        );
        rows.extend(body["rows"].as_array().expect("rows").iter().cloned());
        match body["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    (as_of.unwrap_or_default(), rows)
}

/// The differences between every view read over HTTP from `address` and the oracle's
/// recomputation over `tables` (the SQL columns only: served rows may carry ratios too).
pub fn http_oracle_differences(
    address: SocketAddr,
    token: Option<&str>,
    tables: &twinflow_oracle::Tables,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (view, expected) in twinflow_oracle::evaluate(tables) {
        let (_, mut actual) = read_all(address, token, view);
        for row in &mut actual {
            if let Some(object) = row.as_object_mut() {
                object.retain(|name, _| {
                    twinflow_dataflows::schema(view)
                        .column_index(name)
                        .is_some()
                });
            }
        }
        let mut wanted: Vec<serde_json::Value> =
            expected.iter().map(|r| to_json(view, r)).collect();
        actual.sort_by_key(sort_key);
        wanted.sort_by_key(sort_key);
        if actual != wanted {
            let missing = wanted.iter().filter(|r| !actual.contains(r)).count();
            let extra = actual.iter().filter(|r| !wanted.contains(r)).count();
            problems.push(format!(
                "{view}: {} served, {} expected, {missing} missing, {extra} extra",
                actual.len(),
                wanted.len()
            ));
        }
    }
    problems
}

/// The operator token test engines start with, unless a test gives its own.
pub const TEST_OPERATOR_TOKEN: &str = "test-operator-token";

/// A `twinflow run` process on a free port.
pub struct Engine {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its operator token, which [`Engine::get`] and [`Engine::verify`] read with.
    pub token: String,
}

impl Engine {
    pub fn start(mysql_url: &str) -> Engine {
        Engine::start_with(&["--mysql", mysql_url])
    }

    pub fn start_with(args: &[&str]) -> Engine {
        Engine::start_command("run", args, &[])
    }

    /// `twinflow <command> <args>` with `env` added to its environment (the operator token
    /// is [`TEST_OPERATOR_TOKEN`] unless `env` sets `TWINFLOW_OPERATOR_TOKEN`).
    pub fn start_command(command: &str, args: &[&str], env: &[(&str, &str)]) -> Engine {
        let token = env
            .iter()
            .find(|(name, _)| *name == "TWINFLOW_OPERATOR_TOKEN")
            .map_or(TEST_OPERATOR_TOKEN, |(_, token)| *token)
            .to_owned();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
            .arg(command)
            .args(args)
            .args(["--workers", "2"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env("TWINFLOW_OPERATOR_TOKEN", &token)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("twinflow starts");
        let engine = Engine {
            child,
            url: format!("http://127.0.0.1:{port}"),
            token,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(engine.addr()).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "twinflow did not start serving"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        engine
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.url
            .trim_start_matches("http://")
            .parse()
            .expect("an address")
    }

    /// `GET path` as JSON, read with the operator token (if the engine has one).
    pub fn get(&self, path: &str) -> serde_json::Value {
        let token = Some(self.token.as_str()).filter(|token| !token.is_empty());
        request(self.addr(), "GET", path, token, None).json()
    }

    /// `twinflow connectors <args> --url <this engine>` with `token` (if any) as
    /// `TWINFLOW_OPERATOR_TOKEN`.
    pub fn connectors_cli(&self, token: Option<&str>, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"));
        command
            .arg("connectors")
            .args(args)
            .args(["--url", &self.url])
            .env_remove("TWINFLOW_OPERATOR_TOKEN")
            .env("RUST_LOG", "warn");
        if let Some(token) = token {
            command.env("TWINFLOW_OPERATOR_TOKEN", token);
        }
        command.output().expect("the CLI runs")
    }

    /// Runs `twinflow verify` against this engine; panics with its report unless it passes.
    pub fn verify(&self, mysql_url: &str) {
        self.verify_with(mysql_url, &[]);
    }

    /// [`Engine::verify`] with more arguments.
    pub fn verify_with(&self, mysql_url: &str, args: &[&str]) {
        let output: std::process::Output =
            std::process::Command::new(env!("CARGO_BIN_EXE_twinflow"))
                .args([
                    "verify",
                    "--mysql",
                    mysql_url,
                    "--url",
                    &self.url,
                    "--timeout",
                    "60",
                    "--token",
                    &self.token,
                ])
                .args(args)
                .env("RUST_LOG", "warn")
                .output()
                .expect("twinflow verify runs");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "verify failed ({}):\n{report}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // Every view was compared, and the org is not trivially empty.
        let compared: Vec<u64> = report
            .lines()
            .filter(|line| line.ends_with("equal"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
            .collect();
        assert_eq!(compared.len(), 7, "{report}");
        assert!(compared.iter().sum::<u64>() >= 100, "{report}");
        println!("{report}");
    }
}

impl Engine {
    /// Kills the process with SIGKILL: no clean shutdown, no last checkpoint.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reader token signed HS256 with `secret`: `claims` with an `exp` ten minutes ahead.
pub fn sign_token(secret: &[u8], mut claims: serde_json::Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        + 600;
    claims["exp"] = exp.into();
    let key = jsonwebtoken::EncodingKey::from_secret(secret).expect("a key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("signs")
}

/// A WebSocket client of a test engine.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A pipeline with `config`'s generated org loaded and published, and the generator to go on
/// with.
pub fn loaded_pipeline(
    config: twinflow_connectors::generator::GeneratorConfig,
) -> (
    twinflow_controller::Pipeline,
    twinflow_connectors::generator::OrgGenerator,
) {
    let pipeline =
        twinflow_controller::Pipeline::start(twinflow_controller::PipelineConfig::default())
            .expect("pipeline starts");
    let generator =
        twinflow_connectors::generator::OrgGenerator::new(config, Arc::from("generator"));
    let sources = pipeline.sources();
    for part in generator.snapshot() {
        sources.blocking_send(part).expect("pipeline accepts");
    }
    let state = pipeline.state();
    while state.snapshot().as_of < 1 {
        std::thread::sleep(Duration::from_millis(5));
    }
    (pipeline, generator)
}

/// Serves `pipeline`'s views on a free loopback port, on `runtime`, with `config`; its
/// address.
pub fn serve_pipeline(
    runtime: &tokio::runtime::Runtime,
    pipeline: &twinflow_controller::Pipeline,
    config: twinflow_serve::ServeConfig,
) -> SocketAddr {
    let info = Arc::new(twinflow_controller::status::PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
        None,
    ));
    let router = twinflow_serve::router(pipeline.state(), info, config);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let address = listener.local_addr().expect("address");
    runtime.spawn(twinflow_serve::serve(
        listener,
        router,
        std::future::pending(),
    ));
    address
}

/// [`serve_pipeline`] to readers with HS256 tokens signed with `secret` (no anonymous reads).
pub fn serve_with_tokens(
    runtime: &tokio::runtime::Runtime,
    pipeline: &twinflow_controller::Pipeline,
    secret: &[u8],
) -> SocketAddr {
    let verifier = twinflow_serve::auth::TokenVerifier::new(twinflow_serve::auth::JwtConfig {
        secret: Some(secret.to_vec()),
        ..twinflow_serve::auth::JwtConfig::default()
    })
    .expect("a verifier");
    let mut config = twinflow_serve::ServeConfig::anonymous(None);
    config.auth.anonymous_reads = false;
    config.auth.jwt = Some(Arc::new(verifier));
    serve_pipeline(runtime, pipeline, config)
}
