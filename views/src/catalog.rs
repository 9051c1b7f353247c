//! The catalog of served views: which views there are ([`ViewId`], by name) and what each
//! one's rows hold ([`ViewSchema`]: key and typed columns, as in `views.sql`).
//!
//! A view's schema is declared by the dataflow that builds its rows, next to that code, and
//! handed to the served state as a [`ViewCatalog`] when the engine starts; this crate only
//! checks it (key columns exist, are integers and never NULL; `company_id` comes first).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use thiserror::Error;

use crate::datum::{Datum, Key, Text};

/// The type of a view column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    Text,
}

/// One column of a view.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ViewColumn {
    /// The SQL column name.
    pub name: &'static str,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether it may be `NULL`.
    pub nullable: bool,
}

/// The Rust types a view column may have, with the column type and nullability they give.
pub trait ColumnValue: Into<Datum> {
    /// The column's type.
    const TYPE: ColumnType;
    /// Whether the column may be `NULL`.
    const NULLABLE: bool;
}

impl ColumnValue for i64 {
    const TYPE: ColumnType = ColumnType::Int;
    const NULLABLE: bool = false;
}

impl ColumnValue for Option<i64> {
    const TYPE: ColumnType = ColumnType::Int;
    const NULLABLE: bool = true;
}

impl ColumnValue for f64 {
    const TYPE: ColumnType = ColumnType::Float;
    const NULLABLE: bool = false;
}

impl ColumnValue for Text {
    const TYPE: ColumnType = ColumnType::Text;
    const NULLABLE: bool = false;
}

impl ColumnValue for Option<Text> {
    const TYPE: ColumnType = ColumnType::Text;
    const NULLABLE: bool = true;
}

impl ViewColumn {
    /// The column `name` holding values of type `T`.
    pub const fn of<T: ColumnValue>(name: &'static str) -> ViewColumn {
        ViewColumn {
            name,
            ty: T::TYPE,
            nullable: T::NULLABLE,
        }
    }
}

/// A view's schema as its dataflow declares it, before the catalog checks it.
#[derive(Clone, Copy, Debug)]
pub struct ViewDefinition {
    /// The view.
    pub view: ViewId,
    /// What one row stands for.
    pub description: &'static str,
    /// The columns that identify a row, by name.
    pub key: &'static [&'static str],
    /// All columns, in order.
    pub columns: &'static [ViewColumn],
}

/// Why a view's definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CatalogError {
    /// A key column is not a column of the view.
    #[error("{view}: the key column `{column}` is not a column of the view")]
    UnknownKeyColumn {
        /// The view.
        view: ViewId,
        /// The key column.
        column: &'static str,
    },
    /// A key column may be NULL or is not an integer.
    #[error("{view}: the key column `{column}` must be a non-NULL integer")]
    KeyColumnType {
        /// The view.
        view: ViewId,
        /// The key column.
        column: &'static str,
    },
    /// The first column is not the tenant, `company_id`.
    #[error("{view}: the first column must be `company_id`, the tenant of the row")]
    NoTenant {
        /// The view.
        view: ViewId,
    },
    /// A view has no definition, or more than one.
    #[error("{view}: {count} definitions; every view has exactly one")]
    Definitions {
        /// The view.
        view: ViewId,
        /// How many were given.
        count: usize,
    },
}

/// One served view.
#[derive(Debug, Serialize)]
pub struct ViewSchema {
    /// The view name, as in `views.sql`.
    pub name: &'static str,
    /// What one row stands for.
    pub description: &'static str,
    /// The columns that identify a row.
    pub key: &'static [&'static str],
    /// All columns, in order.
    pub columns: &'static [ViewColumn],
    #[serde(skip)]
    key_indexes: Vec<usize>,
}

