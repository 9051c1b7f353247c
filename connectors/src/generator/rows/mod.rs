//! The compact entities of the model, one per table, and the one helper per table that builds
//! its row image ([`Entity::row`]), in the catalog's column order.

mod auth_org;
mod hr;
mod infra;
mod process;
mod reference;

use std::sync::Arc;

use twinflow_ingest::{Row, TableId, Value};

use super::store::{Entity, Table};
use super::text::{text, RowCx};
use super::vocab::Words;

pub(crate) use auth_org::{Company, OrganizationType, Role, User};
pub(crate) use hr::{Function, Job, JobLevel, JobSkill, Links, Person, TableJob};
pub(crate) use infra::{Building, BuildingCell, Desk, Floor, Room};
pub(crate) use process::{JobTask, Process, ProcessTask, Task, TaskSkill};
pub(crate) use reference::{ExportLog, ImportJob, Skill, SkillLevel};

/// Access to an entity's table in [`Tables`].
pub(crate) trait Stored: Entity {
    /// The table of this entity kind.
    fn table(tables: &Tables) -> &Table<Self>;
    /// The table of this entity kind, mutably.
    fn table_mut(tables: &mut Tables) -> &mut Table<Self>;
}

macro_rules! tables {
    ($( $field:ident : $ty:ty ),* $(,)?) => {
        /// Every table of the model.
        #[derive(Debug, Default)]
        pub(crate) struct Tables {
            $( pub(crate) $field: Table<$ty>, )*
        }

        $(
            impl Stored for $ty {
                fn table(tables: &Tables) -> &Table<Self> {
                    &tables.$field
                }
                fn table_mut(tables: &mut Tables) -> &mut Table<Self> {
                    &mut tables.$field
                }
            }
        )*

        impl Tables {
            /// The row image of live row `id` of `table`.
            pub(crate) fn row(&self, table: TableId, id: u32, cx: &RowCx) -> Option<Row> {
                $( if table == <$ty as Entity>::TABLE {
                    return self.$field.get(id).map(|e| e.row(id, cx));
                } )*
                None
            }

            /// One more than the largest allocated id of `table`.
            pub(crate) fn bound(&self, table: TableId) -> u32 {
                $( if table == <$ty as Entity>::TABLE {
                    return self.$field.bound();
                } )*
                1
            }

            /// Ends the initial state of every table (see [`Table::seal`]).
            pub(crate) fn seal(&mut self) {
                $( self.$field.seal(); )*
            }

            /// Heap bytes held per table.
            #[cfg(test)]
            pub(crate) fn heap_by_table(&self) -> Vec<(TableId, usize)> {
                vec![ $( (<$ty as Entity>::TABLE, self.$field.heap_bytes()), )* ]
            }

            /// Heap bytes held by all tables.
            pub(crate) fn heap_bytes(&self) -> usize {
                0 $( + self.$field.heap_bytes() )*
            }

            /// The number of live rows of `table`.
            pub(crate) fn len(&self, table: TableId) -> usize {
                $( if table == <$ty as Entity>::TABLE {
                    return self.$field.len();
                } )*
                0
            }
        }
    };
}

tables! {
    roles: Role,
    users: User,
    organization_types: OrganizationType,
    companies: Company,
    functions: Function,
    job_levels: JobLevel,
    jobs: Job,
    people: Person,
    job_skills: JobSkill,
    table_jobs: TableJob,
    processes: Process,
    tasks: Task,
    process_tasks: ProcessTask,
    task_skills: TaskSkill,
    job_tasks: JobTask,
    buildings: Building,
    floors: Floor,
    rooms: Room,
    desks: Desk,
    building_cells: BuildingCell,
    skills: Skill,
    skill_levels: SkillLevel,
    import_jobs: ImportJob,
    export_logs: ExportLog,
}

/// A row image from its values.
fn row<const N: usize>(values: [Value; N]) -> Row {
    Arc::new(values)
}

/// Word `seed` of `words`, numbered once the list is exhausted ("Engineering", ...,
/// "Engineering 2", ...).
fn numbered(words: &Words, seed: u32) -> Value {
    let round = seed / words.count().max(1);
    if round == 0 {
        words.text(seed.into())
    } else {
        text!("{} {}", words.str(seed.into()), round + 1)
    }
}

/// `Some(v)` unless the row's hash says this optional column is `NULL` (`percent` % of rows).
fn sometimes_null(hash: u64, percent: u64, v: impl FnOnce() -> Value) -> Value {
    if (hash >> 48) % 100 < percent {
        Value::Null
    } else {
        v()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_table_has_an_entity() {
        let names: Vec<TableId> = vec![
            Role::TABLE,
            User::TABLE,
            OrganizationType::TABLE,
            Company::TABLE,
            Function::TABLE,
            JobLevel::TABLE,
            Job::TABLE,
            Person::TABLE,
            JobSkill::TABLE,
            TableJob::TABLE,
            Process::TABLE,
            Task::TABLE,
            ProcessTask::TABLE,
            TaskSkill::TABLE,
            JobTask::TABLE,
            Building::TABLE,
            Floor::TABLE,
            Room::TABLE,
            Desk::TABLE,
            BuildingCell::TABLE,
            Skill::TABLE,
            SkillLevel::TABLE,
            ImportJob::TABLE,
            ExportLog::TABLE,
        ];
        assert_eq!(names, TableId::ALL);
    }
}
