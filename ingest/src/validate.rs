//! Checking row images against the catalog.

use thiserror::Error;

use crate::catalog::{SqlType, TableId};
use crate::change::RowChange;
use crate::value::Value;

/// Why a row image does not fit its table.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The image has the wrong number of columns.
    #[error("{table}: expected {expected} columns, got {got}")]
    Arity {
        /// `database.table`.
        table: String,
        /// Columns in the catalog.
        expected: usize,
        /// Columns in the image.
        got: usize,
    },
    /// `NULL` in a `NOT NULL` column.
    #[error("{table}.{column}: NULL in a NOT NULL column")]
    NullInNotNull {
        /// `database.table`.
        table: String,
        /// The column.
        column: &'static str,
    },
    /// A value of the wrong type (the value itself is not kept: it may be secret).
    #[error("{table}.{column}: expected {expected}, got a {got} that does not fit")]
    WrongType {
        /// `database.table`.
        table: String,
        /// The column.
        column: &'static str,
        /// The SQL type.
        expected: String,
        /// The kind of value received.
        got: &'static str,
    },
    /// A change with neither a before nor an after image, or whose images are of different rows
    /// without a key.
    #[error("{table}: change has no row image with an integer primary key")]
    NoKey {
        /// `database.table`.
        table: String,
    },
}

/// Checks that `row` fits `table`'s columns.
pub fn check_row(table: TableId, row: &[Value]) -> Result<(), RowError> {
    let schema = table.schema();
    if row.len() != schema.columns.len() {
        return Err(RowError::Arity {
            table: schema.qualified_name(),
            expected: schema.columns.len(),
            got: row.len(),
        });
    }
    for (column, value) in schema.columns.iter().zip(row) {
        if value.is_null() {
            if !column.nullable {
                return Err(RowError::NullInNotNull {
                    table: schema.qualified_name(),
                    column: column.name,
                });
            }
            continue;
        }
        if !fits(column.ty, value) {
            return Err(RowError::WrongType {
                table: schema.qualified_name(),
                column: column.name,
                expected: column.ty.to_string(),
                got: value.kind(),
            });
        }
    }
    Ok(())
}

/// Checks both images of a change and that it names a primary key.
pub fn check_change(change: &RowChange) -> Result<(), RowError> {
    for row in [&change.before, &change.after].into_iter().flatten() {
        check_row(change.table, row)?;
    }
    if change.key().is_none() {
        return Err(RowError::NoKey {
            table: change.table.schema().qualified_name(),
        });
    }
    Ok(())
}

fn fits(ty: SqlType, value: &Value) -> bool {
    match (ty, value) {
        (SqlType::Int, Value::Int(i)) => i32::try_from(*i).is_ok(),
        (SqlType::TinyBool, Value::Int(i)) => (-128..=127).contains(i),
        // VARCHAR(n) counts characters; a text of at most n bytes has at most n of them, so
        // only longer ones are counted.
        (SqlType::Varchar(n), Value::Text(s)) => {
            s.len() <= n as usize || s.chars().count() <= n as usize
        }
        (SqlType::Text, Value::Text(s)) => s.len() <= 65_535,
        (SqlType::Enum(allowed), Value::Text(s)) => allowed.contains(&&**s),
        (SqlType::Decimal(precision, scale), Value::Decimal { mantissa, scale: s }) => {
            *s == scale
                && precision <= 18
                && mantissa.unsigned_abs() < 10u64.pow(u32::from(precision))
        }
        (SqlType::DateTime, Value::DateTimeMillis(_)) => true,
        (SqlType::Date, Value::Date(_)) => true,
        (SqlType::Double, Value::Double(f)) => f.is_finite(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(kind: &str) -> Vec<Value> {
        vec![
            Value::Int(1),
            Value::Int(2),
            Value::text("R1"),
            Value::text(kind),
            Value::Int(4),
        ]
    }

    #[test]
    fn accepts_a_valid_row() {
        assert_eq!(check_row(TableId::Room, &room("lab")), Ok(()));
    }

    #[test]
    fn rejects_unknown_enum_values_nulls_and_arity() {
        assert!(matches!(
            check_row(TableId::Room, &room("kitchen")),
            Err(RowError::WrongType { .. })
        ));
        let mut r = room("lab");
        r[2] = Value::Null;
        assert!(matches!(
            check_row(TableId::Room, &r),
            Err(RowError::NullInNotNull { column: "name", .. })
        ));
        assert!(matches!(
            check_row(TableId::Room, &r[..3]),
            Err(RowError::Arity { .. })
        ));
    }

    #[test]
    fn varchar_lengths_count_characters_not_bytes() {
        let name = |text: String| {
            let mut r = room("lab");
            r[2] = Value::text(&text);
            check_row(TableId::Room, &r)
        };
        let limit = 255; // twin_infra.room.name is VARCHAR(255)
        assert_eq!(
            name("é".repeat(limit)),
            Ok(()),
            "{limit} characters, twice as many bytes"
        );
        assert!(name("é".repeat(limit + 1)).is_err());
        assert!(name("e".repeat(limit + 1)).is_err());
    }

    #[test]
    fn rejects_out_of_range_ints() {
        let mut r = room("lab");
        r[4] = Value::Int(1 << 40);
        assert!(check_row(TableId::Room, &r).is_err());
    }
}
