//! Debezium's MySQL-connector change events, as Kafka Connect's JSON converter writes them:
//! with schemas (`{"schema": ..., "payload": ...}`) or without (the payload alone).
//!
//! Values follow Debezium's default type mappings, guided by the field schemas when the
//! message has them and by the catalog's column types otherwise: `DATETIME(3)` as epoch
//! milliseconds (`io.debezium.time.Timestamp`; micro- and nanosecond variants and ISO strings
//! are read too), `DATE` as days since the epoch, `DECIMAL` as base64 big-endian unscaled
//! bytes (`decimal.handling.mode=precise`, the scale taken from the schema), or as a string or
//! a double when so configured, `ENUM` as its label, `TINYINT(1)` as a boolean or a number.

use base64::Engine as _;
use serde_json_borrow::{ObjectAsVec as Map, Value as Json};

use super::{parse_date, parse_datetime_millis, parse_decimal, DecodeError};
use crate::catalog::{ColumnSchema, SqlType, TableId};
use crate::change::RowChange;
use crate::value::{Row, Value};

/// How `DECIMAL` columns arrive when a message carries no schema (Debezium's
/// `decimal.handling.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalMode {
    /// Base64 of the unscaled value's big-endian two's-complement bytes (the default).
    #[default]
    Precise,
    /// The digits as a string.
    String,
    /// A JSON number.
    Double,
}

impl std::str::FromStr for DecimalMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "precise" => Ok(DecimalMode::Precise),
            "string" => Ok(DecimalMode::String),
            "double" => Ok(DecimalMode::Double),
            other => Err(format!("{other:?} is not precise, string or double")),
        }
    }
}

/// Debezium's operation codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `c`: an insert.
    Create,
    /// `u`: an update.
    Update,
    /// `d`: a delete.
    Delete,
    /// `r`: a row read by the initial snapshot.
    Read,
}

/// Where an event was read in the source database's binlog (the event's `source` block).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventPosition {
    /// The binlog file (`source.file`).
    pub file: String,
    /// The position in it (`source.pos`).
    pub pos: u64,
    /// The row within the event (`source.row`).
    pub row: u64,
}

impl EventPosition {
    /// The position as one number that orders like the binlog: the file's sequence number
    /// (the digits after its last `.`), the offset in the file, the row. Two events share it
    /// only if they share file number, offset and row.
    pub fn ordinal(&self) -> u128 {
        let file_number = self
            .file
            .rsplit_once('.')
            .and_then(|(_, digits)| digits.parse::<u32>().ok())
            .unwrap_or_else(|| fallback_file_number(&self.file));
        let row = u32::try_from(self.row).unwrap_or(u32::MAX);
        (u128::from(file_number) << 96) | (u128::from(self.pos) << 32) | u128::from(row)
    }
}

/// A stable number for a binlog file name without a numeric suffix (not a MySQL name).
fn fallback_file_number(file: &str) -> u32 {
    file.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// One decoded change event.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    /// The row change.
    pub change: RowChange,
    /// The operation.
    pub op: Op,
    /// Whether the event belongs to the connector's initial snapshot.
    pub snapshot: bool,
    /// Whether it is the last event of that snapshot (`source.snapshot = "last"`).
    pub last_of_snapshot: bool,
    /// The event's binlog position.
    pub position: EventPosition,
    /// The source transaction: `transaction.id`, else `source.gtid`, else `file:pos`.
    pub transaction: String,
    /// Whether `transaction` is Debezium's `transaction.id` (the connector provides
    /// transaction metadata, and an END marker on the metadata topic closes it).
    pub has_transaction_id: bool,
    /// The GTID, if the source has them.
    pub gtid: Option<String>,
    /// When the change was made in the database (`source.ts_ms`), ms since the epoch.
    pub ts_ms: u64,
}

/// Why a Debezium message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebeziumError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not a change event.
    #[error("not a Debezium change event: {0}")]
    Shape(String),
    /// A value that does not fit its column.
    #[error(transparent)]
    Value(#[from] DecodeError),
}

