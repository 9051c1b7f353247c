//! Readable differences between expected and actual view contents.

use std::collections::BTreeMap;
use std::fmt::Write;

use twinflow_views::{Datum, Row, ViewId};

/// How many rows of each side a diff lists before summarising.
const SHOWN: usize = 20;

/// A readable diff for assertion messages: the rows only in `expected` and the rows only in
/// `actual`, compared as multisets (order does not matter, duplicates do), at most 20 of each,
/// with column names. `None` when both hold the same rows.
pub fn diff(view: ViewId, expected: &[Row], actual: &[Row]) -> Option<String> {
    let mut count: BTreeMap<&Row, i64> = BTreeMap::new();
    for r in expected {
        *count.entry(r).or_insert(0) += 1;
    }
    for r in actual {
        *count.entry(r).or_insert(0) -= 1;
    }
    let mut missing = Vec::new();
    let mut unexpected = Vec::new();
    for (r, n) in count {
        for _ in 0..n.abs() {
            if n > 0 {
                missing.push(r);
            } else {
                unexpected.push(r);
            }
        }
    }
    if missing.is_empty() && unexpected.is_empty() {
        return None;
    }
    let mut out = format!(
        "view {view}: {} expected rows, {} actual; {} only in expected, {} only in actual\n",
        expected.len(),
        actual.len(),
        missing.len(),
        unexpected.len()
    );
    for (label, rows) in [
        ("only in expected", &missing),
        ("only in actual  ", &unexpected),
    ] {
        for r in rows.iter().take(SHOWN) {
            let _ = writeln!(out, "  {label}: {}", format_row(view, r));
        }
        if rows.len() > SHOWN {
            let _ = writeln!(out, "  {label}: ... and {} more", rows.len() - SHOWN);
        }
    }
    Some(out)
}

/// `(name=value, ...)` in the view's column order.
pub fn format_row(view: ViewId, row: &[Datum]) -> String {
    let columns = twinflow_dataflows::schema(view).columns;
    let parts: Vec<String> = row
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let name = columns.get(i).map_or("?", |c| c.name);
            let value = match d {
                Datum::Null => "NULL".to_string(),
                Datum::Int(v) => v.to_string(),
                Datum::Float(v) => format!("{v:?}"),
                Datum::Text(s) => format!("{s:?}"),
            };
            format!("{name}={value}")
        })
        .collect();
    format!("({})", parts.join(", "))
}
