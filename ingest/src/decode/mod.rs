//! Decoders: from a source's encoding of row values to the catalog's typed [`Value`]s.
//!
//! Formats are kept apart from transports: the MySQL/MariaDB value decoding ([`mysql`]) and
//! Debezium's JSON change events ([`debezium`]) live here; the connections, files and topics
//! that carry them live in the connectors.
//!
//! [`Value`]: crate::Value

pub mod debezium;
pub mod mysql;
mod text;

use thiserror::Error;

/// Why a source's row could not be turned into a catalog row.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A value that cannot be read as its column's type (the value itself is not kept: it
    /// may be secret).
    #[error("{table}.{column}: cannot read a {got} as {expected}")]
    BadValue {
        /// `database.table`.
        table: String,
        /// The column.
        column: &'static str,
        /// The column's SQL type.
        expected: String,
        /// The kind of value the source sent.
        got: &'static str,
    },
    /// The source's table lacks a column the catalog needs (dropped by DDL, say).
    #[error("{table}: the source has no column {column}")]
    MissingColumn {
        /// `database.table`.
        table: String,
        /// The missing column.
        column: &'static str,
    },
}

pub use text::{parse_date, parse_datetime_millis, parse_decimal};