/// The member `key` of `json`, if it is an object that has one.
fn member<'a, 'ctx>(json: &'a Json<'ctx>, key: &str) -> Option<&'a Json<'ctx>> {
    json.as_object()?.get(key)
}

fn shape(message: impl Into<String>) -> DebeziumError {
    DebeziumError::Shape(message.into())
}

/// Decodes one message's value (`None` or JSON `null` for a tombstone, which is skipped).
/// `topic` names the table when the event's `source` block does not. Returns `Ok(None)` for
/// tombstones and for tables outside the catalog.
pub fn decode_event(
    topic: Option<&str>,
    value: Option<&[u8]>,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let json: Json = serde_json::from_slice(value)?;
    decode_value(topic, &json, decimals)
}

/// The END marker of a transaction on Debezium's transaction metadata topic
/// (`<prefix>.transaction`, with `provide.transaction.metadata=true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionEnd {
    /// The transaction's id, as its events carry it in `transaction.id`.
    pub id: String,
    /// How many of its events belong to tables of the catalog.
    pub catalog_events: u64,
}

/// Decodes a message of the transaction metadata topic: `Some` for an END marker, `None` for
/// a BEGIN marker or a tombstone.
pub fn decode_transaction_end(
    value: Option<&[u8]>,
) -> Result<Option<TransactionEnd>, DebeziumError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let json: Json = serde_json::from_slice(value)?;
    let payload = match member(&json, "payload") {
        Some(payload) if member(&json, "schema").is_some() => payload,
        _ => &json,
    };
    if payload.is_null() {
        return Ok(None);
    }
    match member(payload, "status").and_then(Json::as_str) {
        Some("BEGIN") => return Ok(None),
        Some("END") => {}
        other => return Err(shape(format!("transaction marker with status {other:?}"))),
    }
    let id = member(payload, "id")
        .and_then(Json::as_str)
        .ok_or_else(|| shape("transaction marker without an id"))?;
    let collections = member(payload, "data_collections")
        .and_then(Json::as_array)
        .ok_or_else(|| shape("END marker without data_collections"))?;
    let catalog_events = collections
        .iter()
        .filter(|c| {
            member(c, "data_collection")
                .and_then(Json::as_str)
                .and_then(|name| name.split_once('.'))
                .is_some_and(|(db, table)| TableId::lookup(db, table).is_some())
        })
        .filter_map(|c| member(c, "event_count").and_then(Json::as_u64))
        .sum();
    Ok(Some(TransactionEnd {
        id: id.to_string(),
        catalog_events,
    }))
}

/// Decodes one line of newline-delimited Debezium JSON: either a captured Kafka message
/// `{"topic": ..., "key": ..., "value": ...}` (the value an object, a JSON string, or `null`
/// for a tombstone), or a bare event value whose `source` block names the table.
pub fn decode_line(
    line: &str,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
    let json: Json = serde_json::from_str(line)?;
    match member(&json, "value") {
        Some(value) if member(&json, "payload").is_none() => {
            let topic = member(&json, "topic").and_then(Json::as_str);
            match value {
                Json::Str(text) => decode_event(topic, Some(text.as_bytes()), decimals),
                other => decode_value(topic, other, decimals),
            }
        }
        _ => decode_value(None, &json, decimals),
    }
}

