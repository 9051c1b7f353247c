//! Reading source-row columns by name, with the catalog's types. Any surprise is a bug in the
//! test setup or the catalog, so it panics with a message naming the table and column.

use twinflow_ingest::{Row, TableId, Value};
use twinflow_views::Text;

/// The index of `name` in `table`'s columns.
pub(crate) fn index(table: TableId, name: &str) -> usize {
    table
        .column(name)
        .unwrap_or_else(|| panic!("oracle: the catalog's {table} has no column `{name}`"))
}

/// The value of column `name`.
pub(crate) fn value<'r>(table: TableId, row: &'r Row, name: &str) -> &'r Value {
    let i = index(table, name);
    row.get(i).unwrap_or_else(|| {
        panic!(
            "oracle: {table} row has {} columns, no `{name}` (#{i})",
            row.len()
        )
    })
}

fn mismatch(table: TableId, name: &str, expected: &str, got: &Value) -> ! {
    panic!(
        "oracle: {table}.{name}: expected {expected}, got {} `{got}`",
        got.kind()
    )
}

/// A `NOT NULL` integer column.
pub(crate) fn int(table: TableId, row: &Row, name: &str) -> i64 {
    match value(table, row, name) {
        Value::Int(i) => *i,
        other => mismatch(table, name, "an integer", other),
    }
}

/// A nullable integer column (`None` for SQL `NULL`).
pub(crate) fn opt_int(table: TableId, row: &Row, name: &str) -> Option<i64> {
    match value(table, row, name) {
        Value::Null => None,
        Value::Int(i) => Some(*i),
        other => mismatch(table, name, "an integer or NULL", other),
    }
}

/// A `NOT NULL` text column (`VARCHAR`, `ENUM`, ...).
pub(crate) fn text(table: TableId, row: &Row, name: &str) -> Text {
    match value(table, row, name) {
        Value::Text(s) => Text::from(&**s),
        other => mismatch(table, name, "text", other),
    }
}

/// A `NOT NULL` `DOUBLE` column.
pub(crate) fn double(table: TableId, row: &Row, name: &str) -> f64 {
    match value(table, row, name) {
        Value::Double(f) => *f,
        other => mismatch(table, name, "a double", other),
    }
}

/// Whether column `name` is SQL `NULL`.
pub(crate) fn is_null(table: TableId, row: &Row, name: &str) -> bool {
    value(table, row, name).is_null()
}
