//! Encoding row changes as Debezium MySQL-connector change events, in the JSON that Kafka
//! Connect's `JsonConverter` writes, for feeding a Debezium decoder in tests.
//!
//! This is written from Debezium's and Kafka Connect's own behaviour (Debezium 2.7, default
//! connector settings), not from twinflow's decoder, so that the two can check each other.
//! What is reproduced:
//!
//! - one topic per table, `<topic.prefix>.<database>.<table>`;
//! - the key `{"id": ...}` and the value envelope `before` / `after` / `source` / `transaction`
//!   / `op` / `ts_ms` / `ts_us` / `ts_ns`, with fields in the order of Debezium's schemas (which is
//!   the order `JsonConverter` writes them in);
//! - the MySQL `source` block (`io.debezium.connector.mysql.Source`) with `server_id` 1 and no
//!   `thread` or `query`;
//! - Debezium's default type mappings (`time.precision.mode=adaptive_time_microseconds`, the
//!   chosen `decimal.handling.mode`), including the field schemas when schemas are enabled;
//! - a delete followed by a tombstone, and an update that changes the primary key emitted as a
//!   delete, a tombstone and a create (the `__debezium.oldkey` / `newkey` headers are not
//!   modelled);
//! - numbers as Jackson writes them: doubles in Java's `Double.toString` form (`1.0E7`),
//!   bytes as standard padded base64.
//!
//! Not reproduced: the `first` / `last` / `first_in_data_collection` / `last_in_data_collection`
//! values of `source.snapshot` during a real snapshot (this encoder writes `"true"`), column
//! defaults in field schemas, and connector processing time (the envelope's `ts_ms` equals the
//! source's).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use twinflow_ingest::{ColumnSchema, Row, RowChange, SqlType, TableId, Value};

/// The Debezium version written into every `source` block.
pub const DEBEZIUM_VERSION: &str = "2.7.0.Final";

/// The MySQL server id written into every `source` block.
pub const SERVER_ID: i64 = 1;

/// Debezium's `decimal.handling.mode`: how `DECIMAL` columns are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecimalMode {
    /// `precise` (Debezium's default): Kafka Connect's `Decimal` logical type, the unscaled value
    /// as minimal big-endian two's-complement bytes, which JSON carries as a base64 string.
    Precise,
    /// `string`: the plain decimal text at the column's scale, such as `"123.45"`.
    String,
    /// `double`: a JSON number.
    Double,
}

/// How the messages are encoded.
#[derive(Clone, Copy, Debug)]
pub struct Encoding {
    /// `value.converter.schemas.enable` / `key.converter.schemas.enable`: wrap key and value as
    /// `{"schema": ..., "payload": ...}`.
    pub schemas: bool,
    /// `decimal.handling.mode`.
    pub decimals: DecimalMode,
    /// `TINYINT(1)` as a JSON boolean (schema type `boolean`) or as a number (schema type `int16`).
    ///
    /// Debezium maps a column declared `BOOLEAN`/`BOOL` to `boolean`, and one it reads as
    /// `TINYINT(1)` (as `SHOW CREATE TABLE` reports it) to `int16` unless a converter such as
    /// `TinyIntOneToBooleanConverter` is configured; a decoder should handle both.
    pub tinyint1_as_bool: bool,
}

impl Default for Encoding {
    /// The defaults of Kafka Connect's `JsonConverter` (schemas enabled) and of Debezium
    /// (`precise` decimals, `TINYINT(1)` read from `SHOW CREATE TABLE` as `int16`).
    fn default() -> Self {
        Encoding {
            schemas: true,
            decimals: DecimalMode::Precise,
            tinyint1_as_bool: false,
        }
    }
}