/// [`decode_event`] for an already parsed value.
pub fn decode_value(
    topic: Option<&str>,
    json: &Json,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
    if json.is_null() {
        return Ok(None);
    }
    let (payload, schema) = match (member(json, "payload"), member(json, "schema")) {
        (Some(payload), Some(schema)) if payload.is_object() => (payload, Some(schema)),
        _ => (json, None),
    };
    let payload = payload
        .as_object()
        .ok_or_else(|| shape("the value is not an object"))?;
    let source = payload
        .get("source")
        .and_then(Json::as_object)
        .ok_or_else(|| shape("no source block"))?;
    let str_of = |m: &Map, k: &str| m.get(k).and_then(Json::as_str).map(str::to_owned);
    let topic_parts: Vec<&str> = topic
        .map(|t| t.rsplitn(3, '.').collect())
        .unwrap_or_default();
    let database = str_of(source, "db").or_else(|| topic_parts.get(1).map(|s| s.to_string()));
    let table_name = str_of(source, "table").or_else(|| topic_parts.first().map(|s| s.to_string()));
    let (Some(database), Some(table_name)) = (database, table_name) else {
        return Err(shape(
            "neither the source block nor the topic names the table",
        ));
    };
    let Some(table) = TableId::lookup(&database, &table_name) else {
        return Ok(None);
    };
    let op = match payload.get("op").and_then(Json::as_str) {
        Some("c") => Op::Create,
        Some("u") => Op::Update,
        Some("d") => Op::Delete,
        Some("r") => Op::Read,
        other => return Err(shape(format!("unsupported op {other:?}"))),
    };
    let row_schema = |image: &str| {
        schema
            .and_then(|s| member(s, "fields"))
            .and_then(Json::as_array)
            .and_then(|fields| fields.iter().find(|f| name_of(f) == Some(image)))
            .and_then(|f| member(f, "fields"))
            .and_then(Json::as_array)
    };
    let image = |name: &str| -> Result<Option<Row>, DebeziumError> {
        match payload.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Object(columns)) => {
                decode_row(table, columns, row_schema(name), decimals).map(Some)
            }
            Some(_) => Err(shape(format!("{name} is not an object"))),
        }
    };
    let (before, after) = (image("before")?, image("after")?);
    let expected = match op {
        Op::Create | Op::Read => before.is_none() && after.is_some(),
        Op::Update => before.is_some() && after.is_some(),
        Op::Delete => before.is_some() && after.is_none(),
    };
    if !expected {
        return Err(shape(format!("op {op:?} with the wrong row images")));
    }
    let snapshot_flag = match source.get("snapshot") {
        Some(Json::Str(s)) => s.as_ref(),
        Some(Json::Bool(true)) => "true",
        _ => "false",
    };
    let snapshot = op == Op::Read || !matches!(snapshot_flag, "false" | "");
    let position = EventPosition {
        file: str_of(source, "file").unwrap_or_default(),
        pos: source.get("pos").and_then(Json::as_u64).unwrap_or(0),
        row: source.get("row").and_then(Json::as_u64).unwrap_or(0),
    };
    let gtid = str_of(source, "gtid");
    let transaction_id = payload
        .get("transaction")
        .and_then(|t| member(t, "id"))
        .and_then(Json::as_str)
        .map(str::to_owned);
    let has_transaction_id = transaction_id.is_some();
    let transaction = transaction_id
        .or_else(|| gtid.clone())
        .unwrap_or_else(|| format!("{}:{}", position.file, position.pos));
    Ok(Some(ChangeEvent {
        change: RowChange {
            table,
            before,
            after,
        },
        op,
        snapshot,
        last_of_snapshot: snapshot_flag == "last",
        position,
        transaction,
        has_transaction_id,
        gtid,
        ts_ms: source
            .get("ts_ms")
            .and_then(Json::as_u64)
            .or_else(|| payload.get("ts_ms").and_then(Json::as_u64))
            .unwrap_or(0),
    }))
}

/// Decodes a row image: every catalog column by name.
fn decode_row(
    table: TableId,
    columns: &Map,
    schema: Option<&[Json]>,
    decimals: DecimalMode,
) -> Result<Row, DebeziumError> {
    let table_schema = table.schema();
    table_schema
        .columns
        .iter()
        .map(|column| {
            let value = columns
                .get(column.name)
                .ok_or_else(|| DecodeError::MissingColumn {
                    table: table_schema.qualified_name(),
                    column: column.name,
                })?;
            let field =
                schema.and_then(|fields| fields.iter().find(|f| name_of(f) == Some(column.name)));
            decode_column(table, column, value, field, decimals).map_err(DebeziumError::from)
        })
        .collect()
}

/// The `field` member of a field schema: the name of the column it describes.
fn name_of<'a>(field: &'a Json<'_>) -> Option<&'a str> {
    member(field, "field").and_then(Json::as_str)
}

