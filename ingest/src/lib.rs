//! The change model of twinflow.
//!
//! Everything a source produces is expressed in the types of this crate: typed [`Value`]s in
//! [`Row`] images of the tables of the contract's `schema.sql` ([`catalog`]), grouped into source
//! [`Transaction`]s that carry a source-neutral [`SourcePosition`]. The [`reclock`] module turns
//! transactions into logical timestamps (one transaction never spans two timestamps) and
//! [`validate`] checks row images against the catalog, producing [`DeadLetter`]s for bad input.
//! [`decode`] reads source encodings (MySQL binlog rows, Debezium JSON) into catalog rows, and
//! [`assemble`] groups per-event streams such as Debezium's into transactions.

pub mod assemble;
pub mod catalog;
pub mod change;
pub mod deadletter;
pub mod decode;
pub mod reclock;
pub mod validate;
pub mod value;

pub use assemble::{
    MergedTransaction, OrderedMerge, Pushed, TransactionAssembler, DEFAULT_DEDUP_WINDOW,
};
pub use catalog::{ColumnSchema, SqlType, TableId, TableSchema};
pub use change::{now_ms, RowChange, SourceId, SourcePosition, Transaction};
pub use deadletter::{DeadLetter, DeadLetterLog};
pub use decode::DecodeError;
pub use reclock::{Reclocker, Timestamp, TimestampedBatch};
pub use validate::RowError;
pub use value::{Row, Value};