impl ViewSchema {
    /// Checks `definition`: every key column is a non-NULL integer column of the view, and the
    /// first column is `company_id`.
    pub fn new(definition: ViewDefinition) -> Result<ViewSchema, CatalogError> {
        let ViewDefinition {
            view,
            description,
            key,
            columns,
        } = definition;
        if columns.first().map(|c| c.name) != Some("company_id") {
            return Err(CatalogError::NoTenant { view });
        }
        let key_indexes = key
            .iter()
            .map(|&column| {
                let index = columns
                    .iter()
                    .position(|c| c.name == column)
                    .ok_or(CatalogError::UnknownKeyColumn { view, column })?;
                let c = &columns[index];
                if c.ty != ColumnType::Int || c.nullable {
                    return Err(CatalogError::KeyColumnType { view, column });
                }
                Ok(index)
            })
            .collect::<Result<_, _>>()?;
        Ok(ViewSchema {
            name: view.name(),
            description,
            key,
            columns,
            key_indexes,
        })
    }

    /// The index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The key of a row of this view. Key columns are integers and never NULL.
    pub fn key_of(&self, row: &[Datum]) -> Key {
        Key(self
            .key_indexes
            .iter()
            .map(|&i| row.get(i).and_then(Datum::as_int).unwrap_or_default())
            .collect())
    }

    /// A row as a JSON object of its columns.
    pub fn row_json(&self, row: &[Datum]) -> serde_json::Value {
        let columns = self
            .columns
            .iter()
            .zip(row)
            .map(|(column, value)| (column.name.to_string(), value.to_json()))
            .collect();
        serde_json::Value::Object(columns)
    }

    /// A key as a JSON object of the key columns.
    pub fn key_json(&self, key: &Key) -> serde_json::Value {
        let columns = self
            .key
            .iter()
            .zip(key.0.iter())
            .map(|(name, value)| (name.to_string(), (*value).into()))
            .collect();
        serde_json::Value::Object(columns)
    }

    /// The tenant (`company_id`, always column 0) of a row.
    pub fn company_of(row: &[Datum]) -> i64 {
        row.first().and_then(Datum::as_int).unwrap_or_default()
    }
}

/// Every view's schema, indexed by [`ViewId`].
#[derive(Debug)]
pub struct ViewCatalog {
    schemas: Vec<ViewSchema>,
}

