//! The initial snapshot: every catalog table on the server, read in one consistent-snapshot
//! transaction, together with the binlog position that matches it exactly.

use mysql_async::prelude::Queryable;
use twinflow_ingest::decode::mysql::ColumnMapping;
use twinflow_ingest::{now_ms, RowChange, TableId};

use super::{raw_key, BinlogPosition, Closed, Context, MySqlError, Source};
use crate::status::ConnectorState;

/// Rows per part of the snapshot transaction.
const PART: usize = 4096;

/// Reads the snapshot into the source's channel as one transaction (in parts) and returns the
/// binlog position to follow from.
pub(super) async fn take(source: &Source) -> Result<Result<BinlogPosition, Closed>, MySqlError> {
    let mut conn = source.connect().await?;
    source.status.set_state(ConnectorState::Snapshotting);
    let resume = start_consistent_snapshot(&mut conn).await?;
    let tables = present_tables(source, &mut conn).await?;
    tracing::info!(source = %source.id, tables = tables.len(), position = %resume.position(), "snapshot");

    let mut part = Vec::with_capacity(PART);
    for table in tables {
        let schema = table.schema();
        let columns: Vec<String> = schema
            .columns
            .iter()
            .map(|c| format!("`{}`", c.name))
            .collect();
        let sql = format!(
            "SELECT {} FROM `{}`.`{}`",
            columns.join(", "),
            schema.database,
            schema.name
        );
        let mut rows = match conn.query_iter(sql).await {
            Ok(rows) => rows,
            Err(mysql_async::Error::Server(err)) => {
                // A column the catalog needs is missing, say: the other tables still flow.
                let reason = format!("cannot snapshot: {err}");
                tracing::error!(source = %source.id, table = %table, "{reason}");
                source.status.table_error(&table.to_string(), Some(reason));
                continue;
            }
            Err(err) => return Err(err).context(|| format!("reading {table}")),
        };
        source.status.table_error(&table.to_string(), None);
        let mapping = ColumnMapping::identity(table);
        while let Some(row) = rows.next().await.context(|| format!("reading {table}"))? {
            match mapping.decode_row(|i| row.as_ref(i)) {
                Ok(image) => part.push(RowChange::insert(table, image)),
                Err(err) => source.dead_letter(
                    resume.position(),
                    Some(table),
                    raw_key(row.as_ref(0)),
                    err.to_string(),
                ),
            }
            if part.len() >= PART {
                let full = std::mem::replace(&mut part, Vec::with_capacity(PART));
                let txn = source.transaction(resume.position(), now_ms(), full, true);
                if let Err(closed) = source.send(txn).await {
                    return Ok(Err(closed));
                }
            }
        }
    }
    let last = source.transaction(resume.position(), now_ms(), part, false);
    if let Err(closed) = source.send(last).await {
        return Ok(Err(closed));
    }
    conn.query_drop("COMMIT")
        .await
        .context(|| "ending the snapshot transaction".into())?;
    Ok(Ok(resume))
}

/// Opens a consistent-snapshot transaction on `conn` and returns the binlog position that
/// matches it exactly (MariaDB's `binlog_snapshot_*` status). Reads on `conn` see the
/// databases as of that position until the transaction ends.
pub async fn start_consistent_snapshot(
    conn: &mut mysql_async::Conn,
) -> Result<BinlogPosition, MySqlError> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .context(|| "setting the isolation level".into())?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await
        .context(|| "starting the snapshot transaction".into())?;
    let status: Vec<(String, String)> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .context(|| "reading the snapshot's binlog position".into())?;
    let get = |name: &str| {
        status
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let file = get("binlog_snapshot_file").unwrap_or_default();
    let pos = get("binlog_snapshot_position").and_then(|p| p.parse().ok());
    let (false, Some(pos)) = (file.is_empty(), pos) else {
        return Err(MySqlError::Unsuitable(
            "the server has no binary log position for the snapshot: it must be MariaDB with \
             --log-bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL"
                .into(),
        ));
    };
    let gtid: Option<String> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.clone(), pos))
        .await
        .context(|| "turning the snapshot position into a GTID".into())?;
    let gtid = gtid
        .unwrap_or_default()
        .parse()
        .map_err(|e: super::BadGtid| MySqlError::Unsuitable(e.to_string()))?;
    Ok(BinlogPosition { gtid, file, pos })
}

/// The catalog's tables that exist on the server, among those the source reads.
async fn present_tables(
    source: &Source,
    conn: &mut mysql_async::Conn,
) -> Result<Vec<TableId>, MySqlError> {
    let names: Vec<(String, String)> = conn
        .query("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'twin\\_%'")
        .await
        .context(|| "listing the server's tables".into())?;
    let mut tables: Vec<TableId> = names
        .iter()
        .filter_map(|(db, table)| TableId::lookup(db, table))
        .filter(|&t| source.config.reads(t))
        .collect();
    tables.sort();
    Ok(tables)
}
