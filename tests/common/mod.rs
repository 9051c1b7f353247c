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
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").expect("send request");
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
            .map(|(_, row)| row.clone())
            .collect();
        served.sort();
        if let Some(d) = twinflow_oracle::diff(view, &expected, &served) {
            problems.push(d);
        }
    }
    problems
}
