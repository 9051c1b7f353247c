//! Building valid source rows by column name, for hand-written scenarios.
//!
//! [`row`] fills every column not given with a neutral default (`NULL` where the column is
//! nullable, otherwise 0 / empty text / the enum's first value / epoch) and checks the result
//! with [`twinflow_ingest::validate::check_row`]. The helpers below set the columns the views
//! read; everything else keeps its default.

use std::sync::Arc;

use twinflow_ingest::validate::check_row;
use twinflow_ingest::{Row, SqlType, TableId, Value};

/// A row of `table` with the given columns set by name and every other column defaulted.
///
/// Panics if a name is not a column of `table` or if the row does not validate.
pub fn row(table: TableId, columns: &[(&str, Value)]) -> Row {
    let schema = table.schema();
    let mut values: Vec<Value> = schema
        .columns
        .iter()
        .map(|c| default_value(c.ty, c.nullable))
        .collect();
    for (name, v) in columns {
        let i = table
            .column(name)
            .unwrap_or_else(|| panic!("oracle: {table} has no column `{name}`"));
        values[i] = v.clone();
    }
    if let Err(e) = check_row(table, &values) {
        panic!("oracle: invalid {table} row {values:?}: {e}");
    }
    Arc::from(values)
}

fn default_value(ty: SqlType, nullable: bool) -> Value {
    if nullable {
        return Value::Null;
    }
    match ty {
        SqlType::Int | SqlType::TinyBool => Value::Int(0),
        SqlType::Varchar(_) | SqlType::Text => Value::text(""),
        SqlType::Enum(values) => Value::text(values[0]),
        SqlType::Decimal(_, scale) => Value::Decimal { mantissa: 0, scale },
        SqlType::DateTime => Value::DateTimeMillis(0),
        SqlType::Date => Value::Date(0),
        SqlType::Double => Value::Double(0.0),
    }
}

fn opt(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Int)
}

/// `twin_org.company`; `deleted` sets `deleted_at`.
pub fn company(id: i64, deleted: bool) -> Row {
    let deleted_at = if deleted {
        Value::DateTimeMillis(1_700_000_000_000)
    } else {
        Value::Null
    };
    row(
        TableId::Company,
        &[
            ("id", Value::Int(id)),
            ("name", Value::text(&format!("company {id}"))),
            ("deleted_at", deleted_at),
        ],
    )
}

/// `twin_hr.Function`.
pub fn function(id: i64, company_id: i64, name: &str, parent_function_id: Option<i64>) -> Row {
    row(
        TableId::Function,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("name", Value::text(name)),
            ("parent_function_id", opt(parent_function_id)),
        ],
    )
}

/// `twin_hr.job_level`.
pub fn job_level(id: i64, company_id: i64, name: &str) -> Row {
    row(
        TableId::JobLevel,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("name", Value::text(name)),
        ],
    )
}

/// `twin_hr.job`.
pub fn job(
    id: i64,
    company_id: i64,
    function_id: i64,
    job_level_id: Option<i64>,
    title: &str,
    headcount: i64,
) -> Row {
    row(
        TableId::Job,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("function_id", Value::Int(function_id)),
            ("job_level_id", opt(job_level_id)),
            ("title", Value::text(title)),
            ("headcount", Value::Int(headcount)),
        ],
    )
}

/// `twin_hr.people`; `status` is `active`, `leave` or `terminated`.
pub fn person(
    id: i64,
    company_id: i64,
    job_id: Option<i64>,
    table_id: Option<i64>,
    status: &str,
) -> Row {
    row(
        TableId::People,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("job_id", opt(job_id)),
            ("table_id", opt(table_id)),
            ("first_name", Value::text(&format!("first{id}"))),
            ("last_name", Value::text(&format!("last{id}"))),
            ("email", Value::text(&format!("p{id}@example.com"))),
            ("status", Value::text(status)),
        ],
    )
}

