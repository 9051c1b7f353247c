//! MySQL/MariaDB values, as the binlog's row events and the text protocol carry them.
//!
//! A source's table may have its columns in another order than the catalog, extra columns, or
//! (after DDL) fewer: a [`ColumnMapping`] lines the source's columns up with the catalog's by
//! name, and decodes rows through it.

use std::io;
use std::sync::Arc;

use arcstr::ArcStr;
use mysql_common::binlog::events::{OptionalMetadataField, RowsEventData, TableMapEvent};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::constants::ColumnType;
use mysql_common::io::ParseBuf;
use mysql_common::value::Value as MyValue;
use time::{Date, Month, PrimitiveDateTime, Time};

use super::text::{datetime_millis, days_since_epoch};
use super::{parse_date, parse_datetime_millis, parse_decimal, DecodeError};
use crate::catalog::{ColumnSchema, SqlType, TableId};
use crate::value::{Row, Value};

/// How the columns of a source's table line up with the catalog's.
#[derive(Clone, Debug)]
pub struct ColumnMapping {
    table: TableId,
    /// For each catalog column, its index in the source's rows.
    source_index: Vec<usize>,
    /// For each catalog column, the labels of its ENUM as the source declares them, when the
    /// source sends enum values as indexes (the binlog does).
    enum_labels: Vec<Option<Arc<[ArcStr]>>>,
}

impl ColumnMapping {
    /// Rows whose columns are exactly the catalog's, in the catalog's order.
    pub fn identity(table: TableId) -> Self {
        let width = table.schema().columns.len();
        ColumnMapping {
            table,
            source_index: (0..width).collect(),
            enum_labels: vec![None; width],
        }
    }

