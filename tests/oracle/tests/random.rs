//! Self-tests of the random source and of the oracle on random data.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Instant;

use proptest::prelude::*;
use twinflow_ingest::validate::{check_change, check_row};
use twinflow_ingest::TableId::{self, *};
use twinflow_ingest::{RowChange, Value};
use twinflow_oracle::random::{id_space, transactions, RandomSource};
use twinflow_oracle::{evaluate, rows, Tables};
use twinflow_views::{Datum, ViewId, ViewSchema};

/// How a change relates to the tables it is applied to.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Kind {
    Insert,
    InsertOfPresentKey,
    Update,
    NoopUpdate,
    KeyChangingUpdate,
    StaleUpdate,
    Delete,
    DeleteOfMissingRow,
    StaleDelete,
}

fn kind(t: &Tables, c: &RowChange) -> Kind {
    let id = |r: &twinflow_ingest::Row| r[0].as_int().unwrap();
    match (&c.before, &c.after) {
        (None, Some(a)) if t.get(c.table, id(a)).is_some() => Kind::InsertOfPresentKey,
        (None, Some(_)) => Kind::Insert,
        (Some(b), None) => match t.get(c.table, id(b)) {
            None => Kind::DeleteOfMissingRow,
            Some(cur) if cur == b => Kind::Delete,
            Some(_) => Kind::StaleDelete,
        },
        (Some(b), Some(a)) => {
            if t.get(c.table, id(b)) != Some(b) {
                Kind::StaleUpdate
            } else if id(a) != id(b) {
                Kind::KeyChangingUpdate
            } else if a == b {
                Kind::NoopUpdate
            } else {
                Kind::Update
            }
        }
        (None, None) => panic!("change without images"),
    }
}

/// The non-key columns the views read.
const VIEW_COLUMNS: &[(TableId, &str)] = &[
    (Function, "company_id"),
    (Function, "name"),
    (Function, "parent_function_id"),
    (JobLevel, "name"),
    (Job, "company_id"),
    (Job, "function_id"),
    (Job, "job_level_id"),
    (Job, "title"),
    (Job, "headcount"),
    (People, "job_id"),
    (People, "table_id"),
    (People, "status"),
    (JobSkill, "job_id"),
    (JobSkill, "skill_id"),
    (JobSkill, "skill_level_id"),
    (TableJob, "table_id"),
    (TableJob, "job_id"),
    (Task, "company_id"),
    (TaskSkill, "task_id"),
    (TaskSkill, "skill_id"),
    (TaskSkill, "skill_level_id"),
    (JobTask, "job_id"),
    (JobTask, "task_id"),
    (Building, "company_id"),
    (Building, "name"),
    (Floor, "building_id"),
    (Floor, "level"),
    (Floor, "name"),
    (Room, "floor_id"),
    (Room, "name"),
    (Room, "kind"),
    (Room, "capacity"),
    (Desk, "room_id"),
    (Desk, "label"),
    (Desk, "seats"),
    (Desk, "pos_x"),
    (Desk, "pos_y"),
    (Skill, "name"),
    (Skill, "category"),
    (SkillLevel, "level"),
];

/// Nullable columns the views read: each must be set to and cleared from NULL by updates.
const NULLABLE_VIEW_COLUMNS: &[(TableId, &str)] = &[
    (Company, "deleted_at"),
    (Function, "parent_function_id"),
    (Job, "job_level_id"),
    (People, "job_id"),
    (People, "table_id"),
];

const UNIQUE: &[(TableId, &[&str])] = &[
    (JobSkill, &["job_id", "skill_id"]),
    (TableJob, &["table_id", "job_id"]),
    (TaskSkill, &["task_id", "skill_id"]),
    (JobTask, &["job_id", "task_id"]),
];

fn unique_violations(t: &Tables) -> usize {
    let mut n = 0;
    for (table, cols) in UNIQUE {
        let idx: Vec<usize> = cols.iter().map(|c| table.column(c).unwrap()).collect();
        let mut seen = BTreeSet::new();
        for r in t.rows(*table) {
            let key: Vec<Value> = idx.iter().map(|&i| r[i].clone()).collect();
            n += usize::from(!seen.insert(key));
        }
    }
    n
}

