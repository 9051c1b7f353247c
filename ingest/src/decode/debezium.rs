//! Debezium's MySQL-connector change events, as Kafka Connect's JSON converter writes them:
//! with schemas (`{"schema": ..., "payload": ...}`) or without (the payload alone).
//!
//! Values follow Debezium's default type mappings, guided by the field schemas when the
//! message has them and by the catalog's column types otherwise: `DATETIME(3)` as epoch
//! milliseconds (`io.debezium.time.Timestamp`; micro- and nanosecond variants and ISO strings
//! are read too), `DATE` as days since the epoch, `DECIMAL` as base64 big-endian unscaled
//! bytes (`decimal.handling.mode=precise`, the scale taken from the schema), or as a string or
//! a double when so configured, `ENUM` as its label, `TINYINT(1)` as a boolean or a number.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
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
    if let Some((schema, payload)) = KnownPrefix::split(value) {
        if let Ok(payload @ Json::Object(_)) = serde_json::from_slice::<Json>(payload) {
            return decode_payload(topic, &payload, Some(&schema), decimals);
        }
    }
    let message = serde_json::from_slice(value)?;
    if let Message::Enveloped { schema, .. } = &message {
        KnownPrefix::remember(value, schema)?;
    }
    decode_message(topic, message, decimals)
}

/// The start of an enveloped message up to its payload, `{"schema":...,"payload":`, as the
/// JSON converter writes it: every message of a topic starts with the same bytes, so a later
/// message's schema is recognised by comparing them instead of scanning the schema again.
struct KnownPrefix {
    bytes: Box<[u8]>,
    schema: Rc<ValueSchema>,
}

/// Prefixes remembered per thread (a consumer reads a few topics; a topic's schema changes
/// only with its table's DDL).
const KNOWN_PREFIXES: usize = 16;

thread_local! {
    static PREFIXES: RefCell<Vec<KnownPrefix>> = const { RefCell::new(Vec::new()) };
}

impl KnownPrefix {
    const HEAD: &[u8] = br#"{"schema":"#;
    const PAYLOAD: &[u8] = br#","payload":"#;

    /// For a message that starts with a known prefix: its schema and the bytes of its payload
    /// (the rest without the closing brace; the caller checks that they are one object).
    fn split(message: &[u8]) -> Option<(Rc<ValueSchema>, &[u8])> {
        Self::strip(message.trim_ascii_end().strip_suffix(b"}")?)
    }

    /// For bytes that start with a known prefix: its schema and the bytes after it.
    fn strip(bytes: &[u8]) -> Option<(Rc<ValueSchema>, &[u8])> {
        PREFIXES.with_borrow(|known| {
            known
                .iter()
                .find(|p| bytes.starts_with(&p.bytes))
                .map(|p| (p.schema.clone(), &bytes[p.bytes.len()..]))
        })
    }