    /// Lines up a source table whose columns are `source_columns`, in the source's order.
    /// Columns the catalog does not know are ignored; a catalog column the source lacks is an
    /// error.
    pub fn by_name<S: AsRef<str>>(
        table: TableId,
        source_columns: &[S],
    ) -> Result<Self, DecodeError> {
        let schema = table.schema();
        let source_index = schema
            .columns
            .iter()
            .map(|column| {
                source_columns
                    .iter()
                    .position(|name| name.as_ref().eq_ignore_ascii_case(column.name))
                    .ok_or_else(|| DecodeError::MissingColumn {
                        table: schema.qualified_name(),
                        column: column.name,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(ColumnMapping {
            table,
            source_index,
            enum_labels: vec![None; schema.columns.len()],
        })
    }

    /// Declares the labels of the ENUM in the source's column `source_column` (1-based indexes
    /// in the source's values refer to them).
    pub fn set_enum_labels(&mut self, source_column: usize, labels: Arc<[ArcStr]>) {
        if let Some(catalog_column) = self.source_index.iter().position(|&i| i == source_column) {
            self.enum_labels[catalog_column] = Some(labels);
        }
    }

    /// The catalog table.
    pub fn table(&self) -> TableId {
        self.table
    }

    /// Decodes one row; `value(i)` is the source's value of its column `i` (`None` if the row
    /// image does not carry it).
    pub fn decode_row<'a>(
        &self,
        value: impl Fn(usize) -> Option<&'a MyValue>,
    ) -> Result<Row, DecodeError> {
        let schema = self.table.schema();
        schema
            .columns
            .iter()
            .zip(&self.source_index)
            .zip(&self.enum_labels)
            .map(|((column, &index), labels)| match value(index) {
                Some(v) => decode_value(self.table, column, v, labels.as_deref()),
                None => Err(DecodeError::MissingColumn {
                    table: schema.qualified_name(),
                    column: column.name,
                }),
            })
            .collect()
    }
}

/// One row image of a binlog rows event: the value of every column of the table, `None` for a
/// column the image does not carry.
pub type BinlogImage = Vec<Option<MyValue>>;

/// The column layout of a binlog table, taken from its table-map event, for reading the row
/// images of its rows events.
///
/// mysql_common's own row reader builds every column's full metadata (names, schema, flags)
/// again for every row, which costs more than the values themselves; this reads the values
/// only, each with mysql_common's value decoder.
#[derive(Clone, Debug)]
pub struct BinlogLayout {
    columns: Vec<LayoutColumn>,
}

#[derive(Clone, Debug)]
struct LayoutColumn {
    ty: ColumnType,
    meta: Vec<u8>,
    unsigned: bool,
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl BinlogLayout {
    /// The layout of the table `tme` maps.
    pub fn new(tme: &TableMapEvent<'_>) -> io::Result<Self> {
        let signedness: Vec<bool> = tme
            .iter_optional_meta()
            .find_map(|field| match field {
                Ok(OptionalMetadataField::Signedness(bits)) => {
                    Some(bits.iter().by_vals().collect())
                }
                _ => None,
            })
            .unwrap_or_default();
        let mut numeric = 0;
        let count = usize::try_from(tme.columns_count()).map_err(|_| invalid("column count"))?;
        let columns = (0..count)
            .map(|i| {
                let ty = tme
                    .get_column_type(i)
                    .map_err(|e| invalid(e.to_string()))?
                    .ok_or_else(|| invalid(format!("no type for column {i}")))?;
                let unsigned = ty.is_numeric_type() && {
                    numeric += 1;
                    signedness.get(numeric - 1).copied().unwrap_or(false)
                };
                let meta = tme.get_column_metadata(i).unwrap_or(&[]).to_vec();
                Ok(LayoutColumn { ty, meta, unsigned })
            })
            .collect::<io::Result<_>>()?;
        Ok(BinlogLayout { columns })
    }

    /// The `(before, after)` images of every row of `event`.
    pub fn rows(
        &self,
        event: &RowsEventData<'_>,
    ) -> io::Result<Vec<(Option<BinlogImage>, Option<BinlogImage>)>> {
        if matches!(event, RowsEventData::PartialUpdateRowsEvent(_)) {
            return Err(invalid("partial JSON row updates are not supported"));
        }
        let before: Option<Vec<bool>> = event
            .columns_before_image()
            .map(|bits| bits.iter().by_vals().collect());
        let after: Option<Vec<bool>> = event
            .columns_after_image()
            .map(|bits| bits.iter().by_vals().collect());
        let mut buf = ParseBuf(event.rows_data());
        let mut rows = Vec::new();
        while !buf.is_empty() {
            let before = before
                .as_deref()
                .map(|p| self.image(p, &mut buf))
                .transpose()?;
            let after = after
                .as_deref()
                .map(|p| self.image(p, &mut buf))
                .transpose()?;
            rows.push((before, after));
        }
        Ok(rows)
    }

    /// Reads one image: a NULL bitmap over the present columns, then their values.
    fn image<'a>(&'a self, present: &[bool], buf: &mut ParseBuf<'a>) -> io::Result<BinlogImage> {
        let carried = present
            .iter()
            .take(self.columns.len())
            .filter(|p| **p)
            .count();
        let nulls: &[u8] = buf.parse(carried.div_ceil(8))?;
        let mut image = vec![None; self.columns.len()];
        let mut k = 0;
        for (i, column) in self.columns.iter().enumerate() {
            if !present.get(i).copied().unwrap_or(false) {
                continue;
            }
            let null = nulls[k / 8] >> (k % 8) & 1 == 1;
            k += 1;
            image[i] = if null {
                Some(MyValue::NULL)
            } else {
                let ctx = (column.ty, column.meta.as_slice(), column.unsigned, false);
                match buf.parse::<BinlogValue<'a>>(ctx)? {
                    BinlogValue::Value(value) => Some(value),
                    // JSON: no column of the catalog has it.
                    _ => None,
                }
            };
        }
        Ok(image)
    }
}

/// Decodes one MySQL value of `column` of `table`. Integers index into `enum_labels` (or the
/// catalog's own ENUM labels) for ENUM columns; text is parsed by the column's type.
pub fn decode_value(
    table: TableId,
    column: &ColumnSchema,
    value: &MyValue,
    enum_labels: Option<&[ArcStr]>,
) -> Result<Value, DecodeError> {
    let decoded = match (column.ty, value) {
        (_, MyValue::NULL) => Some(Value::Null),
        (SqlType::Int | SqlType::TinyBool, MyValue::Int(i)) => Some(Value::Int(*i)),
        (SqlType::Int | SqlType::TinyBool, MyValue::UInt(u)) => {
            i64::try_from(*u).ok().map(Value::Int)
        }
        (SqlType::Int | SqlType::TinyBool, MyValue::Bytes(b)) => {
            utf8(b).and_then(|s| s.parse().ok()).map(Value::Int)
        }
        (SqlType::Double, MyValue::Double(d)) => Some(Value::Double(*d)),
        (SqlType::Double, MyValue::Float(f)) => Some(Value::Double(f64::from(*f))),
        (SqlType::Double, MyValue::Bytes(b)) => {
            utf8(b).and_then(|s| s.parse().ok()).map(Value::Double)
        }
        (SqlType::Decimal(_, scale), MyValue::Bytes(b)) => utf8(b)
            .and_then(|s| parse_decimal(s, scale))
            .map(|mantissa| Value::Decimal { mantissa, scale }),
        (SqlType::Decimal(_, scale), MyValue::Int(i)) => i
            .checked_mul(10i64.pow(u32::from(scale)))
            .map(|mantissa| Value::Decimal { mantissa, scale }),
        (SqlType::Varchar(_) | SqlType::Text, MyValue::Bytes(b)) => utf8(b).map(Value::text),
        (SqlType::Enum(_), MyValue::Bytes(b)) => utf8(b).map(Value::text),
        (SqlType::Enum(catalog), MyValue::Int(index)) => enum_label(*index, enum_labels, catalog),
        (SqlType::DateTime, MyValue::Date(y, mo, d, h, mi, s, us)) => {
            calendar(*y, *mo, *d, *h, *mi, *s, *us)
                .map(|dt| Value::DateTimeMillis(datetime_millis(dt)))
        }
        (SqlType::DateTime, MyValue::Bytes(b)) => utf8(b)
            .and_then(parse_datetime_millis)
            .map(Value::DateTimeMillis),
        (SqlType::Date, MyValue::Date(y, mo, d, 0, 0, 0, 0)) => {
            calendar(*y, *mo, *d, 0, 0, 0, 0).map(|dt| Value::Date(days_since_epoch(dt.date())))
        }
        (SqlType::Date, MyValue::Bytes(b)) => utf8(b).and_then(parse_date).map(Value::Date),
        _ => None,
    };
    decoded.ok_or_else(|| DecodeError::BadValue {
        table: table.schema().qualified_name(),
        column: column.name,
        expected: column.ty.to_string(),
        got: kind_of(value),
    })
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// An ENUM's 1-based index as its label; 0 is MySQL's "invalid value" and has none.
fn enum_label(index: i64, source: Option<&[ArcStr]>, catalog: &[&str]) -> Option<Value> {
    let slot = usize::try_from(index).ok()?.checked_sub(1)?;
    match source {
        Some(labels) => labels.get(slot).map(|l| Value::Text(l.clone())),
        None => catalog.get(slot).map(|l| Value::text(l)),
    }
}

fn calendar(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, us: u32) -> Option<PrimitiveDateTime> {
    let date = Date::from_calendar_date(i32::from(y), Month::try_from(mo).ok()?, d).ok()?;
    let time = Time::from_hms_micro(h, mi, s, us).ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

/// The kind of a source value, as an error message names it (never the value).
fn kind_of(value: &MyValue) -> &'static str {
    match value {
        MyValue::NULL => "NULL",
        MyValue::Bytes(_) => "string",
        MyValue::Int(_) | MyValue::UInt(_) => "integer",
        MyValue::Float(_) | MyValue::Double(_) => "floating-point number",
        MyValue::Date(..) => "date",
        MyValue::Time(..) => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(table: TableId, values: &[MyValue]) -> Result<Row, DecodeError> {
        ColumnMapping::identity(table).decode_row(|i| values.get(i))
    }

    #[test]
    fn text_protocol_rows_decode_by_column_type() {
        let schema = TableId::Building.schema();
        let values: Vec<MyValue> = schema
            .columns
            .iter()
            .map(|c| match c.ty {
                SqlType::Int | SqlType::TinyBool => MyValue::Bytes(b"7".to_vec()),
                SqlType::Decimal(..) => MyValue::Bytes(b"12.5".to_vec()),
                SqlType::Double => MyValue::Bytes(b"0.25".to_vec()),
                SqlType::DateTime => MyValue::Bytes(b"2024-05-01 10:00:00.123".to_vec()),
                SqlType::Date => MyValue::Bytes(b"2024-05-01".to_vec()),
                SqlType::Enum(labels) => MyValue::Bytes(labels[0].as_bytes().to_vec()),
                SqlType::Varchar(_) | SqlType::Text => MyValue::Bytes(b"x".to_vec()),
            })
            .collect();
        let decoded = row(TableId::Building, &values).expect("decodes");
        assert_eq!(decoded.len(), schema.columns.len());
        assert_eq!(decoded[0], Value::Int(7));
    }

    #[test]
    fn binlog_enum_indexes_use_the_sources_labels() {
        let status = TableId::People
            .schema()
            .columns
            .iter()
            .find(|c| c.name == "status")
            .expect("people.status");
        let labels: Arc<[ArcStr]> = vec![ArcStr::from("x"), ArcStr::from("y")].into();
        let v = decode_value(TableId::People, status, &MyValue::Int(2), Some(&labels));
        assert_eq!(v, Ok(Value::text("y")));
        let SqlType::Enum(catalog) = status.ty else {
            panic!("status is an enum")
        };
        let v = decode_value(TableId::People, status, &MyValue::Int(1), None);
        assert_eq!(v, Ok(Value::text(catalog[0])));
        assert!(decode_value(TableId::People, status, &MyValue::Int(0), None).is_err());
    }

    #[test]
    fn binlog_datetimes_become_epoch_millis() {
        let column = ColumnSchema {
            name: "t",
            ty: SqlType::DateTime,
            nullable: true,
        };
        let v = decode_value(
            TableId::People,
            &column,
            &MyValue::Date(1970, 1, 1, 0, 0, 2, 250_000),
            None,
        );
        assert_eq!(v, Ok(Value::DateTimeMillis(2250)));
    }

    #[test]
    fn columns_are_matched_by_name_and_missing_ones_are_named() {
        // The source has floor's columns in reverse order, plus one the catalog does not know.
        let mut names: Vec<&str> = TableId::Floor
            .schema()
            .columns
            .iter()
            .rev()
            .map(|c| c.name)
            .collect();
        names.insert(1, "extra");
        let mapping = ColumnMapping::by_name(TableId::Floor, &names).expect("all present");
        let values: Vec<MyValue> = names
            .iter()
            .map(|name| match *name {
                "id" => MyValue::Int(1),
                "building_id" => MyValue::Int(2),
                "level" => MyValue::Int(3),
                other => MyValue::Bytes(other.as_bytes().to_vec()),
            })
            .collect();
        let decoded = mapping.decode_row(|i| values.get(i)).expect("decodes");
        let expected = [
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
            Value::text("name"),
        ];
        assert_eq!(&decoded[..], &expected[..]);
        names.retain(|n| *n != "level");
        let err = ColumnMapping::by_name(TableId::Floor, &names).expect_err("level is missing");
        assert_eq!(
            err.to_string(),
            "twin_infra.floor: the source has no column level"
        );
    }
}
