//! The typed table catalog of the contract's `schema.sql`.
//!
//! Every table of every domain database is described here with its columns in declaration
//! order and their SQL types. Sources address tables by [`TableId`]; row images follow the
//! column order of [`TableSchema::columns`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A SQL column type as the contract uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    /// `INT`.
    Int,
    /// `TINYINT(1)`, a boolean stored as 0 or 1.
    TinyBool,
    /// `VARCHAR(n)` / `CHAR(n)`: at most `n` characters.
    Varchar(u32),
    /// `TEXT`.
    Text,
    /// `ENUM(...)` with its allowed values.
    Enum(&'static [&'static str]),
    /// `DECIMAL(precision, scale)`.
    Decimal(u8, u8),
    /// `DATETIME(3)`.
    DateTime,
    /// `DATE`.
    Date,
    /// `DOUBLE`.
    Double,
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Int => f.write_str("INT"),
            SqlType::TinyBool => f.write_str("TINYINT(1)"),
            SqlType::Varchar(n) => write!(f, "VARCHAR({n})"),
            SqlType::Text => f.write_str("TEXT"),
            SqlType::Enum(values) => write!(f, "ENUM({})", values.join(",")),
            SqlType::Decimal(p, s) => write!(f, "DECIMAL({p},{s})"),
            SqlType::DateTime => f.write_str("DATETIME(3)"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Double => f.write_str("DOUBLE"),
        }
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSchema {
    /// The column name, as in `schema.sql`.
    pub name: &'static str,
    /// Its SQL type.
    pub ty: SqlType,
    /// Whether `NULL` is allowed.
    pub nullable: bool,
}

/// One table of a domain database.
#[derive(Debug)]
pub struct TableSchema {
    /// The database (`twin_hr`, ...).
    pub database: &'static str,
    /// The table name, exactly as the service spells it.
    pub name: &'static str,
    /// The columns in declaration order; the first is always the primary key `id`.
    pub columns: &'static [ColumnSchema],
}

impl TableSchema {
    /// The index of a column by name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// `database.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }
}

const fn col(name: &'static str, ty: SqlType) -> ColumnSchema {
    ColumnSchema {
        name,
        ty,
        nullable: false,
    }
}

const fn null(name: &'static str, ty: SqlType) -> ColumnSchema {
    ColumnSchema {
        name,
        ty,
        nullable: true,
    }
}

use SqlType::*;

const PEOPLE_STATUS: &[&str] = &["active", "leave", "terminated"];
const ROOM_KIND: &[&str] = &["office", "meeting", "open_space", "lab", "other"];
const IMPORT_STATUS: &[&str] = &["queued", "running", "done", "failed"];

