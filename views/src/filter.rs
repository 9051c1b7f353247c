//! Equality filters on view columns, as given in a query string.

use thiserror::Error;

use crate::catalog::{ColumnType, ViewSchema};
use crate::datum::{Datum, Text};

/// Why a filter could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// The view has no such column.
    #[error("view `{view}` has no column `{column}`")]
    UnknownColumn {
        /// The view.
        view: &'static str,
        /// The column asked for.
        column: String,
    },
    /// The value does not parse as the column's type.
    #[error("column `{column}` is {expected}: cannot compare it with `{value}`")]
    BadValue {
        /// The column.
        column: &'static str,
        /// Its type.
        expected: &'static str,
        /// The value given.
        value: String,
    },
}

/// A conjunction of `column = value` conditions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    conditions: Vec<(usize, Datum)>,
}

impl Filter {
    /// Builds a filter for `schema` from `(column, value)` pairs. The literal `null` matches
    /// `NULL` in a nullable column.
    pub fn parse<'a>(
        schema: &ViewSchema,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Filter, FilterError> {
        let mut conditions = Vec::new();
        for (name, raw) in pairs {
            let index = schema
                .column_index(name)
                .ok_or_else(|| FilterError::UnknownColumn {
                    view: schema.name,
                    column: name.to_owned(),
                })?;
            let column = &schema.columns[index];
            let bad = |expected| FilterError::BadValue {
                column: column.name,
                expected,
                value: raw.to_owned(),
            };
            let value = if column.nullable && raw == "null" {
                Datum::Null
            } else {
                match column.ty {
                    ColumnType::Int => Datum::Int(raw.parse().map_err(|_| bad("an integer"))?),
                    ColumnType::Float => {
                        let f: f64 = raw.parse().map_err(|_| bad("a number"))?;
                        if !f.is_finite() {
                            return Err(bad("a finite number"));
                        }
                        Datum::Float(f)
                    }
                    ColumnType::Text => Datum::Text(Text::from(raw)),
                }
            };
            conditions.push((index, value));
        }
        Ok(Filter { conditions })
    }

    /// The rows of one tenant: `company_id` (column 0 of every view) equals `company`.
    pub fn of_company(company: i64) -> Filter {
        Filter {
            conditions: vec![(0, Datum::Int(company))],
        }
    }

    /// Whether `row` satisfies every condition.
    pub fn matches(&self, row: &[Datum]) -> bool {
        self.conditions.iter().all(|(i, v)| row.get(*i) == Some(v))
    }

    /// The tenant the filter pins, if it has a `company_id` condition (column 0 of every view).
    pub fn company(&self) -> Option<i64> {
        self.conditions
            .iter()
            .find(|(i, _)| *i == 0)
            .and_then(|(_, v)| v.as_int())
    }

    /// The value the filter requires of column `index`, if it has a condition on it.
    pub fn value_of(&self, index: usize) -> Option<&Datum> {
        self.conditions
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, value)| value)
    }

    /// Whether the filter has no conditions.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tests::catalog;
    use crate::catalog::ViewId;

    #[test]
    fn parses_typed_conditions() {
        let catalog = catalog();
        let schema = catalog.schema(ViewId::Occupancy);
        let f = Filter::parse(schema, [("company_id", "2"), ("kind", "lab")]).expect("valid");
        assert_eq!(f.company(), Some(2));
        assert_eq!(f.value_of(5), Some(&Datum::Text("lab".into())));
        assert_eq!(f.value_of(1), None);
        let row: Vec<Datum> = vec![
            Datum::Int(2),
            Datum::Int(6),
            Datum::Int(1),
            Datum::Int(9),
            Datum::Text("R".into()),
            Datum::Text("lab".into()),
            Datum::Int(1),
            Datum::Int(0),
            Datum::Int(0),
            Datum::Int(0),
            Datum::Int(0),
        ];
        assert!(f.matches(&row));
    }

    #[test]
    fn names_the_problem() {
        let catalog = catalog();
        let schema = catalog.schema(ViewId::Occupancy);
        assert!(matches!(
            Filter::parse(schema, [("nope", "1")]),
            Err(FilterError::UnknownColumn { .. })
        ));
        assert!(matches!(
            Filter::parse(schema, [("room_id", "x")]),
            Err(FilterError::BadValue { .. })
        ));
        let staffing = catalog.schema(ViewId::Staffing);
        assert!(Filter::parse(staffing, [("job_level", "null")]).is_ok());
    }
}
