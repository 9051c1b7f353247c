//! Typed SQL values and row images.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use arcstr::ArcStr;
use serde::{Deserialize, Serialize};

/// One SQL value, typed as the catalog's column types need it.
///
/// Integers of every width (`INT`, `TINYINT(1)`) are [`Value::Int`]; `VARCHAR`, `TEXT`, `CHAR` and
/// `ENUM` are [`Value::Text`]; `DECIMAL` keeps its exact digits as a scaled integer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// Any SQL integer type.
    Int(i64),
    /// `DOUBLE`.
    Double(f64),
    /// `DECIMAL(p, s)`: `mantissa / 10^scale`.
    Decimal {
        /// The digits as an integer (the contract's decimals have at most 18 digits).
        mantissa: i64,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// Character data (`VARCHAR`, `CHAR`, `TEXT`, `ENUM`). An `ArcStr`: one pointer, so a
    /// value takes two words; text shared by many rows (an enum label, a source's fixed
    /// vocabulary) can be a static one, whose clones and drops touch no reference count.
    Text(ArcStr),
    /// `DATETIME(3)`: milliseconds since the Unix epoch (UTC, as the server stores it).
    DateTimeMillis(i64),
    /// `DATE`: days since the Unix epoch.
    Date(i32),
}

impl Value {
    /// A text value.
    pub fn text(s: &str) -> Value {
        Value::Text(ArcStr::from(s))
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&ArcStr> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The float, if this is a `DOUBLE`.
    pub fn as_double(&self) -> Option<f64> {
        match self {
            Value::Double(f) => Some(*f),
            _ => None,
        }
    }

    /// Whether this is SQL `NULL`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Double(_) => "double",
            Value::Decimal { .. } => "decimal",
            Value::Text(_) => "text",
            Value::DateTimeMillis(_) => "datetime",
            Value::Date(_) => "date",
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Int(_) => 1,
            Value::Double(_) => 2,
            Value::Decimal { .. } => 3,
            Value::Text(_) => 4,
            Value::DateTimeMillis(_) => 5,
            Value::Date(_) => 6,
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Double(a), Value::Double(b)) => a.total_cmp(b),
            (
                Value::Decimal {
                    mantissa: a,
                    scale: sa,
                },
                Value::Decimal {
                    mantissa: b,
                    scale: sb,
                },
            ) => (sa, a).cmp(&(sb, b)),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::DateTimeMillis(a), Value::DateTimeMillis(b)) => a.cmp(b),
            (Value::Date(a), Value::Date(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Decimal { mantissa, scale } => {
                let divisor = 10i64.pow(u32::from(*scale));
                let sign = if *mantissa < 0 { "-" } else { "" };
                let abs = mantissa.unsigned_abs();
                let div = divisor.unsigned_abs();
                if *scale == 0 {
                    write!(f, "{sign}{abs}")
                } else {
                    write!(
                        f,
                        "{sign}{}.{:0width$}",
                        abs / div,
                        abs % div,
                        width = *scale as usize
                    )
                }
            }
            Value::Text(s) => f.write_str(s),
            Value::DateTimeMillis(ms) => write!(f, "{ms}ms"),
            Value::Date(d) => write!(f, "day {d}"),
        }
    }
}

// Row images are what every change carries: a value takes two words.
const _: () = assert!(std::mem::size_of::<Value>() == 16);

/// A row image: the values of one table row, in the catalog's column order.
pub type Row = Arc<[Value]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_displays_exact_digits() {
        let v = Value::Decimal {
            mantissa: -12345,
            scale: 2,
        };
        assert_eq!(v.to_string(), "-123.45");
        let v = Value::Decimal {
            mantissa: 5,
            scale: 3,
        };
        assert_eq!(v.to_string(), "0.005");
    }

    #[test]
    fn doubles_order_totally() {
        assert!(Value::Double(-0.5) < Value::Double(1.0));
        assert_eq!(Value::Double(f64::NAN), Value::Double(f64::NAN));
    }
}