    /// Remembers the prefix of the message that `line` holds, given its `schema` member as
    /// parsed from `line`: the message starts just before that member.
    fn remember_in(line: &str, schema: &RawValue) -> Result<(), DebeziumError> {
        // A borrowed `RawValue` is a slice of the text it was parsed from.
        let schema_at = (schema.get().as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
        match schema_at.checked_sub(Self::HEAD.len()) {
            Some(message_at) if schema_at <= line.len() => {
                Self::remember(&line.as_bytes()[message_at..], schema)
            }
            _ => Ok(()),
        }
    }

    /// Remembers the prefix of `message`, whose `schema` member was parsed as `schema`, if the
    /// message has exactly the converter's layout.
    fn remember(message: &[u8], schema: &RawValue) -> Result<(), DebeziumError> {
        let schema_text = schema.get().as_bytes();
        let starts_at = Self::HEAD.len();
        let ends_at = starts_at + schema_text.len();
        let laid_out = message.get(..starts_at) == Some(Self::HEAD)
            && message.get(starts_at..ends_at) == Some(schema_text)
            && message[ends_at..].starts_with(Self::PAYLOAD);
        if laid_out {
            let interpreted = ValueSchema::cached(schema.get())?;
            PREFIXES.with_borrow_mut(|known| {
                if known.len() >= KNOWN_PREFIXES {
                    known.remove(0);
                }
                known.push(KnownPrefix {
                    bytes: message[..ends_at + Self::PAYLOAD.len()].into(),
                    schema: interpreted,
                });
            });
        }
        Ok(())
    }
}

/// Decodes a parsed message value.
fn decode_message(
    topic: Option<&str>,
    message: Message,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
    match message {
        Message::Enveloped { schema, payload } => {
            let schema = ValueSchema::cached(schema.get())?;
            decode_payload(topic, &payload, Some(&schema), decimals)
        }
        Message::Bare(payload) => decode_payload(topic, &payload, None, decimals),
        Message::Null => Ok(None),
        Message::Text(_) | Message::NotAnObject => Err(shape("the value is not an object")),
    }
}

/// A message value as Kafka Connect's JSON converter writes it, read without building the
/// schema: with schemas, the `schema` member stays raw text (its interpretation is cached per
/// distinct text, see [`ValueSchema::cached`]) and only the `payload` is parsed.
enum Message<'a> {
    /// `{"schema": ..., "payload": {...}}`.
    Enveloped {
        schema: &'a RawValue,
        payload: Json<'a>,
    },
    /// An object without the schema envelope: the payload itself.
    Bare(Json<'a>),
    /// JSON `null`: a tombstone.
    Null,
    /// A JSON string: in a captured line, the message value as text.
    Text(String),
    /// Any other JSON value.
    NotAnObject,
}

impl<'de: 'a, 'a> Deserialize<'de> for Message<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageVisitor)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Debezium change event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
        let mut schema = None;
        let mut members: Vec<(&'de str, Json<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<&'de str>()? {
            if key == "schema" && schema.is_none() {
                schema = Some(map.next_value::<&'de RawValue>()?);
            } else {
                members.push((key, map.next_value()?));
            }
        }
        let payload_at = members
            .iter()
            .position(|(key, value)| *key == "payload" && value.is_object());
        Ok(match (schema, payload_at) {
            (Some(schema), Some(at)) => Message::Enveloped {
                schema,
                payload: members.swap_remove(at).1,
            },
            (Some(schema), None) => {
                // Not the envelope after all: `schema` is one of the payload's own members.
                let schema =
                    serde_json::from_str(schema.get()).map_err(serde::de::Error::custom)?;
                members.push(("schema", schema));
                Message::Bare(Json::Object(Map::from(members)))
            }
            (None, _) => Message::Bare(Json::Object(Map::from(members))),
        })
    }

    fn visit_unit<E>(self) -> Result<Message<'de>, E> {
        Ok(Message::Null)
    }

    fn visit_none<E>(self) -> Result<Message<'de>, E> {
        Ok(Message::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Message<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Message::NotAnObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Message<'de>, E> {
        Ok(Message::NotAnObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Message<'de>, E> {
        Ok(Message::NotAnObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Message<'de>, E> {
        Ok(Message::NotAnObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Message<'de>, E> {
        Ok(Message::NotAnObject)
    }

    fn visit_str<E>(self, text: &str) -> Result<Message<'de>, E> {
        Ok(Message::Text(text.to_owned()))
    }
}

/// What decoding needs of one column's field schema.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldHint {
    /// The logical type (`name`), such as `io.debezium.time.MicroTimestamp`.
    logical: String,
    /// A decimal's scale (`parameters.scale`).
    scale: Option<i32>,
}

impl FieldHint {
    fn of(field: &Json) -> FieldHint {
        FieldHint {
            logical: member(field, "name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
            scale: member(field, "parameters")
                .and_then(|p| member(p, "scale"))
                .and_then(Json::as_str)
                .and_then(|s| s.parse().ok()),
        }
    }
}

/// The field hints of a value schema's row images (`before`, `after`), by column name.
#[derive(Debug, Default)]
struct ValueSchema {
    images: Vec<(String, Vec<(String, FieldHint)>)>,
}

/// Distinct schema texts remembered per thread; a topic's schema changes only with its table's
/// DDL, so a handful are in use at a time.
const CACHED_SCHEMAS: usize = 256;

thread_local! {
    static SCHEMAS: RefCell<HashMap<Box<str>, Rc<ValueSchema>, foldhash::fast::RandomState>> =
        RefCell::default();
}

impl ValueSchema {
    fn parse(schema: &Json) -> ValueSchema {
        fn fields<'a, 'ctx>(json: &'a Json<'ctx>) -> &'a [Json<'ctx>] {
            member(json, "fields")
                .and_then(Json::as_array)
                .unwrap_or(&[])
        }
        let images = fields(schema)
            .iter()
            .filter_map(|image| {
                let columns = fields(image)
                    .iter()
                    .filter_map(|f| Some((name_of(f)?.to_owned(), FieldHint::of(f))))
                    .collect();
                Some((name_of(image)?.to_owned(), columns))
            })
            .collect();
        ValueSchema { images }
    }

