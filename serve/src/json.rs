//! JSON encoding of rows, pages and subscription messages, written straight into a `String`
//! (no intermediate `serde_json::Value`, no re-validation as UTF-8 afterwards).
//!
//! Values: integers as JSON integers, floats as numbers (non-finite ones as `null`), text as
//! strings, `NULL` as `null`. Rows are objects keyed by the view's column names, in order; in
//! the [`Encoding::Compact`] subscription encoding they are arrays of values, the snapshot
//! naming the columns (and the key's) once, and a key is an array of its values. A compact
//! subscription's rows leave out the columns its own filters fix: the snapshot gives their
//! values once, as `fixed`.

use std::fmt::Write;

use twinflow_views::{
    Datum, Filter, Key, ResetReason, Row, Snapshot, ViewDelta, ViewId, ViewSchema,
};

/// How a subscription's rows and keys are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// Rows as objects keyed by column name, keys as objects of the key columns.
    #[default]
    Objects,
    /// Rows as arrays of values in column order, keys as arrays of the key's values; the
    /// snapshot names the columns once. A changes message leaves out the view (the
    /// subscription's) and an empty `upserts` or `deletes`; rows leave out the columns the
    /// subscription fixes.
    Compact,
}

/// Writes rows and keys of one view, built once per reader or subscription. The `"column":`
/// fragments are escaped once.
pub struct RowEncoder {
    encoding: Encoding,
    /// The columns (indexes) a subscription's own filters fix: compact rows leave them out.
    fixed: Vec<usize>,
    /// `{"first":` then `,"next":` for every column.
    columns: Vec<String>,
    /// The same for the key columns.
    key: Vec<String>,
    /// The columns a compact row carries, in order: those not fixed.
    shown: Vec<usize>,
}

impl RowEncoder {
    /// The encoder of rows with `schema` as objects.
    pub fn new(schema: &ViewSchema) -> Self {
        RowEncoder::with_encoding(schema, Encoding::Objects, &[])
    }

    /// The encoder of rows with `schema` in `encoding`; compact rows leave out the columns
    /// `fixed` (their indexes).
    pub fn with_encoding(schema: &ViewSchema, encoding: Encoding, fixed: &[usize]) -> Self {
        RowEncoder {
            encoding,
            fixed: fixed.to_vec(),
            columns: fragments(schema.columns.iter().map(|c| c.name)),
            key: fragments(schema.key.iter().copied()),
            shown: (0..schema.columns.len())
                .filter(|i| !fixed.contains(i))
                .collect(),
        }
    }

    /// Appends `row` as an object (or an array of its shown columns).
    pub fn row(&self, out: &mut String, row: &[Datum]) {
        match self.encoding {
            Encoding::Objects => object(out, &self.columns, row.iter(), push_datum),
            Encoding::Compact => array(
                out,
                self.shown.iter().filter_map(|&i| row.get(i)),
                push_datum,
            ),
        }
    }

    /// Appends `key` as an object of the key columns (or an array of its values).
    pub fn key(&self, out: &mut String, key: &Key) {
        let part = |out: &mut String, part: &i64| push_int(out, *part);
        match self.encoding {
            Encoding::Objects => object(out, &self.key, key.0.iter(), part),
            Encoding::Compact => array(out, key.0.iter(), part),
        }
    }

    /// Appends an array of `rows`.
    pub fn rows<R: AsRef<[Datum]>>(&self, out: &mut String, rows: impl IntoIterator<Item = R>) {
        array(out, rows, |out, row| self.row(out, row.as_ref()));
    }
}

/// `{"a":` and `,"b":` ... for `names`.
fn fragments<'n>(names: impl Iterator<Item = &'n str>) -> Vec<String> {
    names
        .enumerate()
        .map(|(i, name)| {
            let mut fragment = String::from(if i == 0 { "{" } else { "," });
            push_str(&mut fragment, name);
            fragment.push(':');
            fragment
        })
        .collect()
}

/// Appends an object of `fragments` zipped with `values`.
fn object<T>(
    out: &mut String,
    fragments: &[String],
    values: impl Iterator<Item = T>,
    mut value: impl FnMut(&mut String, T),
) {
    let mut empty = true;
    for (fragment, v) in fragments.iter().zip(values) {
        out.push_str(fragment);
        value(out, v);
        empty = false;
    }
    out.push_str(if empty { "{}" } else { "}" });
}

