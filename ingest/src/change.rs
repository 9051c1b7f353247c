//! Row changes, source transactions and source positions.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::catalog::TableId;
use crate::value::{Row, Value};

/// One row change: the image before (absent for an insert) and after (absent for a delete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowChange {
    /// The table the row belongs to.
    pub table: TableId,
    /// The row before the change; `None` for an insert.
    pub before: Option<Row>,
    /// The row after the change; `None` for a delete.
    pub after: Option<Row>,
}

impl RowChange {
    /// An insert of `row`.
    pub fn insert(table: TableId, row: Row) -> Self {
        RowChange {
            table,
            before: None,
            after: Some(row),
        }
    }

    /// An update from `before` to `after`.
    pub fn update(table: TableId, before: Row, after: Row) -> Self {
        RowChange {
            table,
            before: Some(before),
            after: Some(after),
        }
    }

    /// A delete of `row`.
    pub fn delete(table: TableId, row: Row) -> Self {
        RowChange {
            table,
            before: Some(row),
            after: None,
        }
    }

    /// The primary key (`id`, the first column) of the changed row, if it is an integer.
    pub fn key(&self) -> Option<i64> {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .and_then(|r| r.first())
            .and_then(Value::as_int)
    }
}

/// The name of a source (a connector instance), unique in one engine.
pub type SourceId = Arc<str>;

/// Where a source stands in its upstream change stream, in a form each source can resume from.
///
/// Positions are opaque to everything but the source that made them; they are ordered within
/// one source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourcePosition {
    /// The generator: how many transactions it has emitted.
    Generator {
        /// Sequence number of the transaction (0 = the initial snapshot).
        seq: u64,
    },
    /// A MySQL/MariaDB binlog position.
    Binlog {
        /// The GTID set or single GTID, when the server has GTIDs.
        gtid: Option<String>,
        /// The binlog file.
        file: String,
        /// The offset in the file.
        pos: u64,
    },
    /// Kafka offsets: (topic, partition, next offset).
    Kafka {
        /// One entry per partition read.
        offsets: Vec<(String, i32, i64)>,
    },
    /// A line of a replayed file.
    File {
        /// The line number (1-based).
        line: u64,
    },
}

impl fmt::Display for SourcePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcePosition::Generator { seq } => write!(f, "seq {seq}"),
            SourcePosition::Binlog { gtid: Some(g), .. } => write!(f, "gtid {g}"),
            SourcePosition::Binlog { file, pos, .. } => write!(f, "{file}:{pos}"),
            SourcePosition::File { line } => write!(f, "line {line}"),
            SourcePosition::Kafka { offsets } => {
                let parts: Vec<_> = offsets
                    .iter()
                    .map(|(t, p, o)| format!("{t}[{p}]@{o}"))
                    .collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch: the unit of [`Transaction::commit_time_ms`].
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One source transaction: changes that commit together and must become visible together.
#[derive(Clone, Debug)]
pub struct Transaction {
    /// The source that read it.
    pub source: SourceId,
    /// The source's position after this transaction (resume from here).
    pub position: SourcePosition,
    /// Commit time at the source, milliseconds since the epoch (for lag).
    pub commit_time_ms: u64,
    /// The changes, in source order. A change may touch any database.
    pub changes: Vec<RowChange>,
    /// `true` when further parts of this same transaction follow (a source may deliver a large
    /// transaction, such as an initial snapshot, in parts; all parts share one timestamp).
    pub more_follows: bool,
}
