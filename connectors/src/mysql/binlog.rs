//! Following the row binlog: events grouped into transactions, rows decoded through the
//! catalog, GTID position kept for resuming.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arcstr::ArcStr;
use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, OptionalMetadataField, RowsEventData, TableMapEvent};
use mysql_async::prelude::Queryable;
use mysql_async::BinlogStreamRequest;
use twinflow_ingest::decode::mysql::{BinlogImage, BinlogLayout, ColumnMapping};
use twinflow_ingest::{now_ms, RowChange, SourcePosition, TableId};

use super::{raw_key, BinlogPosition, Closed, Context, Gtid, MySqlError, Source, FIRST_BACKOFF};
use crate::status::ConnectorState;

/// MariaDB's `GTID_EVENT`, which mysql_common does not decode.
const MARIADB_GTID_EVENT: u8 = 0xA2;
/// MySQL's `MYSQL_TYPE_ENUM` column type.
const ENUM_TYPE: u8 = 0xF7;

/// The transaction being read.
struct OpenTransaction {
    gtid: Gtid,
    /// A DDL statement, which has no `COMMIT`: it ends with its query event.
    standalone: bool,
    changes: Vec<RowChange>,
}

/// Follows the binlog from `at`, passing every transaction on and advancing `at` past it.
/// Returns when the receiver is gone, or with the error that broke the stream.
pub(super) async fn follow(
    source: &Source,
    at: &mut BinlogPosition,
    backoff: &mut Duration,
) -> Result<Closed, MySqlError> {
    let mut conn = source.connect().await?;
    source.status.set_state(ConnectorState::Streaming);
    let heartbeat = Duration::from_millis(source.config.heartbeat_ms.max(10));
    let settings = [
        // Real GTID events instead of dummies (MariaDB sends those to old replicas).
        "SET @mariadb_slave_capability=4".to_string(),
        format!("SET @master_heartbeat_period={}", heartbeat.as_nanos()),
    ];
    for sql in settings {
        conn.query_drop(&sql)
            .await
            .context(|| format!("preparing the binlog connection: {sql}"))?;
    }
    let mut request = BinlogStreamRequest::new(source.server_id);
    if at.gtid.is_empty() {
        request = request.with_filename(at.file.as_bytes()).with_pos(at.pos);
    } else {
        // MariaDB resumes by GTID through these variables (the MySQL GTID request is refused).
        conn.query_drop(format!("SET @slave_connect_state='{}'", at.gtid))
            .await
            .context(|| "setting the GTID to resume from".into())?;
        conn.query_drop("SET @slave_gtid_strict_mode=1")
            .await
            .context(|| "setting GTID strict mode".into())?;
    }
    let mut stream = conn
        .get_binlog_stream(request)
        .await
        .context(|| format!("requesting the binlog from {}", at.position()))?;
    tracing::info!(source = %source.id, position = %at.position(), "following the binlog");

    let silence = heartbeat * 3 + Duration::from_secs(2);
    // How each table id reads, worked out at its first rows event. Table ids hold within one
    // server process only: a stream resumed across a server restart reads files written by
    // two processes that number their tables differently, so a new file clears the cache, as
    // does DDL.
    let mut mappings: HashMap<u64, Option<Arc<TableReader>>> = HashMap::new();
    let mut open: Option<OpenTransaction> = None;
    let mut last_sent = Instant::now();
    loop {
        let next = tokio::time::timeout(silence, stream.next());
        let next = if open.is_none() {
            // Between two transactions an operator's pause holds the stream (waiting for the
            // next event is cancel-safe); a server that drops the idle stream meanwhile is
            // reconnected to from the same position.
            tokio::select! {
                biased;
                () = source.status.paused() => {
                    source.status.unpaused().await;
                    continue;
                }
                next = next => next,
            }
        } else {
            next.await
        };
        let event = match next {
            Err(_) => {
                return Err(MySqlError::Stream(format!(
                    "no event nor heartbeat for {silence:?}"
                )))
            }
            Ok(None) => return Err(MySqlError::Stream("the server closed the stream".into())),
            Ok(Some(event)) => {
                event.context(|| format!("reading the binlog after {}", at.position()))?
            }
        };
        *backoff = FIRST_BACKOFF;
        let header = event.header();
        if header.event_type_raw() == MARIADB_GTID_EVENT {
            let (gtid, standalone) = Gtid::from_event_body(event.data(), header.server_id())
                .ok_or_else(|| MySqlError::Stream("a GTID event too short to read".into()))?;
            open = Some(OpenTransaction {
                gtid,
                standalone,
                changes: Vec::new(),
            });
            continue;
        }
        let data = event.read_data().map_err(|e| {
            MySqlError::Stream(format!("undecodable event at {}: {e}", at.position()))
        })?;
        let commits = match data {
            Some(EventData::RotateEvent(rotate)) => {
                at.file = binlog_file_name(rotate.name_raw());
                at.pos = rotate.position();
                mappings.clear();
                false
            }
            Some(EventData::RowsEvent(rows)) => {
                if let Some(txn) = open.as_mut() {
                    let mapping = mappings
                        .entry(rows.table_id())
                        .or_insert_with(|| {
                            stream
                                .get_tme(rows.table_id())
                                .and_then(|tme| map_table(source, tme))
                        })
                        .clone();
                    if let Some(reader) = mapping {
                        decode_rows(
                            source,
                            at,
                            header.log_pos(),
                            &reader,
                            &rows,
                            &mut txn.changes,
                        );
                    }
                }
                false
            }
            Some(EventData::XidEvent(_)) => true,
            Some(EventData::QueryEvent(query)) => {
                let sql = query.query();
                if sql.eq_ignore_ascii_case("COMMIT") {
                    true
                } else if sql.eq_ignore_ascii_case("BEGIN") {
                    false
                } else {
                    // DDL: tables may have changed shape; map them again from their next
                    // table-map events.
                    mappings.clear();
                    open.as_ref().is_some_and(|t| t.standalone)
                }
            }
            Some(EventData::HeartbeatEvent) => {
                if open.is_none() && last_sent.elapsed() >= heartbeat {
                    if let Err(closed) = source.send_heartbeat(at.position()).await {
                        return Ok(closed);
                    }
                    last_sent = Instant::now();
                }
                false
            }
            _ => false,
        };
        if commits {
            if let Some(txn) = open.take() {
                at.gtid.advance(txn.gtid);
                at.pos = u64::from(header.log_pos());
                let commit_ms = commit_time_ms(header.timestamp());
                let txn = source.transaction(at.position(), commit_ms, txn.changes, false);
                if let Err(closed) = source.send(txn).await {
                    return Ok(closed);
                }
                last_sent = Instant::now();
            }
        }
    }
}