/// Appends an array of `items`.
fn array<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut String, T),
) {
    out.push('[');
    for (i, v) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, v);
    }
    out.push(']');
}

fn push_datum(out: &mut String, value: &Datum) {
    match value {
        Datum::Null => out.push_str("null"),
        Datum::Int(i) => push_int(out, *i),
        // Shortest text that reads back the same, always with a `.` or an exponent so it
        // reads back as a float.
        Datum::Float(f) if f.is_finite() => out.push_str(ryu::Buffer::new().format_finite(*f)),
        Datum::Float(_) => out.push_str("null"),
        Datum::Text(s) => push_str(out, s),
    }
}

fn push_int(out: &mut String, value: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends `s` as a JSON string.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        if byte >= 0x20 && byte != b'"' && byte != b'\\' {
            continue;
        }
        // `i` is an ASCII byte: a character boundary.
        out.push_str(&s[start..i]);
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The JSON array of `rows` of a view with `schema`.
pub fn rows_array(schema: &ViewSchema, rows: &[Row]) -> String {
    // ~16 bytes a column is a fair guess for ids, counts and short names.
    let mut out = String::with_capacity(2 + rows.len() * schema.columns.len() * 16);
    RowEncoder::new(schema).rows(&mut out, rows);
    out
}

/// What a page body has before its rows array.
pub fn page_head(view: ViewId, as_of: u64) -> String {
    let mut out = String::with_capacity(64);
    message_head(&mut out, None, view, as_of);
    out.push_str(",\"rows\":");
    out
}

/// What a page body has after its rows array: `next`, the full cursor or `null`.
pub fn page_tail(next: Option<&str>) -> String {
    let mut out = String::from(",\"next\":");
    match next {
        Some(cursor) => push_str(&mut out, cursor),
        None => out.push_str("null"),
    }
    out.push('}');
    out
}

/// `{"type":kind,"view":view,"as_of":as_of` (without `type` when `kind` is `None`).
fn message_head(out: &mut String, kind: Option<&str>, view: ViewId, as_of: u64) {
    out.push('{');
    if let Some(kind) = kind {
        out.push_str("\"type\":");
        push_str(out, kind);
        out.push(',');
    }
    out.push_str("\"view\":");
    push_str(out, view.name());
    out.push_str(",\"as_of\":");
    push_int(out, as_of);
}

/// `{"type":"snapshot", ...}` with every row of `view` in `snapshot` matching `filter`;
/// `reset` says why a resume was impossible (or that the subscriber fell behind). Compact, it
/// names the columns its rows carry and the key's columns, and gives the values (by `filter`)
/// of the columns `encoder` leaves out, before the rows.
pub fn snapshot_message(
    view: ViewId,
    snapshot: &Snapshot,
    filter: &Filter,
    reset: Option<ResetReason>,
    encoder: &RowEncoder,
) -> String {
    let mut out = String::with_capacity(4096);
    message_head(&mut out, Some("snapshot"), view, snapshot.as_of);
    out.push_str(if reset.is_some() {
        ",\"reset\":true"
    } else {
        ",\"reset\":false"
    });
    if let Some(reason) = reset {
        out.push_str(",\"reason\":");
        // The views crate names reasons (snake_case) through `Serialize`.
        out.push_str(&serde_json::to_string(&reason).unwrap_or_else(|_| "null".to_owned()));
    }
    let schema = snapshot.schema(view);
    if encoder.encoding == Encoding::Compact {
        out.push_str(",\"columns\":");
        array(&mut out, encoder.shown.iter(), |out, &i| {
            push_str(out, schema.columns[i].name)
        });
        out.push_str(",\"key\":");
        array(&mut out, schema.key.iter(), |out, name| push_str(out, name));
        out.push_str(",\"fixed\":");
        let fixed: Vec<(usize, &Datum)> = encoder
            .fixed
            .iter()
            .filter_map(|&i| Some((i, filter.value_of(i)?)))
            .collect();
        let names = fragments(fixed.iter().map(|(i, _)| schema.columns[*i].name));
        object(&mut out, &names, fixed.iter().map(|(_, v)| *v), push_datum);
    }
    out.push_str(",\"rows\":");
    encoder.rows(
        &mut out,
        snapshot.scan(view, filter, None).map(|(_, row)| row),
    );
    out.push('}');
    out
}

/// `{"type":"changes", ...}` with the changes of `delta` a subscriber with `filter` sees,
/// written by `encoder`, or `None` when it sees none. A key whose new row matches is an
/// upsert; otherwise a key whose old row matched is a delete (it left the filter); otherwise
/// the change is not seen.
pub fn changes_message(
    view: ViewId,
    delta: &ViewDelta,
    filter: &Filter,
    encoder: &RowEncoder,
) -> Option<String> {
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for change in &delta.changes {
        match (&change.new, &change.old) {
            (Some(new), _) if filter.matches(new) => upserts.push(&new[..]),
            (_, Some(old)) if filter.matches(old) => deletes.push(&change.key),
            _ => {}
        }
    }
    if upserts.is_empty() && deletes.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(256 + upserts.len() * 256);
    let compact = encoder.encoding == Encoding::Compact;
    match encoder.encoding {
        Encoding::Objects => message_head(&mut out, Some("changes"), view, delta.as_of),
        Encoding::Compact => {
            out.push_str("{\"type\":\"changes\",\"as_of\":");
            push_int(&mut out, delta.as_of);
        }
    }
    if !(compact && upserts.is_empty()) {
        out.push_str(",\"upserts\":");
        encoder.rows(&mut out, upserts);
    }
    if !(compact && deletes.is_empty()) {
        out.push_str(",\"deletes\":");
        array(&mut out, deletes, |out, key| encoder.key(out, key));
    }
    out.push('}');
    Some(out)
}

/// `{"type":"progress","as_of":N}`.
pub fn progress_message(as_of: u64) -> String {
    let mut out = String::from("{\"type\":\"progress\",\"as_of\":");
    push_int(&mut out, as_of);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value};
    use twinflow_dataflows::schema;
    use twinflow_views::KeyChange;

    use super::*;

    fn staffing(company: i64, job: i64, level: Option<&str>) -> Row {
        let mut row = vec![
            Datum::Int(company),
            Datum::Int(1),
            Datum::Null,
            Datum::Int(job),
            Datum::Text("T\"x\\\n\u{1}é".into()),
        ];
        row.push(level.map_or(Datum::Null, |l| Datum::Text(l.into())));
        row.extend((0..5).map(Datum::Int));
        Arc::from(row)
    }

    #[test]
    fn rows_are_objects_in_column_order() {
        let rows = vec![staffing(1, 7, Some("senior")), staffing(2, -8, None)];
        let text = rows_array(schema(ViewId::Staffing), &rows);
        assert!(text.starts_with(
            "[{\"company_id\":1,\"function_id\":1,\"function_name\":null,\"job_id\":7,"
        ));
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value[0]["job_title"], json!("T\"x\\\n\u{1}é"));
        assert_eq!(value[0]["job_level"], json!("senior"));
        assert_eq!(value[1]["job_id"], json!(-8));
        assert_eq!(value[1]["job_level"], Value::Null);
        assert_eq!(rows_array(schema(ViewId::Staffing), &[]), "[]");
    }

    #[test]
    fn floats_are_numbers_that_read_back() {
        let mut out = String::new();
        for f in [
            1.25,
            -0.5,
            1.0,
            0.0,
            -0.0,
            1e300,
            5e-324,
            f64::NAN,
            f64::INFINITY,
        ] {
            push_datum(&mut out, &Datum::Float(f));
            let value: Value = serde_json::from_str(&out).expect("json");
            match value.as_f64() {
                Some(read) => assert!(read == f && value.is_f64(), "{out}"),
                None => assert!(!f.is_finite() && value.is_null()),
            }
            out.clear();
        }
    }

    #[test]
    fn changes_follow_the_filter() {
        let filter =
            Filter::parse(schema(ViewId::Staffing), [("company_id", "1")]).expect("filter");
        let change = |key: i64, old: Option<Row>, new: Option<Row>| KeyChange {
            key: Key::new(&[key]),
            old,
            new,
        };
        let delta = ViewDelta {
            as_of: 4,
            changes: vec![
                change(7, Some(staffing(1, 7, None)), Some(staffing(2, 7, None))),
                change(8, None, Some(staffing(1, 8, None))),
                change(9, Some(staffing(2, 9, None)), None),
            ],
        };
        let objects = RowEncoder::new(schema(ViewId::Staffing));
        let text = changes_message(ViewId::Staffing, &delta, &filter, &objects).expect("some");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "changes");
        assert_eq!(value["view"], "staffing");
        assert_eq!(value["as_of"], 4);
        assert_eq!(value["deletes"], json!([{"job_id": 7}]));
        assert_eq!(value["upserts"].as_array().map(Vec::len), Some(1));
        let other = Filter::parse(schema(ViewId::Staffing), [("company_id", "3")]).expect("filter");
        assert!(changes_message(ViewId::Staffing, &delta, &other, &objects).is_none());
    }

    #[test]
    fn compact_changes_are_arrays_without_the_view_or_empty_lists() {
        let filter = Filter::default();
        let delta = ViewDelta {
            as_of: 9,
            changes: vec![
                KeyChange {
                    key: Key::new(&[7]),
                    old: None,
                    new: Some(staffing(1, 7, None)),
                },
                KeyChange {
                    key: Key::new(&[8]),
                    old: Some(staffing(1, 8, None)),
                    new: None,
                },
            ],
        };
        let compact = RowEncoder::with_encoding(schema(ViewId::Staffing), Encoding::Compact, &[]);
        let text = changes_message(ViewId::Staffing, &delta, &filter, &compact).expect("some");
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], "changes");
        assert_eq!(value["as_of"], 9);
        assert!(value.get("view").is_none());
        assert_eq!(value["upserts"][0][3], 7, "job_id, by position");
        assert_eq!(value["deletes"], json!([[8]]));
        let only_deletes = ViewDelta {
            as_of: 10,
            changes: vec![delta.changes[1].clone()],
        };
        let text =
            changes_message(ViewId::Staffing, &only_deletes, &filter, &compact).expect("some");
        assert_eq!(
            text,
            "{\"type\":\"changes\",\"as_of\":10,\"deletes\":[[8]]}"
        );
    }

    #[test]
    fn compact_rows_leave_out_the_fixed_columns() {
        let staffing_schema = schema(ViewId::Staffing);
        let filter = Filter::parse(
            staffing_schema,
            [("company_id", "1"), ("job_level", "null")],
        )
        .expect("filter");
        let compact = RowEncoder::with_encoding(staffing_schema, Encoding::Compact, &[0, 5]);
        let delta = ViewDelta {
            as_of: 3,
            changes: vec![KeyChange {
                key: Key::new(&[7]),
                old: None,
                new: Some(staffing(1, 7, None)),
            }],
        };
        let text = changes_message(ViewId::Staffing, &delta, &filter, &compact).expect("some");
        let value: Value = serde_json::from_str(&text).expect("json");
        let row = value["upserts"][0].as_array().expect("an array");
        assert_eq!(row.len(), staffing_schema.columns.len() - 2);
        assert_eq!(row[0], 1, "function_id first, company_id left out");
        assert_eq!(row[2], 7, "job_id, by position among the shown columns");
        assert_eq!(
            row[4], 0,
            "job_level left out: the first count follows the title"
        );
    }

    #[test]
    fn keys_of_two_columns() {
        let mut out = String::new();
        RowEncoder::new(schema(ViewId::SkillCoverage)).key(&mut out, &Key::new(&[3, 9]));
        assert_eq!(out, "{\"company_id\":3,\"skill_id\":9}");
    }

    #[test]
    fn envelopes() {
        let page: Value = serde_json::from_str(&format!(
            "{}[]{}",
            page_head(ViewId::Occupancy, 5),
            page_tail(Some("5.1.2"))
        ))
        .expect("json");
        assert_eq!(
            page,
            json!({"view": "occupancy", "as_of": 5, "rows": [], "next": "5.1.2"})
        );
        let page: Value = serde_json::from_str(&format!(
            "{}[]{}",
            page_head(ViewId::Occupancy, 5),
            page_tail(None)
        ))
        .expect("json");
        assert_eq!(page["next"], Value::Null);
        assert_eq!(progress_message(12), "{\"type\":\"progress\",\"as_of\":12}");
    }
}
