//! The MySQL/MariaDB source: a consistent snapshot of the catalog's tables on one server, then
//! its row binlog from exactly the snapshot's position.
//!
//! - The snapshot runs in one `START TRANSACTION WITH CONSISTENT SNAPSHOT` and reads the binlog
//!   position that matches it (`binlog_snapshot_file/position`, MariaDB), so rows committed
//!   meanwhile arrive once, through the binlog. Writers are never locked.
//! - One binlog transaction (GTID … XID/COMMIT) becomes one [`Transaction`], never split;
//!   statements on several databases of the server stay one transaction.
//! - After a lost connection the source reconnects with a growing backoff and resumes from the
//!   GTID position of the last transaction it passed on (file/position before the first GTID).
//! - While the server is idle it asks for heartbeats and passes on empty transactions, so lag
//!   stays known.
//! - Rows that do not decode go to the dead-letter record; a table whose columns no longer
//!   match the catalog (DDL) is reported in the status and skipped while the others flow.
//!
//! [`Transaction`]: twinflow_ingest::Transaction

mod binlog;
mod gtid;
mod snapshot;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::{Conn, Opts};
use serde::Deserialize;
use twinflow_ingest::{
    now_ms, DeadLetter, DeadLetterLog, SourceId, SourcePosition, TableId, Transaction,
};

pub use gtid::{BadGtid, Gtid, GtidPosition};
pub use snapshot::start_consistent_snapshot;

use crate::databases;
use crate::queue::TransactionSender;
use crate::status::{ConnectorState, ConnectorStatus};

/// How to read one MySQL/MariaDB server.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MySqlConfig {
    /// `mysql://USER:PASSWORD@HOST:PORT`.
    pub url: String,
    /// The source's name; by default `mysql://HOST:PORT`.
    #[serde(default)]
    pub name: Option<String>,
    /// The databases to read; by default every database of the catalog present on the server.
    #[serde(default)]
    pub databases: Option<Vec<String>>,
    /// The replica server id this reader registers with (each reader of one server needs its
    /// own); by default derived from the source name.
    #[serde(default)]
    pub server_id: Option<u32>,
    /// Heartbeat period asked of the server while it is idle, in milliseconds.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// The longest wait between reconnection attempts, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

fn default_heartbeat_ms() -> u64 {
    1000
}

fn default_max_backoff_ms() -> u64 {
    5000
}

/// Why the source stopped or is retrying.
#[derive(Debug, thiserror::Error)]
pub enum MySqlError {
    /// The URL is not a MySQL URL.
    #[error("bad MySQL URL: {0}")]
    Url(#[from] mysql_async::UrlError),
    /// A query or the connection failed.
    #[error("{context}: {source}")]
    Server {
        /// What was being done.
        context: String,
        /// The driver's error.
        source: mysql_async::Error,
    },
    /// The server cannot serve as a source (no binlog, wrong settings, ...).
    #[error("{0}")]
    Unsuitable(String),
    /// The binlog stream ended or went silent.
    #[error("binlog stream: {0}")]
    Stream(String),
}

/// Adds what was being done to a driver error.
trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, MySqlError>;
}

impl<T> Context<T> for Result<T, mysql_async::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, MySqlError> {
        self.map_err(|source| MySqlError::Server {
            context: what(),
            source,
        })
    }
}

impl MySqlConfig {
    /// A configuration for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        MySqlConfig {
            url: url.into(),
            name: None,
            databases: None,
            server_id: None,
            heartbeat_ms: default_heartbeat_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }

    /// The source's name: the configured one, or `mysql://HOST:PORT` (no credentials).
    pub fn source_name(&self) -> Result<String, MySqlError> {
        if let Some(name) = &self.name {
            return Ok(name.clone());
        }
        let opts = Opts::from_url(&self.url)?;
        Ok(format!(
            "mysql://{}:{}",
            opts.ip_or_hostname(),
            opts.tcp_port()
        ))
    }

    /// The catalog tables this source feeds (those of its databases).
    pub fn tables(&self) -> Vec<TableId> {
        databases::tables(self.databases.as_deref())
    }

    /// Whether this source reads the catalog table, if the server has it.
    fn reads(&self, table: TableId) -> bool {
        databases::selects(self.databases.as_deref(), table.schema().database)
    }

    fn replica_server_id(&self, name: &str) -> u32 {
        self.server_id.unwrap_or_else(|| {
            // FNV-1a of the name, kept clear of the small ids servers themselves use.
            let hash = name.bytes().fold(0x811c_9dc5u32, |h, b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            hash | 0x4000_0000
        })
    }
}

/// A position in a server's binlog: where to read from next.
#[derive(Clone, Debug, Default)]
pub struct BinlogPosition {
    /// The GTID of the last transaction in each replication domain (empty before the first).
    pub gtid: GtidPosition,
    /// The binlog file.
    pub file: String,
    /// The offset in the file.
    pub pos: u64,
}

impl BinlogPosition {
    /// The binlog position a source-neutral position names, if it names one.
    pub fn from_position(position: &SourcePosition) -> Option<Result<BinlogPosition, BadGtid>> {
        let SourcePosition::Binlog { gtid, file, pos } = position else {
            return None;
        };
        let gtid = match gtid {
            Some(gtid) => match gtid.parse() {
                Ok(gtid) => gtid,
                Err(err) => return Some(Err(err)),
            },
            None => GtidPosition::default(),
        };
        Some(Ok(BinlogPosition {
            gtid,
            file: file.clone(),
            pos: *pos,
        }))
    }