/// The binlog stores commit times in whole seconds: take the time the commit was read, within
/// its second, so that a live stream's lag is measured in milliseconds.
fn commit_time_ms(timestamp_s: u32) -> u64 {
    let second = u64::from(timestamp_s) * 1000;
    now_ms().clamp(second, second + 999)
}

/// The file name of a ROTATE event. The first one of a stream comes before the format
/// description, so a CRC32 checksum may still trail the name: binlog files end in `.NNNNNN`.
fn binlog_file_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    if let Some(dot) = name.rfind('.') {
        let digits = name[dot + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits >= 6 {
            return name[..dot + 1 + digits].to_string();
        }
    }
    name.into_owned()
}

/// How to read one binlog table's rows into catalog rows.
struct TableReader {
    layout: BinlogLayout,
    mapping: ColumnMapping,
}

/// How a table of the binlog maps onto the catalog: `None` for tables the source does not
/// read, and for tables whose columns no longer match (reported in the status).
fn map_table(source: &Source, tme: &TableMapEvent<'_>) -> Option<Arc<TableReader>> {
    let table = TableId::lookup(&tme.database_name(), &tme.table_name())?;
    if !source.config.reads(table) {
        return None;
    }
    let mut names = Vec::new();
    let mut enums = Vec::new();
    for field in tme.iter_optional_meta() {
        match field {
            Ok(OptionalMetadataField::ColumnName(columns)) => {
                names = columns
                    .iter_names()
                    .filter_map(Result::ok)
                    .map(|c| c.name().into_owned())
                    .collect();
            }
            Ok(OptionalMetadataField::EnumStrValue(values)) => {
                enums = values
                    .iter_values()
                    .filter_map(Result::ok)
                    .map(|labels| {
                        labels
                            .values()
                            .iter()
                            .map(|l| ArcStr::from(l.value().as_ref()))
                            .collect::<Arc<[ArcStr]>>()
                    })
                    .collect();
            }
            _ => {}
        }
    }
    let result = if names.is_empty() {
        Err(
            "the binlog carries no column names: the server needs --binlog-row-metadata=FULL"
                .to_string(),
        )
    } else {
        ColumnMapping::by_name(table, &names)
            .map_err(|e| e.to_string())
            .and_then(|mapping| Ok((mapping, BinlogLayout::new(tme).map_err(|e| e.to_string())?)))
    };
    match result {
        Ok((mut mapping, layout)) => {
            let enum_columns = (0..names.len())
                .filter(|&i| matches!(tme.get_column_type(i), Ok(Some(t)) if t as u8 == ENUM_TYPE));
            for (column, labels) in enum_columns.zip(enums) {
                mapping.set_enum_labels(column, labels);
            }
            source.status.table_error(&table.to_string(), None);
            Some(Arc::new(TableReader { layout, mapping }))
        }
        Err(reason) => {
            tracing::error!(source = %source.id, table = %table, "{reason}; its changes are skipped");
            source.status.table_error(&table.to_string(), Some(reason));
            None
        }
    }
}

