//! A served state behind a real socket, a tiny HTTP/1.1 client and a WebSocket client.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_ipc::reader::StreamReader;
use arrow_schema::DataType;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use twinflow_serve::{EngineInfo, ServeConfig};
use twinflow_views::{
    Commit, Datum, Key, Row, RowUpdate, ServedState, SourceProgress, StateConfig, StateWriter,
    UserStanding, ViewId,
};

/// The failure bound of every wait.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Waits for `future`, failing the test after [`PATIENCE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out")
}

/// Every company's rows to requests without a token, and [`OPERATOR_TOKEN`].
pub fn anonymous() -> ServeConfig {
    ServeConfig::anonymous(Some(OPERATOR_TOKEN.to_string()))
}

/// Fixed engine counters.
pub struct Info;

/// The operator token the test server accepts.
pub const OPERATOR_TOKEN: &str = "operator-secret";

impl EngineInfo for Info {
    fn dead_letter_count(&self) -> u64 {
        7
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, f64)> {
        vec![("changes_applied_total", "Row changes applied.", 42.0)]
    }

    fn connectors(&self) -> Vec<serde_json::Value> {
        vec![serde_json::json!({"name": "mysql-main", "state": "streaming"})]
    }

    fn dead_letters(&self) -> Vec<serde_json::Value> {
        vec![serde_json::json!({"source": "mysql-main", "reason": "bad enum"})]
    }
}

/// The API on a local port over a state the test commits to.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The state it serves.
    pub state: ServedState,
    writer: StateWriter,
    /// Every view's rows, as the test committed them.
    pub rows: BTreeMap<(ViewId, Key), Row>,
    /// The last committed `as_of`.
    pub as_of: u64,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Serves a fresh state on `127.0.0.1:0` to anonymous readers.
    pub async fn start(config: StateConfig) -> Server {
        Server::start_with(config, anonymous()).await
    }

    /// Serves a fresh state on `127.0.0.1:0` with `serve`'s authentication and limits.
    pub async fn start_with(config: StateConfig, serve: ServeConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Server::start_on(listener, config, serve)
    }

    /// Serves a fresh state on `listener`.
    pub fn start_on(listener: TcpListener, config: StateConfig, serve: ServeConfig) -> Server {
        let addr = listener.local_addr().expect("local addr");
        let (state, writer) = ServedState::new(config, twinflow_dataflows::catalog());
        let router = twinflow_serve::router(state.clone(), Arc::new(Info), serve);
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(twinflow_serve::serve(listener, router, async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            state,
            writer,
            rows: BTreeMap::new(),
            as_of: 0,
            shutdown: Some(shutdown),
        }
    }

    /// Starts the server's graceful shutdown.
    pub fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Commits the next `as_of`: `puts` insert or replace rows (by key), `deletes` remove keys.
    pub fn commit(&mut self, puts: Vec<(ViewId, Row)>, deletes: Vec<(ViewId, Key)>) -> u64 {
        self.as_of += 1;
        let mut updates = Vec::new();
        for (view, key) in deletes {
            if let Some(old) = self.rows.remove(&(view, key)) {
                updates.push((
                    view,
                    RowUpdate {
                        old: Some(old),
                        new: None,
                    },
                ));
            }
        }
        for (view, row) in puts {
            let key = twinflow_dataflows::schema(view).key_of(&row);
            let old = self.rows.insert((view, key), row.clone());
            if old.as_ref() != Some(&row) {
                updates.push((
                    view,
                    RowUpdate {
                        old,
                        new: Some(row),
                    },
                ));
            }
        }
        let sources = vec![SourceProgress {
            source: "mysql-main".into(),
            position: json!({"file": "binlog.000001", "pos": self.as_of}),
            last_commit_ms: 1,
            applied_ms: 2,
        }];
        self.writer.commit(Commit {
            as_of: self.as_of,
            updates,
            sources,
            removed_sources: Vec::new(),
            baseline: false,
            users: Vec::new(),
        });
        self.as_of
    }

    /// Commits changes of the users tokens are checked against (and no row).
    pub fn put_users(&mut self, users: Vec<(UserStanding, isize)>) -> u64 {
        self.as_of += 1;
        self.writer.commit(Commit {
            as_of: self.as_of,
            updates: Vec::new(),
            sources: Vec::new(),
            removed_sources: Vec::new(),
            baseline: false,
            users,
        });
        self.as_of
    }

    /// Commits `rows` of `occupancy`.
    pub fn put_rooms(&mut self, rows: Vec<Row>) -> u64 {
        self.commit(
            rows.into_iter()
                .map(|row| (ViewId::Occupancy, row))
                .collect(),
            Vec::new(),
        )
    }

    /// Commits the deletion of `rooms` from `occupancy`.
    pub fn delete_rooms(&mut self, rooms: &[i64]) -> u64 {
        self.commit(
            Vec::new(),
            rooms
                .iter()
                .map(|room| (ViewId::Occupancy, Key::new(&[*room])))
                .collect(),
        )
    }

    /// The committed rows of `view` matching `keep`, as JSON objects in (company, key) order.
    pub fn expected(&self, view: ViewId, keep: impl Fn(&Row) -> bool) -> Vec<Value> {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|((v, _), row)| *v == view && keep(row))
            .map(|(_, row)| row)
            .collect();
        rows.sort_by_key(|row| {
            (
                row[0].as_int(),
                twinflow_dataflows::schema(view).key_of(row),
            )
        });
        rows.into_iter().map(|row| row_json(view, row)).collect()
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        request(self.addr, Method::GET, path).await
    }

    /// `GET path` with the operator token.
    pub async fn operator_get(&self, path: &str) -> Reply {
        let bearer = format!("Bearer {OPERATOR_TOKEN}");
        request_with(self.addr, Method::GET, path, &[("authorization", &bearer)]).await
    }

    /// Opens a WebSocket on `path`.
    pub async fn subscribe(&self, path: &str) -> Ws {
        let (ws, _) = within(tokio_tungstenite::connect_async(format!(
            "ws://{}{path}",
            self.addr
        )))
        .await
        .expect("websocket");
        ws
    }
}