    /// The interpretation of the schema `text`, parsed once per distinct text.
    fn cached(text: &str) -> Result<Rc<ValueSchema>, DebeziumError> {
        if let Some(found) = SCHEMAS.with_borrow(|cache| cache.get(text).cloned()) {
            return Ok(found);
        }
        let parsed = Rc::new(ValueSchema::parse(&serde_json::from_str(text)?));
        SCHEMAS.with_borrow_mut(|cache| {
            if cache.len() >= CACHED_SCHEMAS {
                cache.clear();
            }
            cache.insert(text.into(), parsed.clone());
        });
        Ok(parsed)
    }

    /// The hints of the row image `image`'s columns.
    fn image(&self, image: &str) -> Option<&[(String, FieldHint)]> {
        self.images
            .iter()
            .find(|(name, _)| name == image)
            .map(|(_, columns)| columns.as_slice())
    }
}

/// The END marker of a transaction on Debezium's transaction metadata topic
/// (`<prefix>.transaction`, with `provide.transaction.metadata=true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionEnd {
    /// The transaction's id, as its events carry it in `transaction.id`.
    pub id: String,
    /// How many of its events belong to each table of the catalog it changed.
    pub events: Vec<(TableId, u64)>,
}

impl TransactionEnd {
    /// How many of its events belong to the tables `reads` accepts: those a connector reads.
    pub fn events_in(&self, reads: impl Fn(TableId) -> bool) -> u64 {
        self.events
            .iter()
            .filter(|(table, _)| reads(*table))
            .map(|(_, count)| count)
            .sum()
    }
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
    let events = collections
        .iter()
        .filter_map(|c| {
            let (db, table) = member(c, "data_collection")
                .and_then(Json::as_str)?
                .split_once('.')?;
            let table = TableId::lookup(db, table)?;
            Some((table, member(c, "event_count").and_then(Json::as_u64)?))
        })
        .collect();
    Ok(Some(TransactionEnd {
        id: id.to_string(),
        events,
    }))
}

/// The transaction id (`payload.transaction.id`) of a change event's message, when its JSON
/// carries one: what a dead-lettered event still counts towards.
pub fn transaction_id_of(value: Option<&[u8]>) -> Option<String> {
    let json: Json = serde_json::from_slice(value?).ok()?;
    let payload = member(&json, "payload").unwrap_or(&json);
    let id = member(payload, "transaction").and_then(|t| member(t, "id"))?;
    id.as_str().map(str::to_owned)
}

/// Decodes one line of newline-delimited Debezium JSON: either a captured Kafka message
/// `{"topic": ..., "key": ..., "value": ...}` (the value an object, a JSON string, or `null`
/// for a tombstone), or a bare event value whose `source` block names the table.
pub fn decode_line(
    line: &str,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
    if let Some(known) = KnownLine::split(line.as_bytes()) {
        return decode_payload(known.topic, &known.payload, Some(&known.schema), decimals);
    }
    let captured: CapturedLine = serde_json::from_str(line)?;
    match captured.value.0 {
        Some(value) if captured.payload.0.is_none() => {
            let topic = captured.topic.as_deref();
            match value {
                Message::Text(text) => decode_event(topic, Some(text.as_bytes()), decimals),
                other => {
                    if let Message::Enveloped { schema, .. } = &other {
                        KnownPrefix::remember_in(line, schema)?;
                    }
                    decode_message(topic, other, decimals)
                }
            }
        }
        _ => decode_event(None, Some(line.as_bytes()), decimals),
    }
}

/// A captured line whose value starts with a known prefix ([`KnownPrefix`]), read without
/// scanning the value's schema: the line's members are walked one by one, and of the value
/// only the payload is parsed.
struct KnownLine<'a> {
    topic: Option<&'a str>,
    schema: Rc<ValueSchema>,
    payload: Json<'a>,
}

