//! Which databases a source reads: the `databases` of its configuration, or (without it) every
//! database of the catalog.

use twinflow_ingest::TableId;

/// Whether a source configured with `databases` (`None`: all) reads `database`.
pub(crate) fn selects(databases: Option<&[String]>, database: &str) -> bool {
    databases.is_none_or(|list| list.iter().any(|d| d == database))
}

/// The catalog tables a source configured with `databases` feeds.
pub(crate) fn tables(databases: Option<&[String]>) -> Vec<TableId> {
    TableId::ALL
        .iter()
        .copied()
        .filter(|t| selects(databases, t.schema().database))
        .collect()
}