/// An `occupancy` row: room `room` of `company`, `assigned` people in it.
pub fn room(company: i64, room: i64, assigned: i64) -> Row {
    let building = company * 100 + room % 3;
    Arc::from(vec![
        Datum::Int(company),
        Datum::Int(building),
        Datum::Int(building * 10 + room % 2),
        Datum::Int(room),
        Datum::Text(format!("Room \"{room}\"").into()),
        Datum::Text(if room % 2 == 0 { "office" } else { "lab" }.into()),
        Datum::Int(10),
        Datum::Int(2),
        Datum::Int(4),
        Datum::Int(assigned),
        Datum::Int(1),
    ])
}

/// A row as the API's JSON object, computed independently of the API's encoder.
pub fn row_json(view: ViewId, row: &[Datum]) -> Value {
    let mut object = Map::new();
    for (column, value) in twinflow_dataflows::schema(view).columns.iter().zip(row) {
        let value = match value {
            Datum::Null => Value::Null,
            Datum::Int(i) => json!(i),
            Datum::Float(f) => json!(f),
            Datum::Text(s) => json!(s.as_str()),
        };
        object.insert(column.name.to_owned(), value);
    }
    Value::Object(object)
}

/// An HTTP response, read whole.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", self.body))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a JSON error with `status` whose message contains `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{:?}", self.body);
        assert_eq!(self.header(CONTENT_TYPE.as_str()), Some("application/json"));
        let message = self.json()["error"]
            .as_str()
            .map(str::to_owned)
            .expect("an error message");
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

/// One request on a fresh connection.
pub async fn request(addr: SocketAddr, method: Method, path: &str) -> Reply {
    request_with(addr, method, path, &[]).await
}

/// One request with extra `headers` on a fresh connection.
pub async fn request_with(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    within(async {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::<Bytes>::new()).expect("request");
        let response = sender.send_request(request).await.expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    })
    .await
}

/// A WebSocket client.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a subscriber receives.
#[derive(Debug)]
pub enum Received {
    /// A JSON text message.
    Json(Value),
    /// A close frame with its reason.
    Close(String),
}

/// The next text message or close frame (pings and pongs skipped).
pub async fn receive<S>(ws: &mut WebSocketStream<S>) -> Received
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match within(ws.next()).await.expect("open").expect("message") {
            Message::Text(text) => {
                return Received::Json(serde_json::from_str(&text).expect("JSON message"))
            }
            Message::Close(frame) => {
                return Received::Close(frame.map(|f| f.reason.to_string()).unwrap_or_default())
            }
            _ => continue,
        }
    }
}

/// The next JSON message, progress included.
pub async fn next_json<S>(ws: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    match receive(ws).await {
        Received::Json(value) => value,
        Received::Close(reason) => panic!("closed: {reason}"),
    }
}

/// The next JSON message that is not progress.
pub async fn next_update<S>(ws: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = next_json(ws).await;
        if message["type"] != "progress" {
            return message;
        }
    }
}

/// The rows of an Arrow IPC stream as JSON objects, and the batches' schema types.
pub fn arrow_rows(body: &[u8]) -> (Vec<Value>, Vec<(String, DataType, bool)>) {
    let reader = StreamReader::try_new(Cursor::new(body), None).expect("an Arrow IPC stream");
    let fields = reader
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    let mut rows = Vec::new();
    for batch in reader {
        let batch: RecordBatch = batch.expect("batch");
        for i in 0..batch.num_rows() {
            let mut object = Map::new();
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                let value = if column.is_null(i) {
                    Value::Null
                } else if let Some(ints) = column.as_any().downcast_ref::<Int64Array>() {
                    json!(ints.value(i))
                } else if let Some(floats) = column.as_any().downcast_ref::<Float64Array>() {
                    json!(floats.value(i))
                } else if let Some(strings) = column.as_any().downcast_ref::<StringArray>() {
                    json!(strings.value(i))
                } else {
                    panic!("unexpected column type {}", column.data_type())
                };
                object.insert(field.name().clone(), value);
            }
            rows.push(Value::Object(object));
        }
    }
    (rows, fields)
}