/// Where an event sits in the binlog (becomes the `source` block and, with `transaction_id`, the
/// `transaction` block).
#[derive(Clone, Copy, Debug)]
pub struct EventSource<'a> {
    /// The connector's `topic.prefix` (the logical server name, `source.name`).
    pub server_name: &'a str,
    /// The binlog file of the event (`source.file`).
    pub file: &'a str,
    /// The position of the event in the file (`source.pos`).
    pub pos: u64,
    /// The row's index within its binlog rows event (`source.row`).
    pub row: u32,
    /// The GTID of the transaction (`source.gtid`), when the server has GTIDs.
    pub gtid: Option<&'a str>,
    /// Milliseconds since the epoch (`source.ts_ms` and the envelope's `ts_ms`).
    pub ts_ms: u64,
    /// Whether the event comes from the initial snapshot (`op` `r`, `source.snapshot` `"true"`).
    pub snapshot: bool,
    /// With `provide.transaction.metadata`: the transaction id; `None` leaves `transaction` null.
    pub transaction_id: Option<&'a str>,
    /// `transaction.total_order`: the event's position among all events of the transaction.
    pub total_order: u64,
    /// `transaction.data_collection_order`: its position among the transaction's events of
    /// this table.
    pub data_collection_order: u64,
}

/// One Kafka message: topic `<prefix>.<database>.<table>`, key JSON, value JSON (`None` = tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The topic, `<prefix>.<database>.<table>`.
    pub topic: String,
    /// The key as JSON text.
    pub key: String,
    /// The value as JSON text; `None` for a tombstone.
    pub value: Option<String>,
}

/// Encodes one change: op `"c"` (insert), `"u"` (update), `"d"` (delete), or `"r"` when
/// `source.snapshot` (snapshot read, only an after image).
///
/// For a delete, returns the delete event followed by a tombstone (value `None`) with the same
/// key, as Debezium does by default. An update that changes the primary key becomes, as in
/// Debezium, a delete of the old key, its tombstone and a create of the new key.
///
/// Panics (this is test support) if the change has neither image, if a snapshot change has a
/// before image, or if a row image does not fit the catalog (wrong number of values, a value of
/// the wrong kind for its column, or a decimal with more fractional digits than its column).
pub fn encode(change: &RowChange, source: &EventSource<'_>, encoding: Encoding) -> Vec<Message> {
    let table = change.table;
    match (&change.before, &change.after) {
        (None, Some(after)) => {
            let op = if source.snapshot { "r" } else { "c" };
            vec![event(table, None, Some(after), op, source, encoding)]
        }
        (Some(_), _) if source.snapshot => {
            panic!("debezium: a snapshot read of {table} has only an after image: {change:?}")
        }
        (Some(before), Some(after)) => {
            let old_key = key_payload(table, before, encoding).to_text();
            let new_key = key_payload(table, after, encoding).to_text();
            if old_key == new_key {
                vec![event(
                    table,
                    Some(before),
                    Some(after),
                    "u",
                    source,
                    encoding,
                )]
            } else {
                let delete = event(table, Some(before), None, "d", source, encoding);
                let tombstone = tombstone(&delete);
                let create = event(table, None, Some(after), "c", source, encoding);
                vec![delete, tombstone, create]
            }
        }
        (Some(before), None) => {
            let delete = event(table, Some(before), None, "d", source, encoding);
            let tombstone = tombstone(&delete);
            vec![delete, tombstone]
        }
        (None, None) => panic!("debezium: a change of {table} without any row image"),
    }
}

/// One line of newline-delimited Debezium JSON as captured from Kafka:
/// `{"topic": ..., "key": <key JSON>, "value": <value JSON or null>}` (no trailing newline).
pub fn to_line(message: &Message) -> String {
    let mut line = String::from("{\"topic\":");
    Json::Str(message.topic.clone()).write(&mut line);
    line.push_str(",\"key\":");
    line.push_str(&message.key);
    line.push_str(",\"value\":");
    line.push_str(message.value.as_deref().unwrap_or("null"));
    line.push('}');
    line
}

// ---------------------------------------------------------------------------------------------
// Messages

fn topic(table: TableId, source: &EventSource<'_>) -> String {
    let schema = table.schema();
    format!("{}.{}.{}", source.server_name, schema.database, schema.name)
}

fn tombstone(event: &Message) -> Message {
    Message {
        topic: event.topic.clone(),
        key: event.key.clone(),
        value: None,
    }
}

fn event(
    table: TableId,
    before: Option<&Row>,
    after: Option<&Row>,
    op: &'static str,
    source: &EventSource<'_>,
    encoding: Encoding,
) -> Message {
    let topic = topic(table, source);
    let Some(key_row) = after.or(before) else {
        panic!("debezium: an event of {table} without any row image");
    };
    let key = key_payload(table, key_row, encoding);
    let key = if encoding.schemas {
        envelope(key_schema(table, &topic, encoding), key)
    } else {
        key
    };
    let value = value_payload(table, before, after, op, source, encoding);
    let value = if encoding.schemas {
        envelope(value_schema(table, &topic, encoding), value)
    } else {
        value
    };
    Message {
        topic,
        key: key.to_text(),
        value: Some(value.to_text()),
    }
}

