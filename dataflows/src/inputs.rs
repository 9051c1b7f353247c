//! The dataflow's inputs: one keyed input per source table the views read.
//!
//! Each input keeps the current record of every primary key it owns, so that it can turn any
//! change, also from an imperfect source, into exact differences: an insert of an existing
//! key replaces the row, a delete of a missing key does nothing, an update is applied to the
//! key of its after-image whatever the stored before-image was, and a change that leaves the
//! projected record as it was produces nothing. Workers own disjoint sets of keys.

use std::collections::HashMap;

use differential_dataflow::input::{Input, InputSession};
use differential_dataflow::VecCollection;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use timely::dataflow::Scope;
use twinflow_ingest::{Row, RowChange, TableId, Value};

use crate::records::*;
use crate::Time;

/// Where an input sends the differences of its records.
pub trait RecordOutput<R> {
    /// Records that `old` was replaced by `new` (either may be absent; they differ).
    fn change(&mut self, old: Option<R>, new: Option<R>);
    /// Moves the output to `time` and releases what was sent before.
    fn advance_to(&mut self, time: Time);
}

impl<R: differential_dataflow::Data> RecordOutput<R> for InputSession<Time, R, isize> {
    fn change(&mut self, old: Option<R>, new: Option<R>) {
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.insert(new);
        }
    }

    fn advance_to(&mut self, time: Time) {
        InputSession::advance_to(self, time);
        self.flush();
    }
}

/// A table's current records by primary key (`INT`, so 32 bits: the people's map is the
/// largest thing a worker keeps).
type Records<R> = HashMap<Id, R, foldhash::fast::RandomState>;

/// One table's input: current records by primary key and the output fed with their
/// differences (by default the one collection of the records themselves).
pub struct KeyedInput<R, O = InputSession<Time, R, isize>> {
    current: Records<R>,
    output: O,
}

impl<R: differential_dataflow::Data + PartialEq> KeyedInput<R> {
    fn new<'s>(scope: &Scope<'s, Time>) -> (Self, VecCollection<'s, Time, R>) {
        let (session, collection) = scope.new_collection();
        (KeyedInput::with_output(session), collection)
    }
}

impl<R: Clone + PartialEq, O: RecordOutput<R>> KeyedInput<R, O> {
    fn with_output(output: O) -> Self {
        KeyedInput {
            current: Records::default(),
            output,
        }
    }

    /// Makes `record` (or nothing) the current record of `key`, emitting the difference.
    fn set(&mut self, key: Id, record: Option<R>) {
        let old = match &record {
            Some(r) => self.current.insert(key, r.clone()),
            None => self.current.remove(&key),
        };
        if old != record {
            self.output.change(old, record);
        }
    }
}

/// The two things the views read of a person, each its own collection, so that a desk move
/// reaches only the occupancy views and a job change only the staffing and skill views.
pub struct PeopleOutput {
    memberships: InputSession<Time, (Id, Status), isize>,
    assignments: InputSession<Time, Id, isize>,
}

impl PeopleOutput {
    /// `(job, status)` of a person in a job who is active or on leave.
    fn membership(person: &PersonRec) -> Option<(Id, Status)> {
        match (person.job_id(), person.status()) {
            (Some(job), status @ (Status::Active | Status::Leave)) => Some((job, status)),
            _ => None,
        }
    }

    /// The desk of an active person.
    fn assignment(person: &PersonRec) -> Option<Id> {
        match person.status() {
            Status::Active => person.table_id(),
            Status::Leave | Status::Other => None,
        }
    }
}

/// Sends to `output` how `project` of a person changed, if it did.
fn forward<T: differential_dataflow::Data>(
    output: &mut InputSession<Time, T, isize>,
    old: Option<&PersonRec>,
    new: Option<&PersonRec>,
    project: fn(&PersonRec) -> Option<T>,
) {
    let (old, new) = (old.and_then(project), new.and_then(project));
    if old != new {
        output.change(old, new);
    }
}