impl ViewCatalog {
    /// The catalog of `definitions`, one for each view in any order, each checked.
    pub fn new(
        definitions: impl IntoIterator<Item = ViewDefinition>,
    ) -> Result<ViewCatalog, CatalogError> {
        let mut slots: Vec<Vec<ViewDefinition>> = ViewId::ALL.iter().map(|_| Vec::new()).collect();
        for definition in definitions {
            slots[definition.view.index()].push(definition);
        }
        let schemas = ViewId::ALL
            .into_iter()
            .zip(slots)
            .map(|(view, mut slot)| match (slot.pop(), slot.len()) {
                (Some(definition), 0) => ViewSchema::new(definition),
                (found, more) => Err(CatalogError::Definitions {
                    view,
                    count: usize::from(found.is_some()) + more,
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(ViewCatalog { schemas })
    }

    /// The schema of `view`.
    pub fn schema(&self, view: ViewId) -> &ViewSchema {
        &self.schemas[view.index()]
    }
}

/// Every served view.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ViewId {
    /// One row per job of a live company.
    Staffing,
    /// One row per Function of a live company.
    StaffingByFunction,
    /// One row per desk in an existing room, floor and building of a live company.
    DeskOccupancy,
    /// One row per room.
    Occupancy,
    /// One row per floor.
    OccupancyByFloor,
    /// One row per building.
    OccupancyByBuilding,
    /// One row per (company, skill) held or required.
    SkillCoverage,
}

impl ViewId {
    /// All views, in catalog order.
    pub const ALL: [ViewId; 7] = [
        ViewId::Staffing,
        ViewId::StaffingByFunction,
        ViewId::DeskOccupancy,
        ViewId::Occupancy,
        ViewId::OccupancyByFloor,
        ViewId::OccupancyByBuilding,
        ViewId::SkillCoverage,
    ];

    /// The view's name, as in `views.sql` and in the API's paths.
    pub fn name(self) -> &'static str {
        match self {
            ViewId::Staffing => "staffing",
            ViewId::StaffingByFunction => "staffing_by_function",
            ViewId::DeskOccupancy => "desk_occupancy",
            ViewId::Occupancy => "occupancy",
            ViewId::OccupancyByFloor => "occupancy_by_floor",
            ViewId::OccupancyByBuilding => "occupancy_by_building",
            ViewId::SkillCoverage => "skill_coverage",
        }
    }

    /// Position in [`ViewId::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ViewId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ViewId::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| format!("unknown view `{s}`"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A catalog for this crate's tests: every view keyed by its second column, with the
    /// columns the tests name.
    pub(crate) fn catalog() -> ViewCatalog {
        const ROOMS: &[ViewColumn] = &[
            ViewColumn::of::<i64>("company_id"),
            ViewColumn::of::<i64>("building_id"),
            ViewColumn::of::<i64>("floor_id"),
            ViewColumn::of::<i64>("room_id"),
            ViewColumn::of::<Text>("room_name"),
            ViewColumn::of::<Text>("kind"),
        ];
        const OTHERS: &[ViewColumn] = &[
            ViewColumn::of::<i64>("company_id"),
            ViewColumn::of::<i64>("id"),
            ViewColumn::of::<Option<Text>>("job_level"),
        ];
        ViewCatalog::new(ViewId::ALL.map(|view| ViewDefinition {
            view,
            description: "a test view",
            key: if view == ViewId::Occupancy {
                &["room_id"]
            } else {
                &["id"]
            },
            columns: if view == ViewId::Occupancy {
                ROOMS
            } else {
                OTHERS
            },
        }))
        .expect("a valid catalog")
    }

    #[test]
    fn names_parse_back() {
        for view in ViewId::ALL {
            assert_eq!(view.name().parse::<ViewId>(), Ok(view));
        }
    }

    #[test]
    fn a_definition_is_checked() {
        const COLUMNS: &[ViewColumn] = &[
            ViewColumn::of::<i64>("company_id"),
            ViewColumn::of::<Option<i64>>("parent_id"),
            ViewColumn::of::<Text>("name"),
        ];
        let definition = |key: &'static [&'static str]| ViewDefinition {
            view: ViewId::Staffing,
            description: "",
            key,
            columns: COLUMNS,
        };
        let schema = ViewSchema::new(definition(&["company_id"])).expect("valid");
        assert_eq!(schema.key_of(&[Datum::Int(4), Datum::Null]), Key::new(&[4]));
        for (key, refused) in [
            (
                &["nope"][..],
                CatalogError::UnknownKeyColumn {
                    view: ViewId::Staffing,
                    column: "nope",
                },
            ),
            (
                &["parent_id"][..],
                CatalogError::KeyColumnType {
                    view: ViewId::Staffing,
                    column: "parent_id",
                },
            ),
            (
                &["name"][..],
                CatalogError::KeyColumnType {
                    view: ViewId::Staffing,
                    column: "name",
                },
            ),
        ] {
            assert_eq!(ViewSchema::new(definition(key)).unwrap_err(), refused);
        }
        let no_tenant = ViewDefinition {
            columns: &COLUMNS[1..],
            ..definition(&["company_id"])
        };
        assert!(matches!(
            ViewSchema::new(no_tenant),
            Err(CatalogError::NoTenant { .. })
        ));
        let one_missing = ViewCatalog::new(ViewId::ALL[1..].iter().map(|&view| ViewDefinition {
            view,
            ..definition(&["company_id"])
        }));
        assert!(matches!(
            one_missing,
            Err(CatalogError::Definitions { count: 0, .. })
        ));
    }
}