/// `JsonConverter`'s `{"schema": ..., "payload": ...}` wrapper.
fn envelope(schema: Json, payload: Json) -> Json {
    Json::Obj(vec![("schema", schema), ("payload", payload)])
}

fn key_payload(table: TableId, row: &Row, encoding: Encoding) -> Json {
    check_arity(table, row);
    let id = &table.schema().columns[0];
    Json::Obj(vec![(id.name, column_value(table, id, &row[0], encoding))])
}

fn value_payload(
    table: TableId,
    before: Option<&Row>,
    after: Option<&Row>,
    op: &'static str,
    source: &EventSource<'_>,
    encoding: Encoding,
) -> Json {
    let image = |row: Option<&Row>| row.map_or(Json::Null, |r| row_json(table, r, encoding));
    let transaction = match source.transaction_id {
        None => Json::Null,
        Some(id) => Json::Obj(vec![
            ("id", Json::Str(id.to_owned())),
            ("total_order", Json::UInt(source.total_order)),
            (
                "data_collection_order",
                Json::UInt(source.data_collection_order),
            ),
        ]),
    };
    Json::Obj(vec![
        ("before", image(before)),
        ("after", image(after)),
        ("source", source_block(table, source)),
        ("transaction", transaction),
        ("op", Json::Str(op.to_owned())),
        ("ts_ms", Json::UInt(source.ts_ms)),
        ("ts_us", Json::UInt(source.ts_ms.saturating_mul(1_000))),
        ("ts_ns", Json::UInt(source.ts_ms.saturating_mul(1_000_000))),
    ])
}

fn source_block(table: TableId, source: &EventSource<'_>) -> Json {
    let schema = table.schema();
    let snapshot = if source.snapshot { "true" } else { "false" };
    Json::Obj(vec![
        ("version", Json::Str(DEBEZIUM_VERSION.to_owned())),
        ("connector", Json::Str("mysql".to_owned())),
        ("name", Json::Str(source.server_name.to_owned())),
        ("ts_ms", Json::UInt(source.ts_ms)),
        ("snapshot", Json::Str(snapshot.to_owned())),
        ("db", Json::Str(schema.database.to_owned())),
        ("sequence", Json::Null),
        ("ts_us", Json::UInt(source.ts_ms.saturating_mul(1_000))),
        ("ts_ns", Json::UInt(source.ts_ms.saturating_mul(1_000_000))),
        ("table", Json::Str(schema.name.to_owned())),
        ("server_id", Json::Int(SERVER_ID)),
        (
            "gtid",
            source.gtid.map_or(Json::Null, |g| Json::Str(g.to_owned())),
        ),
        ("file", Json::Str(source.file.to_owned())),
        ("pos", Json::UInt(source.pos)),
        ("row", Json::UInt(u64::from(source.row))),
        ("thread", Json::Null),
        ("query", Json::Null),
    ])
}

fn check_arity(table: TableId, row: &Row) {
    let columns = table.schema().columns.len();
    assert_eq!(
        row.len(),
        columns,
        "debezium: a {table} row image has {} values for {columns} columns: {row:?}",
        row.len()
    );
}

fn row_json(table: TableId, row: &Row, encoding: Encoding) -> Json {
    check_arity(table, row);
    Json::Obj(
        table
            .schema()
            .columns
            .iter()
            .zip(row.iter())
            .map(|(c, v)| (c.name, column_value(table, c, v, encoding)))
            .collect(),
    )
}