impl RecordOutput<PersonRec> for PeopleOutput {
    fn change(&mut self, old: Option<PersonRec>, new: Option<PersonRec>) {
        let (old, new) = (old.as_ref(), new.as_ref());
        forward(&mut self.memberships, old, new, Self::membership);
        forward(&mut self.assignments, old, new, Self::assignment);
    }

    fn advance_to(&mut self, time: Time) {
        RecordOutput::<(Id, Status)>::advance_to(&mut self.memberships, time);
        RecordOutput::<Id>::advance_to(&mut self.assignments, time);
    }
}

/// What the engine does with every table input alike.
trait TableInput {
    /// Moves the input to `time` and releases what was fed before.
    fn advance_to(&mut self, time: Time);
    /// A copy of the current records, to be encoded elsewhere.
    fn copy(&self) -> Box<dyn SavedTable>;
    /// Retracts every current record.
    fn clear(&mut self);
    /// Reads records saved by [`save`](Self::save) from `input` and makes those whose key
    /// `keep` accepts current; returns how many it kept.
    fn restore(&mut self, input: &mut &[u8], keep: &dyn Fn(Id) -> bool) -> bincode::Result<u64>;
}

/// A copy of one table input's records, encodable on another thread.
pub trait SavedTable: Send {
    /// Appends the records to `out` as a sequence of `(key, record)` pairs.
    fn encode(&self, out: &mut Vec<u8>) -> bincode::Result<()>;
}

/// Records as a sequence of `(key, record)` pairs.
struct Entries<'a, R>(&'a Records<R>);

impl<R: Serialize> Serialize for Entries<'_, R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<R: Serialize + Send> SavedTable for Records<R> {
    fn encode(&self, out: &mut Vec<u8>) -> bincode::Result<()> {
        bincode::serialize_into(out, &Entries(self))
    }
}

/// A copy of every table input of one worker: its shard of a checkpoint, not yet encoded.
pub struct SavedInputs(Vec<Box<dyn SavedTable>>);

impl SavedInputs {
    /// The shard's bytes, as [`BaseInputs::restore`] reads them.
    pub fn encode(&self) -> bincode::Result<Vec<u8>> {
        let mut out = Vec::new();
        for table in &self.0 {
            table.encode(&mut out)?;
        }
        Ok(out)
    }
}

impl std::fmt::Debug for SavedInputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SavedInputs({} tables)", self.0.len())
    }
}

impl<R, O> TableInput for KeyedInput<R, O>
where
    R: Clone + PartialEq + Serialize + DeserializeOwned + Send + 'static,
    O: RecordOutput<R>,
{
    fn advance_to(&mut self, time: Time) {
        self.output.advance_to(time);
    }

    fn copy(&self) -> Box<dyn SavedTable> {
        Box::new(self.current.clone())
    }

    fn clear(&mut self) {
        for (_, record) in self.current.drain() {
            self.output.change(Some(record), None);
        }
    }

    fn restore(&mut self, input: &mut &[u8], keep: &dyn Fn(Id) -> bool) -> bincode::Result<u64> {
        let entries: Vec<(Id, R)> = bincode::deserialize_from(input)?;
        let mut kept = 0;
        for (key, record) in entries {
            if keep(key) {
                self.set(key, Some(record));
                kept += 1;
            }
        }
        Ok(kept)
    }
}