impl<'a> KnownLine<'a> {
    /// `None` for any line that is not a captured message with a known value prefix, or that
    /// is laid out in a way the walk does not expect (a repeated member, a top-level
    /// `payload`): the general path reads those and reports what is wrong with them.
    fn split(line: &'a [u8]) -> Option<KnownLine<'a>> {
        if PREFIXES.with_borrow(Vec::is_empty) {
            // Nothing to recognise (messages without schemas): not worth the walk.
            return None;
        }
        let mut rest = line.trim_ascii().strip_prefix(b"{")?;
        let mut topic = None;
        let mut value = None;
        loop {
            rest = rest.trim_ascii_start();
            // Names and topics with escapes take the general path.
            let name: &'a str = next_json(&mut rest)?;
            rest = rest
                .trim_ascii_start()
                .strip_prefix(b":")?
                .trim_ascii_start();
            match name {
                "topic" if topic.is_none() => topic = Some(next_json(&mut rest)?),
                "value" if value.is_none() => {
                    let (schema, payload) = KnownPrefix::strip(rest)?;
                    rest = payload;
                    let payload @ Json::Object(_) = next_json(&mut rest)? else {
                        return None;
                    };
                    rest = rest.trim_ascii_start().strip_prefix(b"}")?;
                    value = Some((schema, payload));
                }
                "topic" | "value" | "payload" => return None,
                _ => {
                    next_json::<IgnoredAny>(&mut rest)?;
                }
            }
            rest = rest.trim_ascii_start();
            match rest.split_first()? {
                (b',', more) => rest = more,
                (b'}', more) if more.trim_ascii().is_empty() => break,
                _ => return None,
            }
        }
        let (schema, payload) = value?;
        Some(KnownLine {
            topic: topic.flatten(),
            schema,
            payload,
        })
    }
}

/// Reads one JSON value of type `T` from the start of `rest` and moves `rest` past it.
fn next_json<'a, T: Deserialize<'a>>(rest: &mut &'a [u8]) -> Option<T> {
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
    let value = values.next()?.ok()?;
    *rest = &rest[values.byte_offset()..];
    Some(value)
}

/// A line read as a captured message, in one pass: its value is parsed as a message, its key
/// and any other members are skipped. A bare value leaves `value` absent.
#[derive(serde::Deserialize)]
struct CapturedLine<'a> {
    #[serde(borrow, default)]
    topic: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    value: Present<Message<'a>>,
    #[serde(default)]
    payload: Present<IgnoredAny>,
}

/// Whether a member is there at all (`Option` would read JSON `null` as absent).
struct Present<T>(Option<T>);

impl<T> Default for Present<T> {
    fn default() -> Self {
        Present(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Present<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| Present(Some(value)))
    }
}