fn column_value(table: TableId, column: &ColumnSchema, value: &Value, encoding: Encoding) -> Json {
    match (column.ty, value) {
        (_, Value::Null) => Json::Null,
        (SqlType::Int, Value::Int(i)) => Json::Int(*i),
        (SqlType::TinyBool, Value::Int(i)) if encoding.tinyint1_as_bool => Json::Bool(*i != 0),
        (SqlType::TinyBool, Value::Int(i)) => Json::Int(*i),
        (SqlType::Varchar(_) | SqlType::Text | SqlType::Enum(_), Value::Text(s)) => {
            Json::Str(s.to_string())
        }
        (SqlType::Decimal(_, column_scale), Value::Decimal { mantissa, scale }) => {
            let Some(unscaled) = rescale(*mantissa, *scale, column_scale) else {
                panic!(
                    "debezium: {table}.{}: {value} has more than {column_scale} fractional digits",
                    column.name
                );
            };
            match encoding.decimals {
                DecimalMode::Precise => Json::Str(BASE64.encode(twos_complement(unscaled))),
                DecimalMode::String => Json::Str(plain_decimal(unscaled, column_scale)),
                DecimalMode::Double => {
                    let text = plain_decimal(unscaled, column_scale);
                    match text.parse::<f64>() {
                        Ok(d) => Json::Double(d),
                        Err(e) => panic!("debezium: decimal text {text:?} is no number: {e}"),
                    }
                }
            }
        }
        (SqlType::DateTime, Value::DateTimeMillis(ms)) => Json::Int(*ms),
        (SqlType::Date, Value::Date(days)) => Json::Int(i64::from(*days)),
        (SqlType::Double, Value::Double(d)) => Json::Double(*d),
        _ => panic!(
            "debezium: {table}.{} is {} but the row has the {} {value:?}",
            column.name,
            column.ty,
            value.kind()
        ),
    }
}

/// The unscaled value of `mantissa / 10^scale` at `target` fractional digits, if exact.
fn rescale(mantissa: i64, scale: u8, target: u8) -> Option<i128> {
    let m = i128::from(mantissa);
    if target >= scale {
        m.checked_mul(10i128.checked_pow(u32::from(target - scale))?)
    } else {
        let div = 10i128.checked_pow(u32::from(scale - target))?;
        (m % div == 0).then_some(m / div)
    }
}

/// Java's `BigInteger.toByteArray()`: the minimal big-endian two's-complement bytes (at least one).
fn twos_complement(unscaled: i128) -> Vec<u8> {
    let bytes = unscaled.to_be_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    bytes[start..].to_vec()
}

/// Java's `BigDecimal.toPlainString()` of `unscaled / 10^scale`.
fn plain_decimal(unscaled: i128, scale: u8) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let digits = unscaled.unsigned_abs().to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

// ---------------------------------------------------------------------------------------------
// Schemas, as `JsonConverter.asJsonSchema` writes Debezium's Connect schemas:
// type, fields, optional, name, version, parameters, default (then `field` inside a struct).

struct Schema {
    ty: &'static str,
    fields: Option<Vec<Json>>,
    optional: bool,
    name: Option<String>,
    version: Option<i64>,
    parameters: Vec<(&'static str, String)>,
    default: Option<Json>,
}

impl Schema {
    fn new(ty: &'static str, optional: bool) -> Schema {
        Schema {
            ty,
            fields: None,
            optional,
            name: None,
            version: None,
            parameters: Vec::new(),
            default: None,
        }
    }

    fn structure(fields: Vec<Json>, optional: bool) -> Schema {
        Schema {
            fields: Some(fields),
            ..Schema::new("struct", optional)
        }
    }

    fn named(mut self, name: impl Into<String>) -> Schema {
        self.name = Some(name.into());
        self
    }

    fn version(mut self, version: i64) -> Schema {
        self.version = Some(version);
        self
    }

    fn param(mut self, key: &'static str, value: String) -> Schema {
        self.parameters.push((key, value));
        self
    }

    fn default_value(mut self, value: Json) -> Schema {
        self.default = Some(value);
        self
    }

    fn members(self) -> Vec<(&'static str, Json)> {
        let mut out = vec![("type", Json::Str(self.ty.to_owned()))];
        if let Some(fields) = self.fields {
            out.push(("fields", Json::Arr(fields)));
        }
        out.push(("optional", Json::Bool(self.optional)));
        if let Some(name) = self.name {
            out.push(("name", Json::Str(name)));
        }
        if let Some(version) = self.version {
            out.push(("version", Json::Int(version)));
        }
        if !self.parameters.is_empty() {
            let params = self
                .parameters
                .into_iter()
                .map(|(k, v)| (k, Json::Str(v)))
                .collect();
            out.push(("parameters", Json::Obj(params)));
        }
        if let Some(default) = self.default {
            out.push(("default", default));
        }
        out
    }