/// The base collections the view operators are built from.
pub struct BaseCollections<'s> {
    pub live_companies: VecCollection<'s, Time, Id>,
    pub functions: VecCollection<'s, Time, FunctionRec>,
    pub job_levels: VecCollection<'s, Time, JobLevelRec>,
    pub jobs: VecCollection<'s, Time, JobRec>,
    /// `(job, status)` of every person in a job who is active or on leave.
    pub memberships: VecCollection<'s, Time, (Id, Status)>,
    /// The desk of every active person at one.
    pub assignments: VecCollection<'s, Time, Id>,
    pub job_skills: VecCollection<'s, Time, SkillLinkRec>,
    pub task_skills: VecCollection<'s, Time, SkillLinkRec>,
    pub table_jobs: VecCollection<'s, Time, LinkRec>,
    pub job_tasks: VecCollection<'s, Time, LinkRec>,
    pub tasks: VecCollection<'s, Time, TaskRec>,
    pub buildings: VecCollection<'s, Time, BuildingRec>,
    pub floors: VecCollection<'s, Time, FloorRec>,
    pub rooms: VecCollection<'s, Time, RoomRec>,
    pub desks: VecCollection<'s, Time, DeskRec>,
    pub skills: VecCollection<'s, Time, SkillRec>,
    pub skill_levels: VecCollection<'s, Time, SkillLevelRec>,
    /// What tokens are checked against of every `twin_auth.user` row.
    pub users: VecCollection<'s, Time, UserRec>,
}

/// Every table input of one worker.
pub struct BaseInputs {
    projector: Projector,
    worker: usize,
    peers: usize,
    live_companies: KeyedInput<Id>,
    functions: KeyedInput<FunctionRec>,
    job_levels: KeyedInput<JobLevelRec>,
    jobs: KeyedInput<JobRec>,
    people: KeyedInput<PersonRec, PeopleOutput>,
    job_skills: KeyedInput<SkillLinkRec>,
    task_skills: KeyedInput<SkillLinkRec>,
    table_jobs: KeyedInput<LinkRec>,
    job_tasks: KeyedInput<LinkRec>,
    tasks: KeyedInput<TaskRec>,
    buildings: KeyedInput<BuildingRec>,
    floors: KeyedInput<FloorRec>,
    rooms: KeyedInput<RoomRec>,
    desks: KeyedInput<DeskRec>,
    skills: KeyedInput<SkillRec>,
    skill_levels: KeyedInput<SkillLevelRec>,
    users: KeyedInput<UserRec>,
}

