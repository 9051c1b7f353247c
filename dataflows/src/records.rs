//! Typed base records: the columns of each source table that some view reads.
//!
//! A [`Projector`] turns a row image into its table's record. Only what the views need is kept,
//! so a change that touches other columns (names of people, `updated_at`, ...) projects to the
//! same record and costs nothing downstream.

use serde::{Deserialize, Serialize};
use twinflow_ingest::{TableId, Value};
use twinflow_views::Text;

use crate::EngineError;

/// An id column (`INT`).
pub type Id = i32;

/// `people.status`, as the views distinguish it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// `active`: counts as filled, assigned, holder.
    Active,
    /// `leave`: counts as on leave.
    Leave,
    /// Anything else (`terminated`): counts nowhere.
    Other,
}

/// A `DOUBLE`, ordered by its bits so that it can live in a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Float(u64);

impl Float {
    /// The value.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

/// `twin_hr.Function`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FunctionRec {
    pub id: Id,
    pub company_id: Id,
    pub name: Text,
    pub parent_function_id: Option<Id>,
}

/// `twin_hr.job_level`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobLevelRec {
    pub id: Id,
    pub name: Text,
}

/// `twin_hr.job`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobRec {
    pub id: Id,
    pub company_id: Id,
    pub function_id: Id,
    pub job_level_id: Option<Id>,
    pub title: Text,
    pub headcount: i64,
}

/// `twin_hr.people`: its job, desk and status, packed into 12 bytes (a worker keeps the record
/// of every person it owns; at 1M people the optional ids' own tags would add a third).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonRec {
    /// The job id, or 0 when there is none (then `HAS_JOB` is not set).
    job_id: Id,
    /// The desk id, or 0 when there is none (then `HAS_DESK` is not set).
    table_id: Id,
    /// `HAS_JOB | HAS_DESK | status << STATUS_SHIFT`.
    flags: u8,
}

impl PersonRec {
    const HAS_JOB: u8 = 1;
    const HAS_DESK: u8 = 2;
    const STATUS_SHIFT: u8 = 2;

    /// A person with the given `job_id`, `table_id` and status.
    pub fn new(job_id: Option<Id>, table_id: Option<Id>, status: Status) -> Self {
        let status_bits = match status {
            Status::Active => 0,
            Status::Leave => 1,
            Status::Other => 2,
        };
        let mut flags = status_bits << Self::STATUS_SHIFT;
        if job_id.is_some() {
            flags |= Self::HAS_JOB;
        }
        if table_id.is_some() {
            flags |= Self::HAS_DESK;
        }
        PersonRec {
            job_id: job_id.unwrap_or(0),
            table_id: table_id.unwrap_or(0),
            flags,
        }
    }

    /// `people.job_id`.
    pub fn job_id(&self) -> Option<Id> {
        (self.flags & Self::HAS_JOB != 0).then_some(self.job_id)
    }

    /// `people.table_id`: the person's desk.
    pub fn table_id(&self) -> Option<Id> {
        (self.flags & Self::HAS_DESK != 0).then_some(self.table_id)
    }

    /// `people.status`, as the views distinguish it.
    pub fn status(&self) -> Status {
        match self.flags >> Self::STATUS_SHIFT {
            0 => Status::Active,
            1 => Status::Leave,
            _ => Status::Other,
        }
    }
}

/// `twin_hr.job_skill` and `twin_process.task_skill`: an owner (job or task), a skill, a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkillLinkRec {
    pub id: Id,
    pub owner_id: Id,
    pub skill_id: Id,
    pub skill_level_id: Id,
}

/// `twin_hr.table_job` and `twin_process.job_task`: a link between two ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkRec {
    pub id: Id,
    pub left: Id,
    pub right: Id,
}

/// `twin_process.task`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TaskRec {
    pub id: Id,
    pub company_id: Id,
}

/// What the API's tokens are checked against of a `twin_auth.user` row: its company and
/// whether it is active (nothing else of the row is kept: never its password hash or email).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserRec {
    pub id: Id,
    /// `NULL` for platform staff.
    pub company_id: Option<Id>,
    pub is_active: bool,
}

/// `twin_infra.building`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BuildingRec {
    pub id: Id,
    pub company_id: Id,
    pub name: Text,
}

/// `twin_infra.floor`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FloorRec {
    pub id: Id,
    pub building_id: Id,
    pub level: i64,
    pub name: Text,
}

/// `twin_infra.room`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoomRec {
    pub id: Id,
    pub floor_id: Id,
    pub name: Text,
    pub kind: Text,
    pub capacity: i64,
}

/// ``twin_infra.`table` `` (a desk).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeskRec {
    pub id: Id,
    pub room_id: Id,
    pub label: Text,
    pub seats: i64,
    pub pos_x: Float,
    pub pos_y: Float,
}

/// `twin_skills.skill`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkillRec {
    pub id: Id,
    pub name: Text,
    pub category: Text,
}

