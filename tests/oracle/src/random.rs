//! Random source change streams for property tests.
//!
//! [`RandomSource`] plays a set of source databases with deliberately tiny id spaces (8
//! companies, 30 people, ...), so that references dangle and later resolve, rows are deleted
//! and re-appear, and the same rows are touched again and again. It keeps its own copy of the
//! tables ([`RandomSource::tables`]), maintained with [`Tables::apply`], so well-behaved updates
//! and deletes carry the exact current row as their before-image. With `faulty` it also emits
//! what imperfect sources do: deletes of rows that never existed, inserts of keys that already
//! exist, updates whose before-image is not the current row.
//!
//! Outside the faulty cases the stream respects the `UNIQUE` keys of `schema.sql`
//! (`job_skill (job_id, skill_id)`, `table_job (table_id, job_id)`, `task_skill (task_id,
//! skill_id)`, `job_task (job_id, task_id)`, `role.name`, `user.email`), as a real database would;
//! the faulty operations ignore them, so a faulty stream can leave duplicates behind.

use std::sync::Arc;

use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use twinflow_ingest::validate::check_change;
use twinflow_ingest::TableId::{self, *};
use twinflow_ingest::{ColumnSchema, Row, RowChange, SourcePosition, SqlType, Transaction, Value};

use crate::tables::Tables;

/// How often each table is changed, relative to the others. The last eight are tables no view
/// reads: they see a few changes only.
const TABLE_WEIGHTS: &[(TableId, u32)] = &[
    (Company, 8),
    (Function, 8),
    (JobLevel, 4),
    (Job, 12),
    (People, 16),
    (JobSkill, 10),
    (TableJob, 6),
    (Task, 6),
    (TaskSkill, 10),
    (JobTask, 10),
    (Building, 6),
    (Floor, 6),
    (Room, 8),
    (Desk, 10),
    (Skill, 4),
    (SkillLevel, 4),
    (Role, 1),
    (User, 1),
    (OrganizationType, 1),
    (Process, 1),
    (ProcessTask, 1),
    (BuildingCell, 1),
    (ImportJobs, 1),
    (ExportLogs, 1),
];

/// The ids a table's rows use: `1..=id_space(table)`. References also name ids just above this
/// range now and then: those never exist.
pub fn id_space(table: TableId) -> i64 {
    match table {
        Company | Building => 8,
        OrganizationType => 3,
        Role => 4,
        User => 8,
        Function => 12,
        JobLevel | SkillLevel => 6,
        Job => 20,
        People => 30,
        JobSkill | TaskSkill => 30,
        TableJob => 20,
        Process | ImportJobs | ExportLogs => 5,
        Task => 15,
        ProcessTask | BuildingCell => 8,
        JobTask => 25,
        Floor => 12,
        Room => 18,
        Desk => 30,
        Skill => 10,
    }
}

/// The columns of `table` that some view reads (besides `id`): updates mostly change these.
fn relevant_columns(table: TableId) -> &'static [&'static str] {
    match table {
        Company => &["deleted_at"],
        Function => &["company_id", "name", "parent_function_id"],
        JobLevel => &["name"],
        Job => &[
            "company_id",
            "function_id",
            "job_level_id",
            "title",
            "headcount",
        ],
        People => &["job_id", "table_id", "status"],
        JobSkill => &["job_id", "skill_id", "skill_level_id"],
        TableJob => &["table_id", "job_id"],
        Task => &["company_id"],
        TaskSkill => &["task_id", "skill_id", "skill_level_id"],
        JobTask => &["job_id", "task_id"],
        Building => &["company_id", "name"],
        Floor => &["building_id", "level", "name"],
        Room => &["floor_id", "name", "kind", "capacity"],
        Desk => &["room_id", "label", "seats", "pos_x", "pos_y"],
        Skill => &["name", "category"],
        SkillLevel => &["level"],
        _ => &[],
    }
}

/// The `UNIQUE` keys of `schema.sql` (other than the primary key).
fn unique_keys(table: TableId) -> &'static [&'static [&'static str]] {
    match table {
        JobSkill => &[&["job_id", "skill_id"]],
        TableJob => &[&["table_id", "job_id"]],
        TaskSkill => &[&["task_id", "skill_id"]],
        JobTask => &[&["job_id", "task_id"]],
        Role => &[&["name"]],
        User => &[&["email"]],
        _ => &[],
    }
}