impl BaseInputs {
    /// Creates the inputs of worker `worker` of `peers` in `scope`.
    pub fn new<'s>(
        scope: Scope<'s, Time>,
        projector: Projector,
        worker: usize,
        peers: usize,
    ) -> (BaseInputs, BaseCollections<'s>) {
        let (live_companies, live_companies_c) = KeyedInput::new(&scope);
        let (functions, functions_c) = KeyedInput::new(&scope);
        let (job_levels, job_levels_c) = KeyedInput::new(&scope);
        let (jobs, jobs_c) = KeyedInput::new(&scope);
        let (memberships, memberships_c) = scope.new_collection();
        let (assignments, assignments_c) = scope.new_collection();
        let people = KeyedInput::with_output(PeopleOutput {
            memberships,
            assignments,
        });
        let (job_skills, job_skills_c) = KeyedInput::new(&scope);
        let (task_skills, task_skills_c) = KeyedInput::new(&scope);
        let (table_jobs, table_jobs_c) = KeyedInput::new(&scope);
        let (job_tasks, job_tasks_c) = KeyedInput::new(&scope);
        let (tasks, tasks_c) = KeyedInput::new(&scope);
        let (buildings, buildings_c) = KeyedInput::new(&scope);
        let (floors, floors_c) = KeyedInput::new(&scope);
        let (rooms, rooms_c) = KeyedInput::new(&scope);
        let (desks, desks_c) = KeyedInput::new(&scope);
        let (skills, skills_c) = KeyedInput::new(&scope);
        let (skill_levels, skill_levels_c) = KeyedInput::new(&scope);
        let (users, users_c) = KeyedInput::new(&scope);
        let inputs = BaseInputs {
            projector,
            worker,
            peers: peers.max(1),
            live_companies,
            functions,
            job_levels,
            jobs,
            people,
            job_skills,
            task_skills,
            table_jobs,
            job_tasks,
            tasks,
            buildings,
            floors,
            rooms,
            desks,
            skills,
            skill_levels,
            users,
        };
        let collections = BaseCollections {
            live_companies: live_companies_c,
            functions: functions_c,
            job_levels: job_levels_c,
            jobs: jobs_c,
            memberships: memberships_c,
            assignments: assignments_c,
            job_skills: job_skills_c,
            task_skills: task_skills_c,
            table_jobs: table_jobs_c,
            job_tasks: job_tasks_c,
            tasks: tasks_c,
            buildings: buildings_c,
            floors: floors_c,
            rooms: rooms_c,
            desks: desks_c,
            skills: skills_c,
            skill_levels: skill_levels_c,
            users: users_c,
        };
        (inputs, collections)
    }

    /// Whether this worker owns primary key `key` of `table`.
    fn owns(&self, table: TableId, key: Id) -> bool {
        owner(table, key, self.peers) == self.worker
    }

    /// Applies one change to the keys this worker owns, at the inputs' current time.
    pub fn apply(&mut self, change: &RowChange) {
        // Keys are `INT` (validated upstream): one that does not fit has no record to change.
        let key_of = |row: &Row| {
            row.first()
                .and_then(Value::as_int)
                .and_then(|key| Id::try_from(key).ok())
        };
        let before_key = change.before.as_ref().and_then(key_of);
        let after_key = change.after.as_ref().and_then(key_of);
        if let Some(before_key) = before_key {
            if after_key != Some(before_key) && self.owns(change.table, before_key) {
                self.set(change.table, before_key, None);
            }
        }
        if let (Some(after_key), Some(after)) = (after_key, &change.after) {
            if self.owns(change.table, after_key) {
                self.set(change.table, after_key, Some(after));
            }
        }
    }

    fn set(&mut self, table: TableId, key: Id, row: Option<&Row>) {
        let p = &self.projector;
        match table {
            TableId::Company => self
                .live_companies
                .set(key, row.and_then(|r| p.live_company(r))),
            TableId::Function => self.functions.set(key, row.and_then(|r| p.function(r))),
            TableId::JobLevel => self.job_levels.set(key, row.and_then(|r| p.job_level(r))),
            TableId::Job => self.jobs.set(key, row.and_then(|r| p.job(r))),
            TableId::People => self.people.set(key, row.and_then(|r| p.person(r))),
            TableId::JobSkill => self.job_skills.set(key, row.and_then(|r| p.job_skill(r))),
            TableId::TaskSkill => self.task_skills.set(key, row.and_then(|r| p.task_skill(r))),
            TableId::TableJob => self.table_jobs.set(key, row.and_then(|r| p.table_job(r))),
            TableId::JobTask => self.job_tasks.set(key, row.and_then(|r| p.job_task(r))),
            TableId::Task => self.tasks.set(key, row.and_then(|r| p.task(r))),
            TableId::Building => self.buildings.set(key, row.and_then(|r| p.building(r))),
            TableId::Floor => self.floors.set(key, row.and_then(|r| p.floor(r))),
            TableId::Room => self.rooms.set(key, row.and_then(|r| p.room(r))),
            TableId::Desk => self.desks.set(key, row.and_then(|r| p.desk(r))),
            TableId::Skill => self.skills.set(key, row.and_then(|r| p.skill(r))),
            TableId::SkillLevel => self
                .skill_levels
                .set(key, row.and_then(|r| p.skill_level(r))),
            TableId::User => self.users.set(key, row.and_then(|r| p.user(r))),
            // Tables no view reads.
            TableId::Role
            | TableId::OrganizationType
            | TableId::Process
            | TableId::ProcessTask
            | TableId::BuildingCell
            | TableId::ImportJobs
            | TableId::ExportLogs => {}
        }
    }

    /// Every input with the table it is fed from, in a fixed order (that of saved state).
    fn tables(&mut self) -> [(TableId, &mut dyn TableInput); 17] {
        [
            (TableId::Company, &mut self.live_companies),
            (TableId::Function, &mut self.functions),
            (TableId::JobLevel, &mut self.job_levels),
            (TableId::Job, &mut self.jobs),
            (TableId::People, &mut self.people),
            (TableId::JobSkill, &mut self.job_skills),
            (TableId::TaskSkill, &mut self.task_skills),
            (TableId::TableJob, &mut self.table_jobs),
            (TableId::JobTask, &mut self.job_tasks),
            (TableId::Task, &mut self.tasks),
            (TableId::Building, &mut self.buildings),
            (TableId::Floor, &mut self.floors),
            (TableId::Room, &mut self.rooms),
            (TableId::Desk, &mut self.desks),
            (TableId::Skill, &mut self.skills),
            (TableId::SkillLevel, &mut self.skill_levels),
            (TableId::User, &mut self.users),
        ]
    }

    /// Moves every input to `time` and releases what was fed before.
    pub fn advance_to(&mut self, time: Time) {
        for (_, input) in self.tables() {
            input.advance_to(time);
        }
    }

    /// Retracts every record of `tables` at the inputs' current time (tables no view reads
    /// have none).
    pub fn clear(&mut self, tables: &[TableId]) {
        for (table, input) in self.tables() {
            if tables.contains(&table) {
                input.clear();
            }
        }
    }

    /// A copy of this worker's current records of every table: its shard of a checkpoint.
    /// Copying (mostly `memcpy`: the large tables' records are `Copy`) is cheap next to
    /// encoding, which the caller does on another thread.
    pub fn save(&mut self) -> SavedInputs {
        SavedInputs(self.tables().map(|(_, input)| input.copy()).into())
    }

    /// Makes the records of a saved shard current (at the inputs' current time), keeping only
    /// the keys this worker owns when `owned_only` (a shard saved by a different worker
    /// layout); returns how many records it kept.
    pub fn restore(&mut self, mut shard: &[u8], owned_only: bool) -> bincode::Result<u64> {
        let (worker, peers) = (self.worker, self.peers);
        let mut kept = 0;
        for (table, input) in self.tables() {
            let keep = |key: Id| !owned_only || owner(table, key, peers) == worker;
            kept += input.restore(&mut shard, &keep)?;
        }
        Ok(kept)
    }

    /// The inputs' current time.
    pub fn time(&self) -> Time {
        *self.jobs.output.time()
    }
}

/// The worker (of `peers`) that owns primary key `key` of `table`. The mix is written out
/// (SplitMix64's finalizer) rather than taken from std's `DefaultHasher`, whose output may
/// change between Rust releases: a checkpoint's shard is restored to the worker of the same
/// index, so ownership must stay the same across builds.
fn owner(table: TableId, key: Id, peers: usize) -> usize {
    if peers <= 1 {
        return 0;
    }
    let mut x = (table as u64) << 32 | u64::from(key as u32);
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    (x % peers as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_fixed_and_balanced() {
        // Pinned: a change here makes every existing checkpoint restore keys to the wrong
        // worker (bump the checkpoint format's version with it).
        let owners: Vec<usize> = (1..=12).map(|key| owner(TableId::People, key, 2)).collect();
        assert_eq!(owners, [0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1]);
        assert_eq!(owner(TableId::Desk, 7, 1), 0);
        for peers in [2, 3, 4] {
            let mut counts = vec![0usize; peers];
            for key in 0..30_000 {
                counts[owner(TableId::People, key, peers)] += 1;
            }
            let even = 30_000 / peers;
            assert!(
                counts.iter().all(|&n| n.abs_diff(even) < even / 20),
                "{peers} workers: {counts:?}"
            );
        }
    }
}