/// `twin_skills.skill_level`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SkillLevelRec {
    pub id: Id,
    pub level: i64,
}

/// Reads typed columns out of a row image by resolved column index.
///
/// Rows reaching the engine were validated against the catalog, so a `None` here means a row
/// that does not fit its table; the caller treats it as absent.
struct Cols {
    table: TableId,
}

impl Cols {
    fn index(&self, name: &str) -> Result<usize, EngineError> {
        self.table.column(name).ok_or(EngineError::MissingColumn {
            table: self.table,
            column: name.to_owned(),
        })
    }
}

fn id(row: &[Value], i: usize) -> Option<Id> {
    row.get(i)?.as_int().and_then(|v| Id::try_from(v).ok())
}

fn opt_id(row: &[Value], i: usize) -> Option<Option<Id>> {
    match row.get(i)? {
        Value::Null => Some(None),
        v => v.as_int().and_then(|v| Id::try_from(v).ok()).map(Some),
    }
}

fn int(row: &[Value], i: usize) -> Option<i64> {
    row.get(i)?.as_int()
}

fn text(row: &[Value], i: usize) -> Option<Text> {
    row.get(i)?.as_text().cloned()
}

fn float(row: &[Value], i: usize) -> Option<Float> {
    row.get(i)?.as_double().map(|f| Float(f.to_bits()))
}

/// Column positions of every table the views read, resolved once from the catalog.
#[derive(Clone, Debug)]
pub struct Projector {
    company_deleted_at: usize,
    function: [usize; 3],
    job_level_name: usize,
    job: [usize; 5],
    people: [usize; 3],
    job_skill: [usize; 3],
    task_skill: [usize; 3],
    table_job: [usize; 2],
    job_task: [usize; 2],
    task_company: usize,
    building: [usize; 2],
    floor: [usize; 3],
    room: [usize; 4],
    desk: [usize; 5],
    skill: [usize; 2],
    skill_level_level: usize,
    user: [usize; 2],
}

fn columns<const N: usize>(table: TableId, names: [&str; N]) -> Result<[usize; N], EngineError> {
    let cols = Cols { table };
    let mut out = [0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = cols.index(name)?;
    }
    Ok(out)
}

impl Projector {
    /// Resolves the columns the views read; fails if the catalog lacks one.
    pub fn new() -> Result<Self, EngineError> {
        use TableId as T;
        Ok(Projector {
            company_deleted_at: columns(T::Company, ["deleted_at"])?[0],
            function: columns(T::Function, ["company_id", "name", "parent_function_id"])?,
            job_level_name: columns(T::JobLevel, ["name"])?[0],
            job: columns(
                T::Job,
                [
                    "company_id",
                    "function_id",
                    "job_level_id",
                    "title",
                    "headcount",
                ],
            )?,
            people: columns(T::People, ["job_id", "table_id", "status"])?,
            job_skill: columns(T::JobSkill, ["job_id", "skill_id", "skill_level_id"])?,
            task_skill: columns(T::TaskSkill, ["task_id", "skill_id", "skill_level_id"])?,
            table_job: columns(T::TableJob, ["table_id", "job_id"])?,
            job_task: columns(T::JobTask, ["job_id", "task_id"])?,
            task_company: columns(T::Task, ["company_id"])?[0],
            building: columns(T::Building, ["company_id", "name"])?,
            floor: columns(T::Floor, ["building_id", "level", "name"])?,
            room: columns(T::Room, ["floor_id", "name", "kind", "capacity"])?,
            desk: columns(T::Desk, ["room_id", "label", "seats", "pos_x", "pos_y"])?,
            skill: columns(T::Skill, ["name", "category"])?,
            skill_level_level: columns(T::SkillLevel, ["level"])?[0],
            user: columns(T::User, ["company_id", "is_active"])?,
        })
    }

    /// A live company's id; `None` for a soft-deleted one.
    pub fn live_company(&self, row: &[Value]) -> Option<Id> {
        row.get(self.company_deleted_at)?
            .is_null()
            .then(|| id(row, 0))
            .flatten()
    }

    /// A Function.
    pub fn function(&self, row: &[Value]) -> Option<FunctionRec> {
        let [company, name, parent] = self.function;
        Some(FunctionRec {
            id: id(row, 0)?,
            company_id: id(row, company)?,
            name: text(row, name)?,
            parent_function_id: opt_id(row, parent)?,
        })
    }

    /// A job level.
    pub fn job_level(&self, row: &[Value]) -> Option<JobLevelRec> {
        Some(JobLevelRec {
            id: id(row, 0)?,
            name: text(row, self.job_level_name)?,
        })
    }

    /// A job.
    pub fn job(&self, row: &[Value]) -> Option<JobRec> {
        let [company, function, level, title, headcount] = self.job;
        Some(JobRec {
            id: id(row, 0)?,
            company_id: id(row, company)?,
            function_id: id(row, function)?,
            job_level_id: opt_id(row, level)?,
            title: text(row, title)?,
            headcount: int(row, headcount)?,
        })
    }