#[test]
fn well_behaved_streams_are_valid_and_consistent() {
    for seed in 0..4 {
        let mut source = RandomSource::new(seed);
        let mut t = Tables::new();
        let mut kinds = BTreeSet::new();
        let mut tables = BTreeSet::new();
        let mut changed = BTreeSet::new();
        for _ in 0..1_500 {
            let txn = source.next_transaction(6, false);
            assert!(!txn.changes.is_empty() && txn.changes.len() <= 6);
            for c in &txn.changes {
                check_change(c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
                for row in [&c.before, &c.after].into_iter().flatten() {
                    check_row(c.table, row).unwrap();
                    let id = row[0].as_int().unwrap();
                    assert!((1..=id_space(c.table)).contains(&id), "{c:?}");
                }
                let k = kind(&t, c);
                assert!(
                    matches!(
                        k,
                        Kind::Insert
                            | Kind::Update
                            | Kind::NoopUpdate
                            | Kind::KeyChangingUpdate
                            | Kind::Delete
                    ),
                    "a well-behaved stream produced {k:?}: {c:?}"
                );
                if k == Kind::KeyChangingUpdate {
                    let new_id = c.after.as_ref().unwrap()[0].as_int().unwrap();
                    assert!(
                        t.get(c.table, new_id).is_none(),
                        "key change onto a present key: {c:?}"
                    );
                }
                if let (Some(b), Some(a)) = (&c.before, &c.after) {
                    for (i, col) in c.table.schema().columns.iter().enumerate().skip(1) {
                        if b[i] != a[i] {
                            changed.insert((c.table, col.name, b[i].is_null(), a[i].is_null()));
                        }
                    }
                }
                kinds.insert(k);
                tables.insert(c.table);
                t.apply(c);
            }
            assert_eq!(unique_violations(&t), 0, "seed {seed}");
        }
        assert_eq!(kinds.len(), 5, "seed {seed}: {kinds:?}");
        for &(table, column) in VIEW_COLUMNS {
            assert!(
                changed.iter().any(|&(t, c, from_null, to_null)| t == table
                    && c == column
                    && !from_null
                    && !to_null),
                "seed {seed}: {table}.{column} never updated"
            );
        }
        for &(table, column) in NULLABLE_VIEW_COLUMNS {
            for (from_null, to_null) in [(true, false), (false, true)] {
                assert!(
                    changed.contains(&(table, column, from_null, to_null)),
                    "seed {seed}: {table}.{column} never updated {}",
                    if from_null { "from NULL" } else { "to NULL" }
                );
            }
        }
        assert_eq!(
            tables.len(),
            TableId::ALL.len(),
            "seed {seed}: every table changes"
        );
        assert!(
            source.tables() == &t,
            "the source's tables differ from its stream applied"
        );
    }
}

#[test]
fn faulty_streams_contain_every_imperfection() {
    let mut source = RandomSource::new(42);
    let mut t = Tables::new();
    let mut kinds = BTreeMap::new();
    for _ in 0..3_000 {
        for c in &source.next_transaction(6, true).changes {
            check_change(c).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            *kinds.entry(kind(&t, c)).or_insert(0) += 1;
            t.apply(c);
        }
    }
    for k in [
        Kind::Insert,
        Kind::InsertOfPresentKey,
        Kind::Update,
        Kind::NoopUpdate,
        Kind::KeyChangingUpdate,
        Kind::StaleUpdate,
        Kind::Delete,
        Kind::DeleteOfMissingRow,
        Kind::StaleDelete,
    ] {
        // StaleDelete (a delete whose before-image differs from the row it removes) comes from
        // phantom deletes only when an id was re-inserted meanwhile; it is not required.
        if k != Kind::StaleDelete {
            assert!(
                kinds.get(&k).copied().unwrap_or(0) > 10,
                "{k:?} too rare: {kinds:?}"
            );
        }
    }
    assert!(
        source.tables() == &t,
        "the source's tables differ from its stream applied"
    );
}

#[test]
fn the_same_seed_gives_the_same_stream() {
    let mut a = RandomSource::new(7);
    let mut b = RandomSource::new(7);
    for _ in 0..200 {
        let (x, y) = (a.next_transaction(5, true), b.next_transaction(5, true));
        assert_eq!(x.changes, y.changes);
        assert_eq!(x.position, y.position);
    }
}

/// What a long random run should show at some point, so that the views are really exercised.
#[derive(Default, Debug)]
struct Seen {
    max_rows: BTreeMap<ViewId, usize>,
    flags: BTreeSet<&'static str>,
}

impl Seen {
    fn observe(&mut self, views: &BTreeMap<ViewId, Vec<twinflow_views::Row>>) {
        for (view, rows) in views {
            let m = self.max_rows.entry(*view).or_default();
            *m = (*m).max(rows.len());
            let schema = twinflow_dataflows::schema(*view);
            let col =
                |r: &twinflow_views::Row, name: &str| r[schema.column_index(name).unwrap()].clone();
            let int = |r: &twinflow_views::Row, name: &str| col(r, name).as_int().unwrap();
            for r in rows {
                let mut flag = |cond: bool, name: &'static str| {
                    if cond {
                        self.flags.insert(name);
                    }
                };
                match view {
                    ViewId::Staffing => {
                        flag(
                            col(r, "function_name") == Datum::Null,
                            "staffing: missing Function",
                        );
                        flag(
                            col(r, "function_name") != Datum::Null,
                            "staffing: existing Function",
                        );
                        flag(
                            col(r, "job_level") == Datum::Null,
                            "staffing: missing job_level",
                        );
                        flag(
                            col(r, "job_level") != Datum::Null,
                            "staffing: existing job_level",
                        );
                        flag(int(r, "filled") > 0, "staffing: filled");
                        flag(int(r, "on_leave") > 0, "staffing: on leave");
                        flag(int(r, "vacancies") > 0, "staffing: vacancies");
                        flag(int(r, "overstaffed") > 0, "staffing: overstaffed");
                    }
                    ViewId::StaffingByFunction => {
                        flag(int(r, "jobs") == 0, "by function: no jobs");
                        flag(int(r, "jobs") > 1, "by function: several jobs");
                        flag(
                            int(r, "vacancies") > 0 && int(r, "overstaffed") > 0,
                            "by function: vacancies and overstaffed",
                        );
                        flag(
                            col(r, "parent_function_id") != Datum::Null,
                            "by function: parent",
                        );
                    }
                    ViewId::DeskOccupancy => {
                        flag(int(r, "assigned") > int(r, "seats"), "desk: shared");
                        flag(int(r, "assigned") == 0, "desk: free");
                        flag(int(r, "reserved_jobs") > 0, "desk: reserved");
                    }
                    ViewId::Occupancy => {
                        flag(int(r, "desks") == 0, "room: no desks");
                        flag(int(r, "desks") > 1, "room: several desks");
                        flag(int(r, "reserved_desks") > 0, "room: reserved desks");
                    }
                    ViewId::OccupancyByFloor => {
                        flag(int(r, "rooms") == 0, "floor: no rooms");
                        flag(int(r, "assigned") > 0, "floor: assigned");
                    }
                    ViewId::OccupancyByBuilding => {
                        flag(int(r, "floors") == 0, "building: no floors");
                        flag(
                            int(r, "floors") > 1 && int(r, "desks") > 0,
                            "building: floors and desks",
                        );
                    }
                    ViewId::SkillCoverage => {
                        flag(int(r, "jobs_with_skill") == 0, "skills: demand only");
                        flag(int(r, "tasks_requiring") == 0, "skills: supply only");
                        flag(int(r, "holders") > 0, "skills: holders");
                        flag(int(r, "tasks_covered") > 0, "skills: covered");
                        flag(int(r, "gap") > 0, "skills: gap");
                    }
                }
            }
        }
    }
}