/// Decodes a rows event into `changes`; rows that do not decode become dead letters.
fn decode_rows(
    source: &Source,
    at: &BinlogPosition,
    log_pos: u32,
    reader: &TableReader,
    rows: &RowsEventData<'_>,
    changes: &mut Vec<RowChange>,
) {
    let table = reader.mapping.table();
    let position = || SourcePosition::Binlog {
        gtid: (!at.gtid.is_empty()).then(|| at.gtid.to_string()),
        file: at.file.clone(),
        pos: u64::from(log_pos),
    };
    let images = match reader.layout.rows(rows) {
        Ok(images) => images,
        Err(err) => {
            let reason = format!("undecodable rows event: {err}");
            source.dead_letter(position(), Some(table), None, reason);
            return;
        }
    };
    let decode = |image: &Option<BinlogImage>| {
        image
            .as_ref()
            .map(|values| {
                reader
                    .mapping
                    .decode_row(|i| values.get(i).and_then(Option::as_ref))
            })
            .transpose()
    };
    for (before, after) in images {
        match (decode(&before), decode(&after)) {
            (Ok(before), Ok(after)) if before.is_some() || after.is_some() => {
                changes.push(RowChange {
                    table,
                    before,
                    after,
                });
            }
            (Err(err), _) | (_, Err(err)) => {
                let key = [&after, &before]
                    .into_iter()
                    .flatten()
                    .find_map(|values| raw_key(values.first().and_then(Option::as_ref)));
                source.dead_letter(position(), Some(table), key, err.to_string());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_names_lose_a_trailing_checksum() {
        assert_eq!(binlog_file_name(b"binlog.000003"), "binlog.000003");
        assert_eq!(
            binlog_file_name(b"binlog.000003\x01\x02\xff\x7f"),
            "binlog.000003"
        );
        assert_eq!(binlog_file_name(b"mysql-bin.123456"), "mysql-bin.123456");
    }

    #[test]
    fn commit_times_stay_within_their_second() {
        let t = commit_time_ms(1_000);
        assert!((1_000_000..=1_000_999).contains(&t));
        let now_s = u32::try_from(now_ms() / 1000).expect("fits");
        let live = commit_time_ms(now_s);
        assert!(live / 1000 == u64::from(now_s));
    }
}
