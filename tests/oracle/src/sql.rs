//! Writing source transactions into a real MySQL/MariaDB server, so that its binlog carries
//! them: inserts and updates as upserts of the after image, deletes by primary key.

use std::fmt::Write as _;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, TxOpts, Value as MyValue};
use time::macros::format_description;
use time::OffsetDateTime;
use twinflow_ingest::{RowChange, TableId, Value};

/// The value as a MySQL parameter.
pub fn to_mysql(value: &Value) -> MyValue {
    match value {
        Value::Null => MyValue::NULL,
        Value::Int(i) => MyValue::Int(*i),
        Value::Double(d) => MyValue::Double(*d),
        Value::Decimal { .. } | Value::Text(_) => MyValue::Bytes(value.to_string().into_bytes()),
        Value::DateTimeMillis(ms) => {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(*ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let text = at
                .format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
                ))
                .unwrap_or_default();
            MyValue::Bytes(text.into_bytes())
        }
        Value::Date(days) => {
            let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(i64::from(*days));
            let text = at
                .format(format_description!("[year]-[month]-[day]"))
                .unwrap_or_default();
            MyValue::Bytes(text.into_bytes())
        }
    }
}

fn qualified(table: TableId) -> String {
    let schema = table.schema();
    format!("`{}`.`{}`", schema.database, schema.name)
}

fn upsert_sql(table: TableId, rows: usize) -> String {
    let columns = table.schema().columns;
    let names: Vec<String> = columns.iter().map(|c| format!("`{}`", c.name)).collect();
    let marks = format!("({})", vec!["?"; columns.len()].join(","));
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        qualified(table),
        names.join(",")
    );
    sql.push_str(&vec![marks; rows].join(","));
    sql.push_str(" ON DUPLICATE KEY UPDATE ");
    for (i, name) in names.iter().enumerate().skip(1) {
        if i > 1 {
            sql.push(',');
        }
        let _ = write!(sql, "{name}=VALUES({name})");
    }
    sql
}

/// Applies one change (no transaction of its own).
async fn apply_change(conn: &mut impl Queryable, change: &RowChange) -> mysql_async::Result<()> {
    let key = |row: &twinflow_ingest::Row| row.first().map(to_mysql).unwrap_or(MyValue::NULL);
    if let Some(before) = &change.before {
        let moved = change
            .after
            .as_ref()
            .is_some_and(|a| a.first() != before.first());
        if change.after.is_none() || moved {
            let sql = format!("DELETE FROM {} WHERE id = ?", qualified(change.table));
            conn.exec_drop(sql, (key(before),)).await?;
        }
    }
    if let Some(after) = &change.after {
        let params: Vec<MyValue> = after.iter().map(to_mysql).collect();
        conn.exec_drop(upsert_sql(change.table, 1), params).await?;
    }
    Ok(())
}

/// Applies `changes` as one server transaction. A change the server refuses (a unique key,
/// say) rolls the whole transaction back and is returned as the error.
pub async fn apply_transaction(conn: &mut Conn, changes: &[RowChange]) -> mysql_async::Result<()> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    for change in changes {
        apply_change(&mut tx, change).await?;
    }
    tx.commit().await
}

/// Inserts many rows fast (multi-row upserts of up to 500 rows, one transaction per batch):
/// for loading a generated org.
pub async fn load_rows(conn: &mut Conn, changes: &[RowChange]) -> mysql_async::Result<()> {
    for table in TableId::ALL {
        let rows: Vec<&twinflow_ingest::Row> = changes
            .iter()
            .filter(|c| c.table == *table)
            .filter_map(|c| c.after.as_ref())
            .collect();
        for batch in rows.chunks(500) {
            let params: Vec<MyValue> = batch.iter().flat_map(|r| r.iter().map(to_mysql)).collect();
            conn.exec_drop(upsert_sql(*table, batch.len()), params)
                .await?;
        }
    }
    Ok(())
}