/// `twin_hr.job_skill`.
pub fn job_skill(id: i64, job_id: i64, skill_id: i64, skill_level_id: i64) -> Row {
    row(
        TableId::JobSkill,
        &[
            ("id", Value::Int(id)),
            ("job_id", Value::Int(job_id)),
            ("skill_id", Value::Int(skill_id)),
            ("skill_level_id", Value::Int(skill_level_id)),
        ],
    )
}

/// `twin_hr.table_job`.
pub fn table_job(id: i64, table_id: i64, job_id: i64) -> Row {
    row(
        TableId::TableJob,
        &[
            ("id", Value::Int(id)),
            ("table_id", Value::Int(table_id)),
            ("job_id", Value::Int(job_id)),
        ],
    )
}

/// `twin_process.task`.
pub fn task(id: i64, company_id: i64, name: &str) -> Row {
    row(
        TableId::Task,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("name", Value::text(name)),
        ],
    )
}

/// `twin_process.task_skill`.
pub fn task_skill(id: i64, task_id: i64, skill_id: i64, skill_level_id: i64) -> Row {
    row(
        TableId::TaskSkill,
        &[
            ("id", Value::Int(id)),
            ("task_id", Value::Int(task_id)),
            ("skill_id", Value::Int(skill_id)),
            ("skill_level_id", Value::Int(skill_level_id)),
        ],
    )
}

/// `twin_process.job_task`.
pub fn job_task(id: i64, job_id: i64, task_id: i64) -> Row {
    row(
        TableId::JobTask,
        &[
            ("id", Value::Int(id)),
            ("job_id", Value::Int(job_id)),
            ("task_id", Value::Int(task_id)),
            (
                "allocation_pct",
                Value::Decimal {
                    mantissa: 10_000,
                    scale: 2,
                },
            ),
        ],
    )
}

/// `twin_infra.building`.
pub fn building(id: i64, company_id: i64, name: &str) -> Row {
    row(
        TableId::Building,
        &[
            ("id", Value::Int(id)),
            ("company_id", Value::Int(company_id)),
            ("name", Value::text(name)),
        ],
    )
}

/// `twin_infra.floor`.
pub fn floor(id: i64, building_id: i64, level: i64, name: &str) -> Row {
    row(
        TableId::Floor,
        &[
            ("id", Value::Int(id)),
            ("building_id", Value::Int(building_id)),
            ("level", Value::Int(level)),
            ("name", Value::text(name)),
        ],
    )
}

/// `twin_infra.room`; `kind` is one of `office`, `meeting`, `open_space`, `lab`, `other`.
pub fn room(id: i64, floor_id: i64, name: &str, kind: &str, capacity: i64) -> Row {
    row(
        TableId::Room,
        &[
            ("id", Value::Int(id)),
            ("floor_id", Value::Int(floor_id)),
            ("name", Value::text(name)),
            ("kind", Value::text(kind)),
            ("capacity", Value::Int(capacity)),
        ],
    )
}

/// ``twin_infra.`table` `` (a desk).
pub fn desk(id: i64, room_id: i64, label: &str, seats: i64, pos_x: f64, pos_y: f64) -> Row {
    row(
        TableId::Desk,
        &[
            ("id", Value::Int(id)),
            ("room_id", Value::Int(room_id)),
            ("label", Value::text(label)),
            ("seats", Value::Int(seats)),
            ("pos_x", Value::Double(pos_x)),
            ("pos_y", Value::Double(pos_y)),
        ],
    )
}

/// `twin_skills.skill`.
pub fn skill(id: i64, name: &str, category: &str) -> Row {
    row(
        TableId::Skill,
        &[
            ("id", Value::Int(id)),
            ("name", Value::text(name)),
            ("category", Value::text(category)),
        ],
    )
}

/// `twin_skills.skill_level`.
pub fn skill_level(id: i64, level: i64, name: &str) -> Row {
    row(
        TableId::SkillLevel,
        &[
            ("id", Value::Int(id)),
            ("level", Value::Int(level)),
            ("name", Value::text(name)),
        ],
    )
}