fn long_run(seed: u64, faulty: bool) -> Seen {
    let mut source = RandomSource::new(seed);
    let mut t = Tables::new();
    let mut seen = Seen::default();
    for _ in 0..5_000 {
        t.apply_transaction(&source.next_transaction(4, faulty));
        seen.observe(&evaluate(&t));
    }
    seen
}

const FLAGS: &[&str] = &[
    "staffing: missing Function",
    "staffing: existing Function",
    "staffing: missing job_level",
    "staffing: existing job_level",
    "staffing: filled",
    "staffing: on leave",
    "staffing: vacancies",
    "staffing: overstaffed",
    "by function: no jobs",
    "by function: several jobs",
    "by function: vacancies and overstaffed",
    "by function: parent",
    "desk: shared",
    "desk: free",
    "desk: reserved",
    "room: no desks",
    "room: several desks",
    "room: reserved desks",
    "floor: no rooms",
    "floor: assigned",
    "building: no floors",
    "building: floors and desks",
    "skills: demand only",
    "skills: supply only",
    "skills: holders",
    "skills: covered",
    "skills: gap",
];

#[test]
fn five_thousand_transactions_exercise_every_view() {
    for faulty in [false, true] {
        let seen = long_run(1, faulty);
        eprintln!("faulty={faulty}: most rows per view {:?}", seen.max_rows);
        for view in ViewId::ALL {
            assert!(
                seen.max_rows.get(&view).copied().unwrap_or(0) > 0,
                "faulty={faulty}: {view} always empty"
            );
        }
        let missing: Vec<_> = FLAGS.iter().filter(|f| !seen.flags.contains(**f)).collect();
        assert!(
            missing.is_empty(),
            "faulty={faulty}: never seen {missing:?}; seen {seen:?}"
        );
    }
}