macro_rules! catalog {
    ($( $(#[$doc:meta])* $variant:ident = $db:literal . $table:literal [ $($column:expr),* $(,)? ] ),* $(,)?) => {
        /// Every table of the contract, one variant each.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum TableId {
            $( $(#[$doc])* $variant, )*
        }

        static SCHEMAS: &[TableSchema] = &[
            $( TableSchema { database: $db, name: $table, columns: &[ $($column),* ] }, )*
        ];

        impl TableId {
            /// All tables, in catalog order.
            pub const ALL: &'static [TableId] = &[ $( TableId::$variant, )* ];
        }
    };
}

catalog! {
    /// `twin_auth.role`
    Role = "twin_auth"."role" [
        col("id", Int), col("name", Varchar(64)), null("permissions", Text),
        col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_auth.user`
    User = "twin_auth"."user" [
        col("id", Int), col("email", Varchar(255)), col("password_hash", Varchar(255)),
        col("display_name", Varchar(255)), col("role_id", Int), null("company_id", Int),
        col("is_active", TinyBool), null("last_login_at", DateTime),
        col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_org.OrganizationType`
    OrganizationType = "twin_org"."OrganizationType" [
        col("id", Int), col("name", Varchar(128)), null("description", Text),
    ],
    /// `twin_org.company`
    Company = "twin_org"."company" [
        col("id", Int), col("name", Varchar(255)), col("organization_type_id", Int),
        null("country", Varchar(2)), col("timezone", Varchar(64)),
        col("created_at", DateTime), col("updated_at", DateTime), null("deleted_at", DateTime),
    ],
    /// `twin_hr.Function`
    Function = "twin_hr"."Function" [
        col("id", Int), col("company_id", Int), col("name", Varchar(255)),
        null("parent_function_id", Int), col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_hr.job_level`
    JobLevel = "twin_hr"."job_level" [
        col("id", Int), col("company_id", Int), col("name", Varchar(64)), col("rank", Int),
    ],
    /// `twin_hr.job`
    Job = "twin_hr"."job" [
        col("id", Int), col("company_id", Int), col("function_id", Int), null("job_level_id", Int),
        col("title", Varchar(255)), col("headcount", Int),
        col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_hr.people`
    People = "twin_hr"."people" [
        col("id", Int), col("company_id", Int), null("job_id", Int), null("table_id", Int),
        col("first_name", Varchar(128)), col("last_name", Varchar(128)), col("email", Varchar(255)),
        col("status", Enum(PEOPLE_STATUS)), null("hired_at", Date),
        col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_hr.job_skill`
    JobSkill = "twin_hr"."job_skill" [
        col("id", Int), col("job_id", Int), col("skill_id", Int), col("skill_level_id", Int),
    ],
    /// `twin_hr.table_job`
    TableJob = "twin_hr"."table_job" [
        col("id", Int), col("table_id", Int), col("job_id", Int),
    ],
    /// `twin_process.process`
    Process = "twin_process"."process" [
        col("id", Int), col("company_id", Int), null("function_id", Int), col("name", Varchar(255)),
        null("description", Text), col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_process.task`
    Task = "twin_process"."task" [
        col("id", Int), col("company_id", Int), col("name", Varchar(255)),
        col("duration_minutes", Int), col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_process.process_task`
    ProcessTask = "twin_process"."process_task" [
        col("id", Int), col("process_id", Int), col("task_id", Int), col("position", Int),
    ],
    /// `twin_process.task_skill`
    TaskSkill = "twin_process"."task_skill" [
        col("id", Int), col("task_id", Int), col("skill_id", Int), col("skill_level_id", Int),
    ],
    /// `twin_process.job_task`
    JobTask = "twin_process"."job_task" [
        col("id", Int), col("job_id", Int), col("task_id", Int), col("allocation_pct", Decimal(5, 2)),
    ],
    /// `twin_infra.building`
    Building = "twin_infra"."building" [
        col("id", Int), col("company_id", Int), col("name", Varchar(255)), null("address", Varchar(512)),
        null("latitude", Decimal(9, 6)), null("longitude", Decimal(9, 6)),
        col("created_at", DateTime), col("updated_at", DateTime),
    ],
    /// `twin_infra.floor`
    Floor = "twin_infra"."floor" [
        col("id", Int), col("building_id", Int), col("level", Int), col("name", Varchar(64)),
    ],
    /// `twin_infra.room`
    Room = "twin_infra"."room" [
        col("id", Int), col("floor_id", Int), col("name", Varchar(255)),
        col("kind", Enum(ROOM_KIND)), col("capacity", Int),
    ],
    /// ``twin_infra.`table` `` (a desk)
    Desk = "twin_infra"."table" [
        col("id", Int), col("room_id", Int), col("label", Varchar(64)), col("seats", Int),
        col("pos_x", Double), col("pos_y", Double),
    ],
    /// `twin_infra.building_cell`
    BuildingCell = "twin_infra"."building_cell" [
        col("id", Int), col("floor_id", Int), null("room_id", Int), col("x", Int), col("y", Int),
        col("kind", Varchar(32)),
    ],
    /// `twin_skills.skill`
    Skill = "twin_skills"."skill" [
        col("id", Int), col("name", Varchar(255)), col("category", Varchar(128)), null("description", Text),
    ],
    /// `twin_skills.skill_level`
    SkillLevel = "twin_skills"."skill_level" [
        col("id", Int), col("level", Int), col("name", Varchar(64)),
    ],
    /// `twin_integration.import_jobs`
    ImportJobs = "twin_integration"."import_jobs" [
        col("id", Int), col("company_id", Int), col("kind", Varchar(64)),
        col("status", Enum(IMPORT_STATUS)), col("rows_total", Int), col("rows_done", Int),
        null("error", Text), col("created_at", DateTime), null("finished_at", DateTime),
    ],
    /// `twin_integration.export_logs`
    ExportLogs = "twin_integration"."export_logs" [
        col("id", Int), col("company_id", Int), col("target", Varchar(255)), col("rows", Int),
        col("created_at", DateTime),
    ],
}

impl TableId {
    /// The table's schema.
    pub fn schema(self) -> &'static TableSchema {
        &SCHEMAS[self as usize]
    }

    /// The table named `database.table`, if the catalog has it.
    pub fn lookup(database: &str, table: &str) -> Option<TableId> {
        TableId::ALL
            .iter()
            .copied()
            .find(|t| t.schema().database == database && t.schema().name == table)
    }

    /// The index of a column of this table; `None` for a name the table does not have.
    pub fn column(self, name: &str) -> Option<usize> {
        self.schema().column_index(name)
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.schema();
        write!(f, "{}.{}", s.database, s.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_starts_with_its_primary_key() {
        for t in TableId::ALL {
            assert_eq!(t.schema().columns[0].name, "id", "{t}");
        }
        assert_eq!(TableId::ALL.len(), 24);
    }

    #[test]
    fn lookup_uses_the_services_spelling() {
        assert_eq!(TableId::lookup("twin_infra", "table"), Some(TableId::Desk));
        assert_eq!(
            TableId::lookup("twin_hr", "Function"),
            Some(TableId::Function)
        );
        assert_eq!(TableId::lookup("twin_hr", "function"), None);
        assert_eq!(TableId::People.column("status"), Some(7));
    }

    /// The catalog must describe `schema.sql` exactly: every `CREATE TABLE` of the contract
    /// is here, with the same columns in the same order.
    #[test]
    fn catalog_matches_the_contract() {
        let sql = include_str!("../../spec/schema.sql");
        let mut seen = 0;
        let mut current: Option<(TableId, Vec<String>)> = None;
        for line in sql.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .replace('`', "");
                let (db, table) = name.split_once('.').expect("qualified table name");
                let id = TableId::lookup(db, table).unwrap_or_else(|| panic!("{name} missing"));
                current = Some((id, Vec::new()));
                seen += 1;
            } else if line.starts_with(')') {
                if let Some((id, cols)) = current.take() {
                    let ours: Vec<_> = id.schema().columns.iter().map(|c| c.name).collect();
                    assert_eq!(ours, cols, "{id}");
                }
            } else if let Some((_, cols)) = current.as_mut() {
                let first = line.split_whitespace().next().unwrap_or_default();
                if !first.is_empty()
                    && first != "KEY"
                    && first != "UNIQUE"
                    && !first.starts_with("--")
                {
                    cols.push(first.replace('`', ""));
                }
            }
        }
        assert_eq!(seen, TableId::ALL.len());
    }
}