    /// The schema on its own (a message's top-level schema).
    fn json(self) -> Json {
        Json::Obj(self.members())
    }

    /// The schema as a field of a struct.
    fn field(self, name: &'static str) -> Json {
        let mut members = self.members();
        members.push(("field", Json::Str(name.to_owned())));
        Json::Obj(members)
    }
}

fn column_schema(column: &ColumnSchema, optional: bool, encoding: Encoding) -> Schema {
    match column.ty {
        SqlType::Int => Schema::new("int32", optional),
        SqlType::TinyBool if encoding.tinyint1_as_bool => Schema::new("boolean", optional),
        SqlType::TinyBool => Schema::new("int16", optional),
        SqlType::Varchar(_) | SqlType::Text => Schema::new("string", optional),
        SqlType::Enum(labels) => Schema::new("string", optional)
            .named("io.debezium.data.Enum")
            .version(1)
            .param("allowed", labels.join(",")),
        SqlType::Decimal(precision, scale) => match encoding.decimals {
            DecimalMode::Precise => Schema::new("bytes", optional)
                .named("org.apache.kafka.connect.data.Decimal")
                .version(1)
                .param("scale", scale.to_string())
                .param("connect.decimal.precision", precision.to_string()),
            DecimalMode::String => Schema::new("string", optional),
            DecimalMode::Double => Schema::new("double", optional),
        },
        SqlType::DateTime => Schema::new("int64", optional)
            .named("io.debezium.time.Timestamp")
            .version(1),
        SqlType::Date => Schema::new("int32", optional)
            .named("io.debezium.time.Date")
            .version(1),
        SqlType::Double => Schema::new("double", optional),
    }
}

fn key_schema(table: TableId, topic: &str, encoding: Encoding) -> Json {
    let id = &table.schema().columns[0];
    Schema::structure(
        vec![column_schema(id, false, encoding).field(id.name)],
        false,
    )
    .named(format!("{topic}.Key"))
    .json()
}

fn value_schema(table: TableId, topic: &str, encoding: Encoding) -> Json {
    let row = || {
        let fields = table
            .schema()
            .columns
            .iter()
            .map(|c| column_schema(c, c.nullable, encoding).field(c.name))
            .collect();
        Schema::structure(fields, true).named(format!("{topic}.Value"))
    };
    let string = |optional| Schema::new("string", optional);
    let int64 = |optional| Schema::new("int64", optional);
    let source = Schema::structure(
        vec![
            string(false).field("version"),
            string(false).field("connector"),
            string(false).field("name"),
            int64(false).field("ts_ms"),
            string(true)
                .named("io.debezium.data.Enum")
                .version(1)
                .param("allowed", "true,last,false,incremental".to_owned())
                .default_value(Json::Str("false".to_owned()))
                .field("snapshot"),
            string(false).field("db"),
            string(true).field("sequence"),
            int64(true).field("ts_us"),
            int64(true).field("ts_ns"),
            string(true).field("table"),
            int64(false).field("server_id"),
            string(true).field("gtid"),
            string(false).field("file"),
            int64(false).field("pos"),
            Schema::new("int32", false).field("row"),
            int64(true).field("thread"),
            string(true).field("query"),
        ],
        false,
    )
    .named("io.debezium.connector.mysql.Source");
    let transaction = Schema::structure(
        vec![
            string(false).field("id"),
            int64(false).field("total_order"),
            int64(false).field("data_collection_order"),
        ],
        true,
    )
    .named("event.block")
    .version(1);
    Schema::structure(
        vec![
            row().field("before"),
            row().field("after"),
            source.field("source"),
            transaction.field("transaction"),
            string(false).field("op"),
            int64(true).field("ts_ms"),
            int64(true).field("ts_us"),
            int64(true).field("ts_ns"),
        ],
        false,
    )
    .named(format!("{topic}.Envelope"))
    .version(2)
    .json()
}

// ---------------------------------------------------------------------------------------------
// JSON text with members in insertion order, numbers and strings as Jackson writes them.

enum Json {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::UInt(u) => out.push_str(&u.to_string()),
            Json::Double(d) => out.push_str(&java_double(*d)),
            Json::Str(s) => write_string(s, out),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string as Jackson escapes it: `"` and `\`, the short escapes for control characters
/// that have one, `\u00XX` (upper-case hex) for the others; everything else as is.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double as Jackson writes it: Java's `Double.toString` (shortest round-trip digits; plain
/// notation for magnitudes in [10^-3, 10^7), otherwise `d.dddE±n`), and the non-finite values
/// quoted (`"NaN"`, `"Infinity"`, `"-Infinity"`), which MySQL cannot store anyway.
fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "\"NaN\"".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }
        .to_owned();
    }
    let sign = if d.is_sign_negative() { "-" } else { "" };
    if d == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d[.ddd]e[-]n`.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let magnitude = d.abs();
    if (1e-3..1e7).contains(&magnitude) {
        if exponent >= 0 {
            let int_len = usize::try_from(exponent).unwrap_or(0) + 1;
            let int: String = format!("{digits:0<int_len$}")[..int_len].to_owned();
            let frac = digits
                .get(int_len..)
                .filter(|f| !f.is_empty())
                .unwrap_or("0");
            format!("{sign}{int}.{frac}")
        } else {
            let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
            format!("{sign}0.{}{digits}", "0".repeat(zeros))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{json, Value as J};

    use super::*;
    use crate::rows;

    const PLAIN: Encoding = Encoding {
        schemas: false,
        decimals: DecimalMode::Precise,
        tinyint1_as_bool: true,
    };

    fn source() -> EventSource<'static> {
        EventSource {
            server_name: "twin",
            file: "binlog.000003",
            pos: 4711,
            row: 0,
            gtid: None,
            ts_ms: 1_700_000_000_123,
            snapshot: false,
            transaction_id: None,
            total_order: 0,
            data_collection_order: 0,
        }
    }

    fn parse(text: &str) -> J {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    fn value_of(message: &Message) -> J {
        parse(message.value.as_deref().expect("not a tombstone"))
    }

    fn person() -> Row {
        rows::row(
            TableId::People,
            &[
                ("id", Value::Int(42)),
                ("company_id", Value::Int(1)),
                ("first_name", Value::text("Ada \"the\"\nfirst")),
                ("last_name", Value::text("Lovelace")),
                ("email", Value::text("ada@example.org")),
                ("status", Value::text("leave")),
                ("hired_at", Value::Date(19_000)),
                ("created_at", Value::DateTimeMillis(1_700_000_000_000)),
                ("updated_at", Value::DateTimeMillis(1_700_000_000_500)),
            ],
        )
    }

    fn job_task(id: i64, mantissa: i64) -> Row {
        rows::row(
            TableId::JobTask,
            &[
                ("id", Value::Int(id)),
                ("allocation_pct", Value::Decimal { mantissa, scale: 2 }),
            ],
        )
    }

    #[test]
    fn insert_without_schemas_has_every_column() {
        let change = RowChange::insert(TableId::People, person());
        let messages = encode(&change, &source(), PLAIN);
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.topic, "twin.twin_hr.people");
        assert_eq!(parse(&m.key), json!({"id": 42}));
        let value_text = m.value.as_deref().expect("value");
        assert!(value_text.starts_with("{\"before\":null,\"after\":{\"id\":42,"));
        let v = parse(value_text);
        assert_eq!(v["op"], "c");
        assert_eq!(v["before"], J::Null);
        assert_eq!(v["transaction"], J::Null);
        assert_eq!(
            v["after"],
            json!({
                "id": 42, "company_id": 1, "job_id": null, "table_id": null,
                "first_name": "Ada \"the\"\nfirst", "last_name": "Lovelace",
                "email": "ada@example.org", "status": "leave", "hired_at": 19000,
                "created_at": 1_700_000_000_000_i64, "updated_at": 1_700_000_000_500_i64,
            })
        );
        let columns = TableId::People.schema().columns;
        assert_eq!(v["after"].as_object().map(|o| o.len()), Some(columns.len()));
        assert_eq!(
            v["source"],
            json!({
                "version": "2.7.0.Final", "connector": "mysql", "name": "twin",
                "ts_ms": 1_700_000_000_123_u64, "snapshot": "false", "db": "twin_hr",
                "sequence": null, "ts_us": 1_700_000_000_123_000_u64,
                "ts_ns": 1_700_000_000_123_000_000_u64, "table": "people", "server_id": 1,
                "gtid": null, "file": "binlog.000003", "pos": 4711, "row": 0,
                "thread": null, "query": null,
            })
        );
        assert_eq!(v["ts_ms"], 1_700_000_000_123_u64);
    }

    #[test]
    fn precise_decimals_are_base64_twos_complement() {
        let allocation = |mantissa| {
            let change = RowChange::insert(TableId::JobTask, job_task(1, mantissa));
            value_of(&encode(&change, &source(), PLAIN)[0])["after"]["allocation_pct"].clone()
        };
        assert_eq!(allocation(12345), "MDk=");
        assert_eq!(allocation(-1), "/w==");
        assert_eq!(allocation(0), "AA==");
        assert_eq!(allocation(128), "AIA=");
        assert_eq!(twos_complement(-128), vec![0x80]);
        assert_eq!(twos_complement(-129), vec![0xff, 0x7f]);
        assert_eq!(twos_complement(255), vec![0x00, 0xff]);
    }

    #[test]
    fn decimals_follow_the_handling_mode_at_the_column_scale() {
        let encode_with = |decimals, mantissa, scale| {
            let row: Row = Arc::from(vec![
                Value::Int(1),
                Value::Int(2),
                Value::Int(3),
                Value::Decimal { mantissa, scale },
            ]);
            let encoding = Encoding { decimals, ..PLAIN };
            let change = RowChange::insert(TableId::JobTask, row);
            value_of(&encode(&change, &source(), encoding)[0])["after"]["allocation_pct"].clone()
        };
        assert_eq!(encode_with(DecimalMode::String, 12345, 2), "123.45");
        assert_eq!(encode_with(DecimalMode::String, -5, 2), "-0.05");
        assert_eq!(encode_with(DecimalMode::String, 7, 0), "7.00");
        assert_eq!(encode_with(DecimalMode::Double, 12345, 2), json!(123.45));
        assert_eq!(encode_with(DecimalMode::Precise, 5, 1), "Mg==");
    }

    #[test]
    fn delete_is_followed_by_a_tombstone() {
        let change = RowChange::delete(TableId::People, person());
        let messages = encode(&change, &source(), PLAIN);
        assert_eq!(messages.len(), 2);
        let v = value_of(&messages[0]);
        assert_eq!(v["op"], "d");
        assert_eq!(v["after"], J::Null);
        assert_eq!(v["before"]["id"], 42);
        assert_eq!(messages[1].value, None);
        assert_eq!(messages[1].key, messages[0].key);
        assert_eq!(messages[1].topic, messages[0].topic);
        assert_eq!(
            parse(&to_line(&messages[1])),
            json!({"topic": "twin.twin_hr.people", "key": {"id": 42}, "value": null})
        );
    }

    #[test]
    fn updates_and_primary_key_changes() {
        let before = job_task(1, 100);
        let after = job_task(1, 250);
        let messages = encode(
            &RowChange::update(TableId::JobTask, before.clone(), after),
            &source(),
            PLAIN,
        );
        assert_eq!(messages.len(), 1);
        let v = value_of(&messages[0]);
        assert_eq!(v["op"], "u");
        assert_eq!(v["before"]["allocation_pct"], "ZA==");

        let moved = job_task(2, 100);
        let messages = encode(
            &RowChange::update(TableId::JobTask, before, moved),
            &source(),
            PLAIN,
        );
        let ops: Vec<_> = messages
            .iter()
            .map(|m| m.value.as_deref().map(|v| parse(v)["op"].clone()))
            .collect();
        assert_eq!(ops, vec![Some(json!("d")), None, Some(json!("c"))]);
        assert_eq!(parse(&messages[1].key), json!({"id": 1}));
        assert_eq!(parse(&messages[2].key), json!({"id": 2}));
    }

    #[test]
    fn snapshot_reads_and_transaction_metadata() {
        let src = EventSource {
            snapshot: true,
            gtid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:23"),
            transaction_id: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:23"),
            total_order: 3,
            data_collection_order: 2,
            ..source()
        };
        let change = RowChange::insert(TableId::People, person());
        let v = value_of(&encode(&change, &src, PLAIN)[0]);
        assert_eq!(v["op"], "r");
        assert_eq!(v["source"]["snapshot"], "true");
        assert_eq!(
            v["source"]["gtid"],
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"
        );
        assert_eq!(
            v["transaction"],
            json!({"id": "3e11fa47-71ca-11e1-9e33-c80aa9429562:23", "total_order": 3,
                   "data_collection_order": 2})
        );
    }

    #[test]
    fn tinyint1_as_boolean_or_number() {
        let user = rows::row(
            TableId::User,
            &[("id", Value::Int(5)), ("is_active", Value::Int(1))],
        );
        let change = RowChange::insert(TableId::User, user);
        let v = value_of(&encode(&change, &source(), PLAIN)[0]);
        assert_eq!(v["after"]["is_active"], true);
        let numeric = Encoding {
            tinyint1_as_bool: false,
            ..PLAIN
        };
        let v = value_of(&encode(&change, &source(), numeric)[0]);
        assert_eq!(v["after"]["is_active"], 1);
    }

    #[test]
    fn with_schemas_key_and_value_carry_schema_and_payload() {
        let encoding = Encoding {
            schemas: true,
            ..PLAIN
        };
        let change = RowChange::insert(TableId::People, person());
        let m = &encode(&change, &source(), encoding)[0];
        let key = parse(&m.key);
        assert_eq!(
            key,
            json!({
                "schema": {"type": "struct",
                           "fields": [{"type": "int32", "optional": false, "field": "id"}],
                           "optional": false, "name": "twin.twin_hr.people.Key"},
                "payload": {"id": 42},
            })
        );
        let v = value_of(m);
        assert_eq!(v.as_object().map(|o| o.len()), Some(2));
        assert_eq!(v["payload"]["op"], "c");
        assert_eq!(v["payload"]["after"]["status"], "leave");
        let schema = &v["schema"];
        assert_eq!(schema["name"], "twin.twin_hr.people.Envelope");
        assert_eq!(schema["optional"], false);
        let fields = schema["fields"].as_array().expect("fields");
        let names: Vec<_> = fields.iter().map(|f| f["field"].clone()).collect();
        assert_eq!(
            names,
            vec![
                "before",
                "after",
                "source",
                "transaction",
                "op",
                "ts_ms",
                "ts_us",
                "ts_ns"
            ]
        );
        let after = &fields[1];
        assert_eq!(after["name"], "twin.twin_hr.people.Value");
        assert_eq!(after["optional"], true);
        let columns = after["fields"].as_array().expect("columns");
        assert_eq!(columns.len(), TableId::People.schema().columns.len());
        assert_eq!(
            columns[7],
            json!({"type": "string", "optional": false, "name": "io.debezium.data.Enum",
                   "version": 1, "parameters": {"allowed": "active,leave,terminated"},
                   "field": "status"})
        );
        assert_eq!(
            columns[8],
            json!({"type": "int32", "optional": true, "name": "io.debezium.time.Date",
                   "version": 1, "field": "hired_at"})
        );
        assert_eq!(
            columns[9],
            json!({"type": "int64", "optional": false, "name": "io.debezium.time.Timestamp",
                   "version": 1, "field": "created_at"})
        );
        assert_eq!(fields[2]["name"], "io.debezium.connector.mysql.Source");

        let change = RowChange::insert(TableId::JobTask, job_task(1, 12345));
        let v = value_of(&encode(&change, &source(), encoding)[0]);
        assert_eq!(
            v["schema"]["fields"][1]["fields"][3],
            json!({"type": "bytes", "optional": false,
                   "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
                   "parameters": {"scale": "2", "connect.decimal.precision": "5"},
                   "field": "allocation_pct"})
        );
    }

    #[test]
    fn lines_embed_key_and_value_json() {
        let change = RowChange::insert(TableId::People, person());
        let m = &encode(&change, &source(), PLAIN)[0];
        let line = parse(&to_line(m));
        assert_eq!(line["topic"], "twin.twin_hr.people");
        assert_eq!(line["key"], parse(&m.key));
        assert_eq!(line["value"], value_of(m));
    }

    #[test]
    fn doubles_and_strings_are_written_like_jackson() {
        assert_eq!(java_double(12.5), "12.5");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(-0.001), "-0.001");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(123_456_789.0), "1.23456789E8");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(9_999_999.5), "9999999.5");
        let mut s = String::new();
        write_string("a\"b\\c\u{1}é/", &mut s);
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001é/\"");
    }
}