/// ~5,000 rows in every table the views read: the oracle must stay fast.
#[test]
fn evaluates_five_thousand_rows_per_table_quickly() {
    let n = 5_000;
    let mut t = Tables::new();
    let mut put =
        |table: TableId, row: twinflow_ingest::Row| t.apply(&RowChange::insert(table, row));
    for id in 1..=n {
        let c = id % 50 + 1;
        put(Company, rows::company(id, id % 17 == 0));
        put(
            Function,
            rows::function(id, c, "F", (id % 3 == 0).then_some(id / 2)),
        );
        put(JobLevel, rows::job_level(id, c, "L"));
        put(
            Job,
            rows::job(id, c, id % 400 + 1, Some(id % 300 + 1), "J", id % 4),
        );
        put(
            People,
            rows::person(
                id,
                c,
                Some(id % 4_000 + 1),
                Some(id % 4_500 + 1),
                ["active", "leave"][id as usize % 2],
            ),
        );
        put(
            JobSkill,
            rows::job_skill(id, id % 4_000 + 1, id % 100 + 1, id % 5 + 1),
        );
        put(
            TableJob,
            rows::table_job(id, id % 4_500 + 1, id % 4_000 + 1),
        );
        put(Task, rows::task(id, c, "T"));
        put(
            TaskSkill,
            rows::task_skill(id, id % 4_800 + 1, id % 100 + 1, id % 5 + 1),
        );
        put(JobTask, rows::job_task(id, id % 4_000 + 1, id % 4_800 + 1));
        put(Building, rows::building(id, c, "B"));
        put(Floor, rows::floor(id, id % 2_000 + 1, 0, "G"));
        put(Room, rows::room(id, id % 4_000 + 1, "R", "office", 4));
        put(Desk, rows::desk(id, id % 4_500 + 1, "D", 2, 0.0, 0.0));
        put(Skill, rows::skill(id, "S", "c"));
        put(SkillLevel, rows::skill_level(id, id % 5 + 1, "l"));
    }
    evaluate(&t); // warm up
    let start = Instant::now();
    let views = evaluate(&t);
    let elapsed = start.elapsed();
    eprintln!("evaluate over {n} rows per table: {elapsed:?}");
    for view in ViewId::ALL {
        assert!(!views[&view].is_empty(), "{view}");
    }
    assert!(elapsed.as_secs_f64() < 2.0, "too slow: {elapsed:?}");
}

/// Properties every evaluation has, whatever the input: unique keys, live tenants only, sorted
/// output, and the roll-ups agree with their inputs.
fn check_invariants(
    t: &Tables,
    views: &BTreeMap<ViewId, Vec<twinflow_views::Row>>,
) -> Result<(), TestCaseError> {
    let live: HashSet<i64> = t
        .rows(Company)
        .filter(|c| c[Company.column("deleted_at").unwrap()].is_null())
        .map(|c| c[0].as_int().unwrap())
        .collect();
    for (view, rows) in views {
        let schema = twinflow_dataflows::schema(*view);
        let mut keys = HashSet::new();
        prop_assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{view} not sorted");
        for r in rows {
            prop_assert!(
                keys.insert(schema.key_of(r)),
                "{view}: duplicate key in {r:?}"
            );
            prop_assert!(
                live.contains(&ViewSchema::company_of(r)),
                "{view}: row of a dead company {r:?}"
            );
        }
    }
    let total = |view: ViewId, name: &str| {
        let i = twinflow_dataflows::schema(view).column_index(name).unwrap();
        views[&view]
            .iter()
            .map(|r| r[i].as_int().unwrap())
            .sum::<i64>()
    };
    prop_assert_eq!(
        total(ViewId::OccupancyByBuilding, "desks"),
        views[&ViewId::DeskOccupancy].len() as i64
    );
    prop_assert_eq!(
        total(ViewId::OccupancyByBuilding, "rooms"),
        views[&ViewId::Occupancy].len() as i64
    );
    prop_assert_eq!(
        total(ViewId::OccupancyByBuilding, "floors"),
        views[&ViewId::OccupancyByFloor].len() as i64
    );
    prop_assert_eq!(
        total(ViewId::OccupancyByBuilding, "assigned"),
        total(ViewId::DeskOccupancy, "assigned")
    );
    for r in &views[&ViewId::SkillCoverage] {
        let gap = r[8].as_int().unwrap();
        prop_assert!(
            gap >= 0 && r[7].as_int().unwrap() <= r[6].as_int().unwrap(),
            "{r:?}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_streams_keep_the_oracle_consistent(txns in transactions(200, 5, true)) {
        let mut t = Tables::new();
        for txn in &txns {
            t.apply_transaction(txn);
            check_invariants(&t, &evaluate(&t))?;
        }
    }
}