/// One value, by the column's type and, when present, its field schema.
fn decode_column(
    table: TableId,
    column: &ColumnSchema,
    value: &Json,
    field: Option<&Json>,
    decimals: DecimalMode,
) -> Result<Value, DecodeError> {
    let logical = field
        .and_then(|f| member(f, "name"))
        .and_then(Json::as_str)
        .unwrap_or("");
    let decoded = match (column.ty, value) {
        (_, Json::Null) => Some(Value::Null),
        (SqlType::Int | SqlType::TinyBool, Json::Bool(b)) => Some(Value::Int(i64::from(*b))),
        (SqlType::Int | SqlType::TinyBool, Json::Number(n)) => n.as_i64().map(Value::Int),
        (SqlType::Varchar(_) | SqlType::Text | SqlType::Enum(_), Json::Str(s)) => {
            Some(Value::text(s))
        }
        (SqlType::Double, Json::Number(n)) => n.as_f64().map(Value::Double),
        (SqlType::Decimal(_, scale), _) => decimal(value, field, logical, decimals, scale)
            .map(|mantissa| Value::Decimal { mantissa, scale }),
        (SqlType::DateTime, Json::Number(n)) => {
            let raw = n.as_i64();
            match logical {
                "io.debezium.time.MicroTimestamp" => raw.map(|us| us.div_euclid(1000)),
                "io.debezium.time.NanoTimestamp" => raw.map(|ns| ns.div_euclid(1_000_000)),
                _ => raw,
            }
            .map(Value::DateTimeMillis)
        }
        (SqlType::DateTime, Json::Str(s)) => {
            parse_datetime_millis(s.trim_end_matches('Z')).map(Value::DateTimeMillis)
        }
        (SqlType::Date, Json::Number(n)) => n
            .as_i64()
            .and_then(|d| i32::try_from(d).ok())
            .map(Value::Date),
        (SqlType::Date, Json::Str(s)) => parse_date(s).map(Value::Date),
        _ => None,
    };
    decoded.ok_or_else(|| DecodeError::BadValue {
        table: table.schema().qualified_name(),
        column: column.name,
        expected: column.ty.to_string(),
        value: value.to_string(),
    })
}

