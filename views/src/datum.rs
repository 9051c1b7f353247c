//! Values of view rows, rows and view keys.

use std::cmp::Ordering;
use std::sync::Arc;

pub use arcstr::ArcStr as Text;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// One value of a view row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Datum {
    /// SQL `NULL` (from a LEFT JOIN that found nothing).
    Null,
    /// An integer column (ids, counts, sums).
    Int(i64),
    /// A floating-point column (`DOUBLE` positions, derived ratios).
    Float(f64),
    /// A text column (a thin pointer: rows are most of the served state, and this keeps a
    /// `Datum` at 16 bytes).
    Text(Text),
}

// Rows are most of the served state: a value takes two words.
const _: () = assert!(std::mem::size_of::<Datum>() == 16);

impl Datum {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Datum::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as JSON (a float that is not finite becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Datum::Null => serde_json::Value::Null,
            Datum::Int(i) => (*i).into(),
            Datum::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Datum::Text(s) => s.to_string().into(),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Int(_) => 1,
            Datum::Float(_) => 2,
            Datum::Text(_) => 3,
        }
    }
}

impl From<i64> for Datum {
    fn from(i: i64) -> Self {
        Datum::Int(i)
    }
}

impl From<Option<i64>> for Datum {
    fn from(i: Option<i64>) -> Self {
        i.map_or(Datum::Null, Datum::Int)
    }
}

impl From<f64> for Datum {
    fn from(f: f64) -> Self {
        Datum::Float(f)
    }
}

impl From<Option<Text>> for Datum {
    fn from(s: Option<Text>) -> Self {
        s.map_or(Datum::Null, Datum::Text)
    }
}

impl From<Text> for Datum {
    fn from(s: Text) -> Self {
        Datum::Text(s)
    }
}

impl PartialEq for Datum {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Datum {}

impl PartialOrd for Datum {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Datum {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Datum::Int(a), Datum::Int(b)) => a.cmp(b),
            (Datum::Float(a), Datum::Float(b)) => a.total_cmp(b),
            (Datum::Text(a), Datum::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl std::hash::Hash for Datum {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Datum::Null => {}
            Datum::Int(i) => i.hash(state),
            Datum::Float(f) => f.to_bits().hash(state),
            Datum::Text(s) => s.hash(state),
        }
    }
}

/// A view row: its values in the view's column order.
pub type Row = Arc<[Datum]>;

/// The values of a view's key columns (one or two integers).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(pub SmallVec<[i64; 2]>);

impl Key {
    /// A key of the given parts.
    pub fn new(parts: &[i64]) -> Self {
        Key(SmallVec::from_slice(parts))
    }
}
