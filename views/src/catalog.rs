//! The catalog of served views: names, key columns and typed columns, as in `views.sql`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::datum::{Datum, Key};

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
    key_indexes: &'static [usize],
}

impl ViewSchema {
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

const fn int(name: &'static str) -> ViewColumn {
    ViewColumn {
        name,
        ty: ColumnType::Int,
        nullable: false,
    }
}
const fn nullable_int(name: &'static str) -> ViewColumn {
    ViewColumn {
        name,
        ty: ColumnType::Int,
        nullable: true,
    }
}
const fn text(name: &'static str) -> ViewColumn {
    ViewColumn {
        name,
        ty: ColumnType::Text,
        nullable: false,
    }
}
const fn nullable_text(name: &'static str) -> ViewColumn {
    ViewColumn {
        name,
        ty: ColumnType::Text,
        nullable: true,
    }
}
const fn float(name: &'static str) -> ViewColumn {
    ViewColumn {
        name,
        ty: ColumnType::Float,
        nullable: false,
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

static SCHEMAS: [ViewSchema; 7] = [
    ViewSchema {
        name: "staffing",
        description:
            "one row per job of a live company: planned positions against the people in it",
        key: &["job_id"],
        key_indexes: &[3],
        columns: &[
            int("company_id"),
            int("function_id"),
            nullable_text("function_name"),
            int("job_id"),
            text("job_title"),
            nullable_text("job_level"),
            int("planned"),
            int("filled"),
            int("on_leave"),
            int("vacancies"),
            int("overstaffed"),
        ],
    },
    ViewSchema {
        name: "staffing_by_function",
        description: "one row per Function of a live company: the sums of its jobs' staffing rows",
        key: &["function_id"],
        key_indexes: &[1],
        columns: &[
            int("company_id"),
            int("function_id"),
            text("function_name"),
            nullable_int("parent_function_id"),
            int("jobs"),
            int("planned"),
            int("filled"),
            int("on_leave"),
            int("vacancies"),
            int("overstaffed"),
        ],
    },
    ViewSchema {
        name: "desk_occupancy",
        description: "one row per desk whose room, floor and building exist, of a live company",
        key: &["table_id"],
        key_indexes: &[4],
        columns: &[
            int("company_id"),
            int("building_id"),
            int("floor_id"),
            int("room_id"),
            int("table_id"),
            text("label"),
            int("seats"),
            float("pos_x"),
            float("pos_y"),
            int("assigned"),
            int("reserved_jobs"),
        ],
    },
    ViewSchema {
        name: "occupancy",
        description: "one row per room whose floor and building exist, of a live company",
        key: &["room_id"],
        key_indexes: &[3],
        columns: &[
            int("company_id"),
            int("building_id"),
            int("floor_id"),
            int("room_id"),
            text("room_name"),
            text("kind"),
            int("capacity"),
            int("desks"),
            int("seats"),
            int("assigned"),
            int("reserved_desks"),
        ],
    },
    ViewSchema {
        name: "occupancy_by_floor",
        description: "one row per floor of an existing building of a live company",
        key: &["floor_id"],
        key_indexes: &[2],
        columns: &[
            int("company_id"),
            int("building_id"),
            int("floor_id"),
            int("level"),
            text("floor_name"),
            int("rooms"),
            int("capacity"),
            int("desks"),
            int("seats"),
            int("assigned"),
            int("reserved_desks"),
        ],
    },
    ViewSchema {
        name: "occupancy_by_building",
        description: "one row per building of a live company",
        key: &["building_id"],
        key_indexes: &[1],
        columns: &[
            int("company_id"),
            int("building_id"),
            text("building_name"),
            int("floors"),
            int("rooms"),
            int("capacity"),
            int("desks"),
            int("seats"),
            int("assigned"),
            int("reserved_desks"),
        ],
    },
    ViewSchema {
        name: "skill_coverage",
        description:
            "one row per (live company, existing skill) held by a job or required by a task",
        key: &["company_id", "skill_id"],
        key_indexes: &[0, 1],
        columns: &[
            int("company_id"),
            int("skill_id"),
            text("skill_name"),
            text("category"),
            int("jobs_with_skill"),
            int("holders"),
            int("tasks_requiring"),
            int("tasks_covered"),
            int("gap"),
        ],
    },
];

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

    /// The view's schema.
    pub fn schema(self) -> &'static ViewSchema {
        &SCHEMAS[self as usize]
    }

    /// The view's name.
    pub fn name(self) -> &'static str {
        self.schema().name
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
mod tests {
    use super::*;

    #[test]
    fn key_indexes_name_the_key_columns() {
        for view in ViewId::ALL {
            let schema = view.schema();
            let named: Vec<_> = schema
                .key_indexes
                .iter()
                .map(|&i| schema.columns[i].name)
                .collect();
            assert_eq!(named, schema.key, "{view}");
            assert_eq!(schema.columns[0].name, "company_id", "{view}");
            assert_eq!(view.name().parse::<ViewId>(), Ok(view));
        }
    }
}