/// The table a column named `name` refers to, if it is a reference.
fn reference_target(name: &str) -> Option<TableId> {
    Some(match name {
        "company_id" => Company,
        "organization_type_id" => OrganizationType,
        "role_id" => Role,
        "function_id" | "parent_function_id" => Function,
        "job_level_id" => JobLevel,
        "job_id" => Job,
        "table_id" => Desk,
        "skill_id" => Skill,
        "skill_level_id" => SkillLevel,
        "task_id" => Task,
        "process_id" => Process,
        "building_id" => Building,
        "floor_id" => Floor,
        "room_id" => Room,
        _ => return None,
    })
}

/// How likely a freshly generated value of a nullable column is `NULL`.
fn null_probability(table: TableId, name: &str) -> f64 {
    match (table, name) {
        (Company, "deleted_at") => 0.75,
        (People, "job_id") => 0.15,
        (People, "table_id") => 0.25,
        (Job, "job_level_id") => 0.2,
        (Function, "parent_function_id") => 0.5,
        _ => 0.3,
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert,
    Update,
    NoopUpdate,
    KeyUpdate,
    Delete,
    DuplicateInsert,
    PhantomDelete,
    StaleUpdate,
}

/// Generates random source transactions over a small id space so that collisions, dangling
/// references and re-appearing rows are frequent. Deterministic for a given seed.
pub struct RandomSource {
    rng: ChaCha8Rng,
    state: Tables,
    seq: u64,
    clock_ms: u64,
}

impl RandomSource {
    /// A source with empty tables, seeded with `seed` (ChaCha8).
    pub fn new(seed: u64) -> Self {
        RandomSource {
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: Tables::new(),
            seq: 0,
            clock_ms: 1_700_000_000_000,
        }
    }

    /// The tables as the source believes them to be: the result of [`Tables::apply`] on every
    /// change emitted so far.
    pub fn tables(&self) -> &Tables {
        &self.state
    }

    /// A transaction of `1..=max_changes` changes (at least one). `faulty` allows the
    /// imperfect-source cases: deletes of rows that never existed, the same key inserted twice,
    /// updates whose before-image does not match the current row.
    pub fn next_transaction(&mut self, max_changes: usize, faulty: bool) -> Transaction {
        let n = self.rng.random_range(1..=max_changes.max(1));
        let changes = (0..n).map(|_| self.next_change(faulty)).collect();
        self.seq += 1;
        self.clock_ms += self.rng.random_range(1..=1_000);
        Transaction {
            source: Arc::from("random"),
            position: SourcePosition::Generator { seq: self.seq },
            commit_time_ms: self.clock_ms,
            changes,
            more_follows: false,
        }
    }

    /// One change, already applied to the source's own tables.
    pub fn next_change(&mut self, faulty: bool) -> RowChange {
        loop {
            let table = self.pick_table();
            if let Some(change) = self.try_change(table, faulty) {
                if let Err(e) = check_change(&change) {
                    panic!("oracle: RandomSource produced an invalid change {change:?}: {e}");
                }
                self.state.apply(&change);
                return change;
            }
        }
    }

    fn pick_table(&mut self) -> TableId {
        let total: u32 = TABLE_WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.random_range(0..total);
        for &(table, w) in TABLE_WEIGHTS {
            if x < w {
                return table;
            }
            x -= w;
        }
        unreachable!("weights cover the range")
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    fn pick_op(&mut self, ops: &[(Op, f64)]) -> Op {
        let total: f64 = ops.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.random_range(0.0..total);
        for &(op, w) in ops {
            if x < w {
                return op;
            }
            x -= w;
        }
        ops[ops.len() - 1].0
    }

    /// One change to `table`, or `None` when the chosen kind of change is not possible right
    /// now (e.g. every candidate row would violate a unique key).
    fn try_change(&mut self, table: TableId, faulty: bool) -> Option<RowChange> {
        let space = id_space(table);
        let present: Vec<i64> = self.state.ids(table).collect();
        let missing: Vec<i64> = (1..=space)
            .filter(|&id| self.state.get(table, id).is_none())
            .collect();
        let fill = present.len() as f64 / space as f64;

        let mut ops = Vec::new();
        if !missing.is_empty() {
            ops.push((Op::Insert, 0.5 + 4.0 * (1.0 - fill)));
        }
        if !present.is_empty() {
            ops.push((Op::Update, 4.0));
            ops.push((Op::NoopUpdate, 0.4));
            ops.push((Op::Delete, 2.0 * fill));
            if !missing.is_empty() {
                ops.push((Op::KeyUpdate, 0.3));
            }
            if faulty {
                ops.push((Op::DuplicateInsert, 0.4));
            }
        }
        if faulty {
            ops.push((Op::PhantomDelete, 0.4));
            ops.push((Op::StaleUpdate, 0.5));
        }

        match self.pick_op(&ops) {
            Op::Insert => {
                let id = self.pick(&missing);
                (0..8).find_map(|_| {
                    let after = self.fresh_row(table, id);
                    self.unique_ok(table, &after, &[id])
                        .then(|| RowChange::insert(table, after))
                })
            }
            Op::Update => {
                let id = self.pick(&present);
                let before = self.current(table, id);
                (0..8).find_map(|_| {
                    let after = self.mutate(table, &before);
                    self.unique_ok(table, &after, &[id])
                        .then(|| RowChange::update(table, before.clone(), after))
                })
            }
            Op::NoopUpdate => {
                let id = self.pick(&present);
                let before = self.current(table, id);
                Some(RowChange::update(table, before.clone(), before))
            }
            Op::KeyUpdate => {
                let id = self.pick(&present);
                let new_id = self.pick(&missing);
                let before = self.current(table, id);
                let mut after = if self.rng.random_bool(0.5) {
                    self.mutate(table, &before).to_vec()
                } else {
                    before.to_vec()
                };
                after[0] = Value::Int(new_id);
                let after: Row = Arc::from(after);
                self.unique_ok(table, &after, &[id, new_id])
                    .then(|| RowChange::update(table, before, after))
            }
            Op::Delete => {
                let id = self.pick(&present);
                Some(RowChange::delete(table, self.current(table, id)))
            }
            Op::DuplicateInsert => {
                let id = self.pick(&present);
                let after = if self.rng.random_bool(0.3) {
                    self.current(table, id)
                } else {
                    self.fresh_row(table, id)
                };
                Some(RowChange::insert(table, after))
            }
            Op::PhantomDelete => {
                let id = if !missing.is_empty() && self.rng.random_bool(0.7) {
                    self.pick(&missing)
                } else {
                    self.rng.random_range(space + 1..=space + 3)
                };
                Some(RowChange::delete(table, self.fresh_row(table, id)))
            }
            Op::StaleUpdate => {
                let id = self.rng.random_range(1..=space);
                let before = self.fresh_row(table, id);
                let base = self
                    .state
                    .get(table, id)
                    .cloned()
                    .unwrap_or_else(|| self.fresh_row(table, id));
                let mut after = self.mutate(table, &base).to_vec();
                if self.rng.random_bool(0.2) {
                    after[0] = Value::Int(self.rng.random_range(1..=space));
                }
                Some(RowChange::update(table, before, Arc::from(after)))
            }
        }
    }

    fn current(&self, table: TableId, id: i64) -> Row {
        self.state.get(table, id).cloned().expect("a present id")
    }

    /// Whether `row` keeps every unique key of `table` unique, ignoring the rows with ids in
    /// `replaced` (the row itself and, for a key change, its old id).
    fn unique_ok(&self, table: TableId, row: &Row, replaced: &[i64]) -> bool {
        unique_keys(table).iter().all(|key| {
            let idx: Vec<usize> = key
                .iter()
                .map(|c| table.column(c).expect("unique key column"))
                .collect();
            self.state.rows(table).all(|other| {
                let other_id = other[0].as_int().expect("integer id");
                replaced.contains(&other_id) || idx.iter().any(|&i| other[i] != row[i])
            })
        })
    }

    /// A copy of `before` with one or two columns (mostly ones a view reads) regenerated. The new
    /// value may happen to equal the old one.
    fn mutate(&mut self, table: TableId, before: &Row) -> Row {
        let columns = table.schema().columns;
        let relevant = relevant_columns(table);
        let mut after = before.to_vec();
        let n = if self.rng.random_bool(0.25) { 2 } else { 1 };
        for _ in 0..n {
            let i = if !relevant.is_empty() && self.rng.random_bool(0.85) {
                let name = self.pick(relevant);
                table.column(name).expect("relevant column")
            } else {
                self.rng.random_range(1..columns.len())
            };
            after[i] = self.value(table, &columns[i]);
        }
        Arc::from(after)
    }

    /// A new row of `table` with primary key `id`.
    fn fresh_row(&mut self, table: TableId, id: i64) -> Row {
        let columns = table.schema().columns;
        let mut row = vec![Value::Int(id)];
        row.extend(columns[1..].iter().map(|c| self.value(table, c)));
        Arc::from(row)
    }

    /// A random value for one column.
    fn value(&mut self, table: TableId, column: &ColumnSchema) -> Value {
        let name = column.name;
        if column.nullable && self.rng.random_bool(null_probability(table, name)) {
            return Value::Null;
        }
        let special = match (table, name) {
            (People, "status") => {
                let s = match self.rng.random_range(0..20) {
                    0..=11 => "active",
                    12..=16 => "leave",
                    _ => "terminated",
                };
                Some(Value::text(s))
            }
            (Job, "headcount") => Some(Value::Int(self.rng.random_range(0..=4))),
            (Desk, "seats") => Some(Value::Int(self.rng.random_range(0..=3))),
            (Room, "capacity") => Some(Value::Int(self.rng.random_range(0..=12))),
            (Floor, "level") => Some(Value::Int(self.rng.random_range(-1..=5))),
            (SkillLevel, "level") | (JobLevel, "rank") => {
                Some(Value::Int(self.rng.random_range(1..=5)))
            }
            _ => None,
        };
        if let Some(v) = special {
            return v;
        }
        if let (SqlType::Int, Some(target)) = (column.ty, reference_target(name)) {
            return Value::Int(self.reference(target));
        }
        match column.ty {
            SqlType::Int => Value::Int(self.rng.random_range(0..=100)),
            SqlType::TinyBool => Value::Int(self.rng.random_range(0..=1)),
            SqlType::Varchar(n) => {
                let s = format!("{name}-{}", self.rng.random_range(0..8));
                Value::text(&s.chars().take(n as usize).collect::<String>())
            }
            SqlType::Text => Value::text(&format!("{name} text {}", self.rng.random_range(0..8))),
            SqlType::Enum(values) => Value::text(self.pick(values)),
            SqlType::Decimal(precision, scale) => {
                let max = 10i64.pow(u32::from(precision.min(6)));
                Value::Decimal {
                    mantissa: self.rng.random_range(0..max),
                    scale,
                }
            }
            SqlType::DateTime => {
                Value::DateTimeMillis(1_700_000_000_000 + self.rng.random_range(0..1_000_000_000))
            }
            SqlType::Date => Value::Date(self.rng.random_range(18_000..20_000)),
            SqlType::Double => Value::Double(f64::from(self.rng.random_range(0..80)) * 0.5),
        }
    }

    /// An id of `target` for a reference column: mostly one that exists now, sometimes any id of
    /// the space (which may exist later), rarely one just above it (which never exists).
    fn reference(&mut self, target: TableId) -> i64 {
        let space = id_space(target);
        if self.rng.random_bool(0.04) {
            return self.rng.random_range(space + 1..=space + 3);
        }
        let present: Vec<i64> = self.state.ids(target).collect();
        if !present.is_empty() && self.rng.random_bool(0.75) {
            self.pick(&present)
        } else {
            self.rng.random_range(1..=space)
        }
    }
}

/// A proptest strategy: the first `1..=max_len` transactions (of up to `max_changes` changes
/// each) of a [`RandomSource`] with a random seed. Shrinking shortens the sequence (and tries
/// other seeds).
pub fn transactions(
    max_len: usize,
    max_changes: usize,
    faulty: bool,
) -> impl Strategy<Value = Vec<Transaction>> {
    (any::<u64>(), 1..=max_len.max(1)).prop_map(move |(seed, len)| {
        let mut source = RandomSource::new(seed);
        (0..len)
            .map(|_| source.next_transaction(max_changes, faulty))
            .collect()
    })
}