/// A DECIMAL as a mantissa at the catalog's `scale`.
fn decimal(
    value: &Json,
    field: Option<&Json>,
    logical: &str,
    mode: DecimalMode,
    scale: u8,
) -> Option<i64> {
    match value {
        Json::Number(n) => {
            let exact = n.to_string();
            parse_decimal(&exact, scale).or_else(|| {
                let scaled = n.as_f64()? * 10f64.powi(i32::from(scale));
                scaled.is_finite().then(|| scaled.round() as i64)
            })
        }
        Json::Str(s) => {
            let precise = match field {
                Some(_) => logical == "org.apache.kafka.connect.data.Decimal",
                None => mode == DecimalMode::Precise,
            };
            if !precise {
                return parse_decimal(s, scale);
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .ok()?;
            if bytes.is_empty() || bytes.len() > 16 {
                return None;
            }
            // Sign-extend the big-endian two's-complement bytes to 128 bits.
            let fill = if bytes[0] & 0x80 != 0 { 0xFF } else { 0 };
            let mut wide = [fill; 16];
            wide[16 - bytes.len()..].copy_from_slice(&bytes);
            let unscaled = i128::from_be_bytes(wide);
            let from_scale: i32 = field
                .and_then(|f| member(f, "parameters"))
                .and_then(|p| member(p, "scale"))
                .and_then(Json::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(i32::from(scale));
            rescale(unscaled, from_scale, i32::from(scale))
        }
        _ => None,
    }
}

/// `unscaled / 10^from` as a mantissa at scale `to`, if exact and in range.
fn rescale(unscaled: i128, from: i32, to: i32) -> Option<i64> {
    let factor = 10i128.checked_pow(u32::try_from((to - from).abs()).ok()?)?;
    let value = if to >= from {
        unscaled.checked_mul(factor)?
    } else if unscaled % factor == 0 {
        unscaled / factor
    } else {
        return None;
    };
    i64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value as Json};

    /// [`decode_value`] of a value built with `json!`.
    fn decode_value(
        topic: Option<&str>,
        json: &Json,
        decimals: DecimalMode,
    ) -> Result<Option<ChangeEvent>, DebeziumError> {
        decode_event(topic, Some(json.to_string().as_bytes()), decimals)
    }

    /// [`decode_column`] of values built with `json!`.
    fn decode_column(
        table: TableId,
        column: &ColumnSchema,
        value: &Json,
        field: Option<&Json>,
        decimals: DecimalMode,
    ) -> Result<Value, DecodeError> {
        let (value, field) = (value.to_string(), field.map(Json::to_string));
        fn borrowed(text: &str) -> serde_json_borrow::Value<'_> {
            serde_json::from_str(text).expect("valid JSON")
        }
        let value = borrowed(&value);
        let field = field.as_deref().map(borrowed);
        super::decode_column(table, column, &value, field.as_ref(), decimals)
    }

    fn floor_event(op: &str, before: Json, after: Json) -> Json {
        json!({
            "before": before, "after": after, "op": op, "ts_ms": 5,
            "source": {"db": "twin_infra", "table": "floor", "file": "binlog.000002", "pos": 77,
                       "row": 1, "gtid": "0-1-9", "snapshot": "false", "ts_ms": 4},
            "transaction": null
        })
    }

    fn floor(id: i64) -> Json {
        json!({"id": id, "building_id": 2, "level": -1, "name": "B1"})
    }

    #[test]
    fn events_without_schemas_decode_with_their_position_and_transaction() {
        let event = decode_value(
            None,
            &floor_event("u", floor(3), floor(3)),
            DecimalMode::Precise,
        )
        .expect("decodes")
        .expect("a catalog table");
        assert_eq!(event.op, Op::Update);
        assert_eq!(event.change.table, TableId::Floor);
        let after = event.change.after.expect("after");
        assert_eq!(after[2], Value::Int(-1));
        assert_eq!(after[3], Value::text("B1"));
        assert_eq!(event.transaction, "0-1-9");
        assert_eq!(event.position.pos, 77);
        assert_eq!(event.ts_ms, 4);
        assert!(!event.snapshot);
    }

    #[test]
    fn tombstones_and_foreign_tables_are_skipped_and_bad_events_explained() {
        assert!(decode_event(None, None, DecimalMode::Precise)
            .expect("ok")
            .is_none());
        assert!(decode_event(None, Some(b"null"), DecimalMode::Precise)
            .expect("ok")
            .is_none());
        let mut other = floor_event("c", Json::Null, floor(1));
        other["source"]["table"] = json!("not_in_the_catalog");
        assert!(decode_value(None, &other, DecimalMode::Precise)
            .expect("ok")
            .is_none());
        let err = decode_event(None, Some(b"{\"op\":"), DecimalMode::Precise).expect_err("bad");
        assert!(err.to_string().starts_with("not JSON"), "{err}");
        let wrong = floor_event("d", Json::Null, floor(1));
        assert!(decode_value(None, &wrong, DecimalMode::Precise).is_err());
        let mut missing = floor(1);
        missing.as_object_mut().map(|o| o.remove("level"));
        let err = decode_value(
            None,
            &floor_event("c", Json::Null, missing),
            DecimalMode::Precise,
        )
        .expect_err("missing column");
        assert!(err.to_string().contains("level"), "{err}");
    }

    #[test]
    fn end_markers_count_the_catalog_tables_events() {
        let end = json!({"status": "END", "id": "0-1-9", "event_count": 5, "data_collections": [
            {"data_collection": "twin_hr.people", "event_count": 3},
            {"data_collection": "other_db.audit", "event_count": 2}]});
        let decoded = decode_transaction_end(Some(end.to_string().as_bytes())).expect("decodes");
        assert_eq!(
            decoded,
            Some(TransactionEnd {
                id: "0-1-9".into(),
                catalog_events: 3
            })
        );
        let begin = json!({"schema": {}, "payload": {"status": "BEGIN", "id": "0-1-9"}});
        assert_eq!(
            decode_transaction_end(Some(begin.to_string().as_bytes())).expect("ok"),
            None
        );
        assert!(decode_transaction_end(Some(b"{\"status\":\"END\"}")).is_err());
    }

    #[test]
    fn lines_are_captured_messages_or_bare_values() {
        let bare = floor_event("c", Json::Null, floor(1)).to_string();
        let wrapped = json!({"topic": "t.twin_infra.floor", "key": {"id": 1}, "value": floor_event("c", Json::Null, floor(1))});
        let as_string = json!({"topic": "t.twin_infra.floor", "key": "{}", "value": bare.clone()});
        let tombstone = json!({"topic": "t.twin_infra.floor", "key": {"id": 1}, "value": null});
        for line in [bare, wrapped.to_string(), as_string.to_string()] {
            let event = decode_line(&line, DecimalMode::Precise)
                .expect("decodes")
                .expect("an event");
            assert_eq!(event.change.table, TableId::Floor);
        }
        assert!(decode_line(&tombstone.to_string(), DecimalMode::Precise)
            .expect("ok")
            .is_none());
    }

    #[test]
    fn the_topic_names_the_table_when_the_source_does_not() {
        let mut event = floor_event("c", Json::Null, floor(1));
        event["source"].as_object_mut().map(|s| {
            s.remove("db");
            s.remove("table")
        });
        let decoded = decode_value(Some("twin.twin_infra.floor"), &event, DecimalMode::Precise)
            .expect("decodes")
            .expect("known");
        assert_eq!(decoded.change.table, TableId::Floor);
    }

    #[test]
    fn decimals_in_every_mode() {
        let column = ColumnSchema {
            name: "d",
            ty: SqlType::Decimal(5, 2),
            nullable: false,
        };
        let t = TableId::JobTask;
        let read = |v: Json, field: Option<Json>, mode| {
            decode_column(t, &column, &v, field.as_ref(), mode)
        };
        let d = |mantissa| Ok(Value::Decimal { mantissa, scale: 2 });
        assert_eq!(read(json!("MDk="), None, DecimalMode::Precise), d(12345));
        assert_eq!(read(json!("/w=="), None, DecimalMode::Precise), d(-1));
        assert_eq!(read(json!("123.45"), None, DecimalMode::String), d(12345));
        assert_eq!(read(json!(123.45), None, DecimalMode::Double), d(12345));
        let schema = json!({"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal",
                            "parameters": {"scale": "1"}, "field": "d"});
        // 0x0D = 13 at scale 1 = 1.3 = mantissa 130 at the catalog's scale 2.
        assert_eq!(
            read(json!("DQ=="), Some(schema), DecimalMode::String),
            d(130)
        );
        assert!(read(json!("1.234"), None, DecimalMode::String).is_err());
    }

    #[test]
    fn dates_times_and_booleans() {
        let t = TableId::Company;
        let col = |ty| ColumnSchema {
            name: "c",
            ty,
            nullable: true,
        };
        let read = |ty, v: Json, field: Option<Json>| {
            decode_column(t, &col(ty), &v, field.as_ref(), DecimalMode::Precise)
        };
        assert_eq!(
            read(SqlType::DateTime, json!(1500), None),
            Ok(Value::DateTimeMillis(1500))
        );
        let micro = json!({"name": "io.debezium.time.MicroTimestamp"});
        assert_eq!(
            read(SqlType::DateTime, json!(1_500_999), Some(micro)),
            Ok(Value::DateTimeMillis(1500))
        );
        assert_eq!(
            read(SqlType::DateTime, json!("1970-01-01T00:00:01.5Z"), None),
            Ok(Value::DateTimeMillis(1500))
        );
        assert_eq!(read(SqlType::Date, json!(3), None), Ok(Value::Date(3)));
        assert_eq!(
            read(SqlType::TinyBool, json!(true), None),
            Ok(Value::Int(1))
        );
        assert_eq!(read(SqlType::TinyBool, json!(0), None), Ok(Value::Int(0)));
        assert!(read(SqlType::Int, json!("seven"), None).is_err());
    }
}
