//! Row-by-row comparison of a view's SQL result with the rows the engine serves.

use std::collections::BTreeMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value as MyValue};
use twinflow_views::ViewId;

/// A SQL result: column names, and rows of values as text (`None` = NULL).
pub struct SqlRows {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// Runs `sql` and keeps every value as text.
pub async fn query(conn: &mut Conn, sql: &str) -> mysql_async::Result<SqlRows> {
    let mut result = conn.query_iter(sql).await?;
    let columns = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let mut rows = Vec::new();
    while let Some(row) = result.next().await? {
        let values = row
            .unwrap()
            .into_iter()
            .map(|value| match value {
                MyValue::NULL => None,
                MyValue::Bytes(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                other => Some(other.as_sql(true).trim_matches('\'').to_string()),
            })
            .collect();
        rows.push(values);
    }
    Ok(SqlRows { columns, rows })
}

/// How one served view differs from its SQL.
#[derive(Debug)]
pub struct ViewDiff {
    /// The view.
    pub view: ViewId,
    /// Rows the SQL returns.
    pub expected: usize,
    /// Rows the engine serves.
    pub served: usize,
    /// Rows the SQL returns that the engine lacks, as `key: row`.
    pub missing: Vec<String>,
    /// Rows the engine serves that the SQL does not return.
    pub extra: Vec<String>,
    /// Rows whose values differ: `key: column sql=... served=...`.
    pub differing: Vec<String>,
}

impl ViewDiff {
    /// Whether the view is equal to its SQL.
    pub fn is_equal(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.differing.is_empty()
    }
}

/// A value as text, the way SQL's text protocol writes it.
fn served_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Equal as text, or as numbers when both are numbers (floats print differently).
fn same(sql: Option<&str>, served: Option<&str>) -> bool {
    match (sql, served) {
        (Some(a), Some(b)) if a != b => match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        },
        (a, b) => a == b,
    }
}

/// Compares `expected` (the SQL) with `served` (the engine's JSON rows) by the view's key.
pub fn compare_view(view: ViewId, expected: &SqlRows, served: &[serde_json::Value]) -> ViewDiff {
    let key_columns = twinflow_dataflows::schema(view).key;
    let key_of_sql = |row: &[Option<String>]| -> Vec<Option<String>> {
        key_columns
            .iter()
            .map(|k| {
                let i = expected.columns.iter().position(|c| c == k);
                i.and_then(|i| row[i].clone())
            })
            .collect()
    };
    let key_of_served = |row: &serde_json::Value| -> Vec<Option<String>> {
        key_columns.iter().map(|k| served_text(&row[*k])).collect()
    };
    let render = |key: &[Option<String>]| -> String {
        let parts: Vec<String> = key_columns
            .iter()
            .zip(key)
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NULL")))
            .collect();
        parts.join(",")
    };
    let mut served_by_key: BTreeMap<Vec<Option<String>>, &serde_json::Value> =
        served.iter().map(|row| (key_of_served(row), row)).collect();
    let mut diff = ViewDiff {
        view,
        expected: expected.rows.len(),
        served: served.len(),
        missing: Vec::new(),
        extra: Vec::new(),
        differing: Vec::new(),
    };
    for row in &expected.rows {
        let key = key_of_sql(row);
        let Some(served_row) = served_by_key.remove(&key) else {
            diff.missing.push(format!("{}: {row:?}", render(&key)));
            continue;
        };
        for (column, value) in expected.columns.iter().zip(row) {
            let theirs = served_text(&served_row[column.as_str()]);
            if !same(value.as_deref(), theirs.as_deref()) {
                diff.differing.push(format!(
                    "{}: {column} sql={} served={}",
                    render(&key),
                    value.as_deref().unwrap_or("NULL"),
                    theirs.as_deref().unwrap_or("NULL"),
                ));
            }
        }
    }
    diff.extra = served_by_key
        .into_iter()
        .map(|(key, row)| format!("{}: {row}", render(&key)))
        .collect();
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_are_matched_by_key_and_compared_on_the_sql_columns() {
        let expected = SqlRows {
            columns: vec![
                "company_id".into(),
                "building_id".into(),
                "building_name".into(),
                "floors".into(),
            ],
            rows: vec![
                vec![
                    Some("1".into()),
                    Some("5".into()),
                    Some("HQ".into()),
                    Some("2".into()),
                ],
                vec![
                    Some("1".into()),
                    Some("6".into()),
                    Some("Annex".into()),
                    Some("0".into()),
                ],
                vec![
                    Some("2".into()),
                    Some("7".into()),
                    Some("Lab".into()),
                    Some("1".into()),
                ],
            ],
        };
        let served = [
            json!({"company_id": 1, "building_id": 5, "building_name": "HQ", "floors": 2, "extra_ratio": 0.5}),
            json!({"company_id": 1, "building_id": 6, "building_name": "Annex", "floors": 1}),
            json!({"company_id": 3, "building_id": 8, "building_name": "Old", "floors": 1}),
        ];
        let diff = compare_view(ViewId::OccupancyByBuilding, &expected, &served);
        assert!(!diff.is_equal());
        assert_eq!(diff.differing, ["building_id=6: floors sql=0 served=1"]);
        assert_eq!(diff.missing.len(), 1);
        assert!(diff.missing[0].starts_with("building_id=7"));
        assert_eq!(diff.extra.len(), 1);
        let equal = compare_view(
            ViewId::OccupancyByBuilding,
            &expected,
            &[
                served[0].clone(),
                json!({"company_id": 1, "building_id": 6, "building_name": "Annex", "floors": 0}),
                json!({"company_id": 2, "building_id": 7, "building_name": "Lab", "floors": 1.0}),
            ],
        );
        assert!(equal.is_equal(), "{equal:?}");
    }
}