    /// As the source-neutral position of the change model.
    pub fn position(&self) -> SourcePosition {
        SourcePosition::Binlog {
            gtid: (!self.gtid.is_empty()).then(|| self.gtid.to_string()),
            file: self.file.clone(),
            pos: self.pos,
        }
    }
}

/// What the snapshot and the binlog reader share.
struct Source {
    config: MySqlConfig,
    opts: Opts,
    id: SourceId,
    server_id: u32,
    tx: TransactionSender,
    dead_letters: Arc<DeadLetterLog>,
    status: Arc<ConnectorStatus>,
}

/// The source stops because its receiver is gone.
struct Closed;

/// The first wait before reconnecting; it doubles up to `max_backoff_ms` while attempts fail.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

impl Source {
    async fn connect(&self) -> Result<Conn, MySqlError> {
        Conn::new(self.opts.clone())
            .await
            .context(|| format!("connecting to {}", self.id))
    }

    /// Passes a transaction on; `Err` when the pipeline is gone.
    async fn send(&self, txn: Transaction) -> Result<(), Closed> {
        self.status.read(txn.changes.len(), &txn.position);
        self.tx.send(txn).await.map_err(|_| Closed)
    }

    /// Passes on an empty transaction at `position` committed now: while the server is idle,
    /// it keeps the lag known. Not counted as a transaction read.
    async fn send_heartbeat(&self, position: SourcePosition) -> Result<(), Closed> {
        let txn = self.transaction(position, now_ms(), Vec::new(), false);
        self.tx.send(txn).await.map_err(|_| Closed)
    }

    fn transaction(
        &self,
        position: SourcePosition,
        commit_time_ms: u64,
        changes: Vec<twinflow_ingest::RowChange>,
        more_follows: bool,
    ) -> Transaction {
        Transaction {
            source: self.id.clone(),
            position,
            commit_time_ms,
            changes,
            more_follows,
        }
    }

    fn dead_letter(
        &self,
        position: SourcePosition,
        table: Option<TableId>,
        key: Option<i64>,
        reason: String,
    ) {
        let table = table.map(|t| t.to_string());
        self.dead_letters
            .record(DeadLetter::new(&self.id, position, table, key, reason));
    }
}

/// The primary key (`id`, the first column of every catalog table) of a source row that could
/// not be decoded, when it reads as an integer: what its dead letter names it by.
fn raw_key(id: Option<&mysql_async::Value>) -> Option<i64> {
    match id? {
        mysql_async::Value::Int(i) => Some(*i),
        mysql_async::Value::UInt(u) => i64::try_from(*u).ok(),
        mysql_async::Value::Bytes(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        _ => None,
    }
}

/// Reads `config`'s server into `tx` until `shutdown` resolves or the receiver is dropped:
/// a snapshot, then the binlog, reconnecting after errors; with `resume` (a binlog position of
/// an earlier run), the binlog from there without a snapshot. `status` reports what it does.
pub async fn run_mysql_source(
    config: MySqlConfig,
    resume: Option<SourcePosition>,
    tx: TransactionSender,
    dead_letters: Arc<DeadLetterLog>,
    status: Arc<ConnectorStatus>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    let source = match prepare(config, tx, dead_letters, status.clone()) {
        Ok(source) => source,
        Err(err) => {
            tracing::error!("mysql source: {err}");
            status.error(err.to_string());
            status.set_state(ConnectorState::Stopped);
            return;
        }
    };
    let max_backoff = Duration::from_millis(source.config.max_backoff_ms.max(1));
    let mut backoff = FIRST_BACKOFF.min(max_backoff);
    let mut resume: Option<BinlogPosition> = match resume
        .as_ref()
        .map(BinlogPosition::from_position)
    {
        Some(Some(Ok(at))) => {
            tracing::info!(source = %source.id, "resuming the binlog at {}", at.position());
            Some(at)
        }
        Some(Some(Err(err))) => {
            tracing::warn!(source = %source.id, "cannot resume ({err}); taking a snapshot");
            None
        }
        Some(None) => {
            tracing::warn!(source = %source.id, "the restored position is not a binlog position; taking a snapshot");
            None
        }
        None => None,
    };
    loop {
        let attempt = async {
            let at = match resume.as_mut() {
                Some(at) => at,
                None => match snapshot::take(&source).await? {
                    Ok(at) => resume.insert(at),
                    Err(closed) => return Ok(closed),
                },
            };
            binlog::follow(&source, at, &mut backoff).await
        };
        let outcome = tokio::select! {
            biased;
            () = shutdown.as_mut() => break,
            outcome = attempt => outcome,
        };
        match outcome {
            Ok(Closed) => break,
            Err(err) => {
                tracing::warn!(source = %source.id, "{err}; retrying in {backoff:?}");
                status.error(err.to_string());
                status.set_state(ConnectorState::Retrying);
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
    status.set_state(ConnectorState::Stopped);
}

fn prepare(
    config: MySqlConfig,
    tx: TransactionSender,
    dead_letters: Arc<DeadLetterLog>,
    status: Arc<ConnectorStatus>,
) -> Result<Source, MySqlError> {
    let opts = Opts::from_url(&config.url)?;
    let name = config.source_name()?;
    let server_id = config.replica_server_id(&name);
    Ok(Source {
        config,
        opts,
        id: Arc::from(name),
        server_id,
        tx,
        dead_letters,
        status,
    })
}