/// Decodes an event's payload, with the field hints of its schema when it has one.
fn decode_payload(
    topic: Option<&str>,
    payload: &Json,
    schema: Option<&ValueSchema>,
    decimals: DecimalMode,
) -> Result<Option<ChangeEvent>, DebeziumError> {
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
    let image = |name: &str| -> Result<Option<Row>, DebeziumError> {
        match payload.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Object(columns)) => {
                let hints = schema.and_then(|s| s.image(name));
                decode_row(table, columns, hints, decimals).map(Some)
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
    let file = str_of(source, "file").filter(|file| !file.is_empty());
    let pos = source.get("pos").and_then(Json::as_u64);
    let (file, pos) = match (file, pos) {
        (Some(file), Some(pos)) => (file, pos),
        // A streaming event is recognised (as new, or as a re-delivery) by its position: one
        // without it cannot be placed. Snapshot reads are not deduplicated.
        _ if !snapshot => {
            return Err(shape(
                "no usable source position: source.file and source.pos are required",
            ))
        }
        (file, pos) => (file.unwrap_or_default(), pos.unwrap_or(0)),
    };
    let position = EventPosition {
        file,
        pos,
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
    hints: Option<&[(String, FieldHint)]>,
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
            let hint = hints
                .and_then(|hints| hints.iter().find(|(name, _)| name == column.name))
                .map(|(_, hint)| hint);
            decode_column(table, column, value, hint, decimals).map_err(DebeziumError::from)
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
    field: Option<&FieldHint>,
    decimals: DecimalMode,
) -> Result<Value, DecodeError> {
    let logical = field.map_or("", |f| f.logical.as_str());
    let decoded = match (column.ty, value) {
        (_, Json::Null) => Some(Value::Null),
        (SqlType::Int | SqlType::TinyBool, Json::Bool(b)) => Some(Value::Int(i64::from(*b))),
        (SqlType::Int | SqlType::TinyBool, Json::Number(n)) => n.as_i64().map(Value::Int),
        (SqlType::Varchar(_) | SqlType::Text | SqlType::Enum(_), Json::Str(s)) => {
            Some(Value::text(s))
        }
        (SqlType::Double, Json::Number(n)) => n.as_f64().map(Value::Double),
        (SqlType::Decimal(_, scale), _) => decimal(value, field, decimals, scale)
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
        got: json_kind(value),
    })
}

/// The kind of a JSON value, as an error message names it (never the value).
fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::Str(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// A DECIMAL as a mantissa at the catalog's `scale`.
fn decimal(value: &Json, field: Option<&FieldHint>, mode: DecimalMode, scale: u8) -> Option<i64> {
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
                Some(field) => field.logical == "org.apache.kafka.connect.data.Decimal",
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
            let from_scale = field.and_then(|f| f.scale).unwrap_or(i32::from(scale));
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

    /// [`decode_event`] of a value built with `json!`.
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
        let field = field.as_deref().map(|f| FieldHint::of(&borrowed(f)));
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
        let end = json!({"status": "END", "id": "0-1-9", "event_count": 6, "data_collections": [
            {"data_collection": "twin_hr.people", "event_count": 3},
            {"data_collection": "twin_org.company", "event_count": 1},
            {"data_collection": "other_db.audit", "event_count": 2}]});
        let decoded = decode_transaction_end(Some(end.to_string().as_bytes()))
            .expect("decodes")
            .expect("an END marker");
        assert_eq!(
            decoded,
            TransactionEnd {
                id: "0-1-9".into(),
                events: vec![(TableId::People, 3), (TableId::Company, 1)],
            }
        );
        assert_eq!(decoded.events_in(|_| true), 4);
        assert_eq!(
            decoded.events_in(|t| t == TableId::People),
            3,
            "only the tables read"
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
        let enveloped = json!({"topic": "t.twin_infra.floor", "key": {"id": 1},
                               "value": {"schema": {"type": "struct"},
                                         "payload": floor_event("c", Json::Null, floor(1))}});
        for line in [
            bare,
            wrapped.to_string(),
            as_string.to_string(),
            enveloped.to_string(),
        ] {
            let event = decode_line(&line, DecimalMode::Precise)
                .expect("decodes")
                .expect("an event");
            assert_eq!(event.change.table, TableId::Floor);
        }
        assert!(decode_line(&tombstone.to_string(), DecimalMode::Precise)
            .expect("ok")
            .is_none());
    }

    /// A `job_task` event as the JSON converter writes it with schemas (`schema` first): the
    /// decimal's scale (1) is the schema's, not the catalog's (2).
    fn job_task_with_schema(id: i64, allocation: &str) -> String {
        let row_schema = |image: &str| {
            json!({"type": "struct", "optional": true, "field": image, "fields": [
                {"type": "int32", "optional": false, "field": "id"},
                {"type": "int32", "optional": false, "field": "job_id"},
                {"type": "int32", "optional": false, "field": "task_id"},
                {"type": "bytes", "optional": false, "field": "allocation_pct",
                 "name": "org.apache.kafka.connect.data.Decimal",
                 "parameters": {"scale": "1", "connect.decimal.precision": "5"}}]})
        };
        let schema = json!({"type": "struct", "name": "t.twin_process.job_task.Envelope",
                            "fields": [row_schema("before"), row_schema("after")]});
        let payload = json!({
            "before": null, "op": "c", "ts_ms": 5, "transaction": null,
            "after": {"id": id, "job_id": 2, "task_id": 3, "allocation_pct": allocation},
            "source": {"db": "twin_process", "table": "job_task", "file": "binlog.000001",
                       "pos": 10, "row": 0, "ts_ms": 4}
        });
        format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
    }

    #[test]
    fn events_with_schemas_use_the_field_schemas_also_when_cached() {
        // 0x0D = 13 at scale 1 = 1.3 = mantissa 130 at the catalog's scale 2; 0x7B = 12.3.
        // The first message is parsed whole, the others are recognised by their prefix; the
        // last is also reordered, which the full parse reads the same.
        let reordered = {
            let message: Json = serde_json::from_str(&job_task_with_schema(3, "ew==")).unwrap();
            message.to_string()
        };
        for (message, id, mantissa) in [
            (job_task_with_schema(1, "DQ=="), 1, 130),
            (job_task_with_schema(2, "ew=="), 2, 1230),
            (reordered, 3, 1230),
        ] {
            let event = decode_event(None, Some(message.as_bytes()), DecimalMode::String)
                .expect("decodes")
                .expect("a catalog table");
            let after = event.change.after.expect("after");
            assert_eq!(after[0], Value::Int(id));
            assert_eq!(after[3], Value::Decimal { mantissa, scale: 2 });
        }
        // A known prefix followed by more than one object is not taken for a payload.
        let without_end = |id| {
            let mut message = job_task_with_schema(id, "ew==");
            assert_eq!(message.pop(), Some('}'));
            message
        };
        let trailing = without_end(4) + r#","x":1}"#;
        let event = decode_event(None, Some(trailing.as_bytes()), DecimalMode::String)
            .expect("decodes by the full parse")
            .expect("a catalog table");
        assert_eq!(event.change.after.expect("after")[0], Value::Int(4));
        let broken = without_end(5);
        assert!(decode_event(None, Some(broken.as_bytes()), DecimalMode::String).is_err());
        // `schema` without a `payload` object is one of the payload's own members.
        let mut bare = floor_event("c", Json::Null, floor(1));
        bare["schema"] = json!("public");
        let event = decode_value(None, &bare, DecimalMode::Precise)
            .expect("decodes")
            .expect("a catalog table");
        assert_eq!(event.change.table, TableId::Floor);
        let err = decode_event(None, Some(b"[1, 2]"), DecimalMode::Precise).expect_err("array");
        assert!(err.to_string().contains("not an object"), "{err}");
    }

    #[test]
    fn captured_lines_with_a_known_prefix_skip_the_schema_and_read_the_same() {
        let line =
            |head: &str, value: String, tail: &str| format!(r#"{{{head}"value":{value}{tail}}}"#);
        let topic = r#""topic":"t.twin_process.job_task","key":{"id":1},"#;
        let first = line(topic, job_task_with_schema(1, "DQ=="), "");
        assert!(
            KnownLine::split(first.as_bytes()).is_none(),
            "not known yet"
        );
        let decode = |line: &str| {
            decode_line(line, DecimalMode::String)
                .map(|event| event.map(|e| e.change.after.expect("after")))
        };
        let after = decode(&first).expect("decodes").expect("an event");
        assert_eq!(
            after[3],
            Value::Decimal {
                mantissa: 130,
                scale: 2
            }
        );
        // The same value prefix is now known, in any member order and with other members.
        for known in [
            line(topic, job_task_with_schema(2, "ew=="), ""),
            line(
                "",
                job_task_with_schema(2, "ew=="),
                r#", "partition": 0, "topic": null"#,
            ),
        ] {
            assert!(KnownLine::split(known.as_bytes()).is_some(), "{known}");
            let after = decode(&known).expect("decodes").expect("an event");
            assert_eq!(after[0], Value::Int(2));
            assert_eq!(
                after[3],
                Value::Decimal {
                    mantissa: 1230,
                    scale: 2
                }
            );
        }
        // Layouts the walk leaves to the full parse, which reads or rejects them.
        let mut inner_extra = job_task_with_schema(3, "ew==");
        inner_extra.insert_str(inner_extra.len() - 1, r#","x":1"#);
        let extra = line(topic, inner_extra, "");
        let twice = line(
            topic,
            job_task_with_schema(4, "ew=="),
            r#","topic":"again""#,
        );
        let mut truncated = line(topic, job_task_with_schema(5, "ew=="), "");
        truncated.pop();
        for other in [&extra, &twice, &truncated] {
            assert!(KnownLine::split(other.as_bytes()).is_none(), "{other}");
        }
        assert_eq!(
            decode(&extra).expect("decodes").expect("an event")[0],
            Value::Int(3)
        );
        assert!(decode(&twice).is_err(), "a repeated topic is an error");
        assert!(decode(&truncated).is_err(), "a truncated line is an error");
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