    /// A person.
    pub fn person(&self, row: &[Value]) -> Option<PersonRec> {
        let [job, table, status] = self.people;
        let status = match &**row.get(status)?.as_text()? {
            "active" => Status::Active,
            "leave" => Status::Leave,
            _ => Status::Other,
        };
        Some(PersonRec::new(
            opt_id(row, job)?,
            opt_id(row, table)?,
            status,
        ))
    }

    /// A `job_skill` row (owner = job).
    pub fn job_skill(&self, row: &[Value]) -> Option<SkillLinkRec> {
        skill_link(row, self.job_skill)
    }

    /// A `task_skill` row (owner = task).
    pub fn task_skill(&self, row: &[Value]) -> Option<SkillLinkRec> {
        skill_link(row, self.task_skill)
    }

    /// A `table_job` row (left = desk, right = job).
    pub fn table_job(&self, row: &[Value]) -> Option<LinkRec> {
        link(row, self.table_job)
    }

    /// A `job_task` row (left = job, right = task).
    pub fn job_task(&self, row: &[Value]) -> Option<LinkRec> {
        link(row, self.job_task)
    }

    /// A task.
    pub fn task(&self, row: &[Value]) -> Option<TaskRec> {
        Some(TaskRec {
            id: id(row, 0)?,
            company_id: id(row, self.task_company)?,
        })
    }

    /// A building.
    pub fn building(&self, row: &[Value]) -> Option<BuildingRec> {
        let [company, name] = self.building;
        Some(BuildingRec {
            id: id(row, 0)?,
            company_id: id(row, company)?,
            name: text(row, name)?,
        })
    }

    /// A user's standing.
    pub fn user(&self, row: &[Value]) -> Option<UserRec> {
        let [company, active] = self.user;
        Some(UserRec {
            id: id(row, 0)?,
            company_id: opt_id(row, company)?,
            is_active: int(row, active)? != 0,
        })
    }

    /// A floor.
    pub fn floor(&self, row: &[Value]) -> Option<FloorRec> {
        let [building, level, name] = self.floor;
        Some(FloorRec {
            id: id(row, 0)?,
            building_id: id(row, building)?,
            level: int(row, level)?,
            name: text(row, name)?,
        })
    }

    /// A room.
    pub fn room(&self, row: &[Value]) -> Option<RoomRec> {
        let [floor, name, kind, capacity] = self.room;
        Some(RoomRec {
            id: id(row, 0)?,
            floor_id: id(row, floor)?,
            name: text(row, name)?,
            kind: text(row, kind)?,
            capacity: int(row, capacity)?,
        })
    }

    /// A desk.
    pub fn desk(&self, row: &[Value]) -> Option<DeskRec> {
        let [room, label, seats, x, y] = self.desk;
        Some(DeskRec {
            id: id(row, 0)?,
            room_id: id(row, room)?,
            label: text(row, label)?,
            seats: int(row, seats)?,
            pos_x: float(row, x)?,
            pos_y: float(row, y)?,
        })
    }

    /// A skill.
    pub fn skill(&self, row: &[Value]) -> Option<SkillRec> {
        let [name, category] = self.skill;
        Some(SkillRec {
            id: id(row, 0)?,
            name: text(row, name)?,
            category: text(row, category)?,
        })
    }

    /// A skill level.
    pub fn skill_level(&self, row: &[Value]) -> Option<SkillLevelRec> {
        Some(SkillLevelRec {
            id: id(row, 0)?,
            level: int(row, self.skill_level_level)?,
        })
    }
}

fn skill_link(row: &[Value], [owner, skill, level]: [usize; 3]) -> Option<SkillLinkRec> {
    Some(SkillLinkRec {
        id: id(row, 0)?,
        owner_id: id(row, owner)?,
        skill_id: id(row, skill)?,
        skill_level_id: id(row, level)?,
    })
}

fn link(row: &[Value], [left, right]: [usize; 2]) -> Option<LinkRec> {
    Some(LinkRec {
        id: id(row, 0)?,
        left: id(row, left)?,
        right: id(row, right)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packed_person_reads_back_what_it_was_made_of() {
        let ids = [None, Some(0), Some(7), Some(Id::MIN), Some(Id::MAX)];
        for job in ids {
            for desk in ids {
                for status in [Status::Active, Status::Leave, Status::Other] {
                    let person = PersonRec::new(job, desk, status);
                    assert_eq!(
                        (person.job_id(), person.table_id(), person.status()),
                        (job, desk, status)
                    );
                }
            }
        }
        // Equal fields, equal records (the map compares records to find real changes).
        assert_eq!(
            PersonRec::new(None, Some(3), Status::Leave),
            PersonRec::new(None, Some(3), Status::Leave)
        );
        assert_ne!(
            PersonRec::new(None, Some(0), Status::Active),
            PersonRec::new(Some(0), None, Status::Active)
        );
        assert_eq!(std::mem::size_of::<PersonRec>(), 12);
    }
}
