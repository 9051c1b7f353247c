//! The org generator as a source: valid rows, determinism, proportions, correctness of before
//! images and ids, coverage of every change kind, and the async driver's rate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinflow_connectors::{run_generator, ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_ingest::validate::check_change;
use twinflow_ingest::{Row, RowChange, SourcePosition, TableId, Transaction, Value};

fn generator(seed: u64, scale: u64) -> OrgGenerator {
    OrgGenerator::new(
        GeneratorConfig {
            seed,
            scale,
            snapshot_chunk: 1_000,
            ..GeneratorConfig::default()
        },
        Arc::from("gen"),
    )
}

fn col(table: TableId, row: &Row, name: &str) -> Value {
    table
        .column(name)
        .and_then(|i| row.get(i))
        .cloned()
        .unwrap_or(Value::Null)
}

fn id_of(v: &Value) -> Option<i64> {
    v.as_int()
}

/// A replay of the stream into a plain map: checks that the generator never lies.
#[derive(Default)]
struct Replay {
    rows: BTreeMap<(TableId, i64), Row>,
    seen: HashSet<(TableId, i64)>,
    /// Live people per desk id (`people.table_id`).
    people_at_desk: HashMap<i64, u32>,
}

impl Replay {
    fn get(&self, table: TableId, id: i64) -> Option<&Row> {
        self.rows.get(&(table, id))
    }

    fn apply(&mut self, c: &RowChange) -> Result<(), String> {
        let id = c.key().ok_or("no key")?;
        let key = (c.table, id);
        if let Some(before) = &c.before {
            match self.rows.get(&key) {
                Some(current) if current == before => {}
                other => {
                    return Err(format!(
                        "{} {id}: before {before:?} but model has {other:?}",
                        c.table
                    ))
                }
            }
        } else if !self.seen.insert(key) {
            return Err(format!("{} {id}: insert reuses an id", c.table));
        }
        if let (Some(b), Some(a)) = (&c.before, &c.after) {
            if b.first() != a.first() {
                return Err(format!("{} {id}: update changes the key", c.table));
            }
        }
        if c.table == TableId::People {
            for (row, delta) in [(&c.before, -1i32), (&c.after, 1)] {
                if let Some(desk) = row
                    .as_ref()
                    .and_then(|r| id_of(&col(c.table, r, "table_id")))
                {
                    let n = self.people_at_desk.entry(desk).or_default();
                    *n = n.saturating_add_signed(delta);
                }
            }
        }
        match &c.after {
            Some(after) => self.rows.insert(key, after.clone()),
            None => self.rows.remove(&key),
        };
        Ok(())
    }
}

fn snapshot(gen: &OrgGenerator) -> Vec<Transaction> {
    gen.snapshot().collect()
}

#[test]
fn every_row_fits_the_catalog() {
    let mut gen = generator(7, 2_000);
    for part in gen.snapshot() {
        for c in &part.changes {
            assert_eq!(check_change(c), Ok(()), "{c:?}");
        }
    }
    for _ in 0..20_000 {
        let txn = gen.next_transaction();
        assert!(
            !txn.changes.is_empty() && txn.changes.len() <= 12,
            "{}",
            txn.changes.len()
        );
        for c in &txn.changes {
            assert_eq!(check_change(c), Ok(()), "{c:?}");
        }
    }
}

#[test]
fn snapshot_is_one_transaction_in_parts() {
    let gen = generator(3, 2_000);
    let parts = snapshot(&gen);
    assert!(parts.len() > 1);
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.position, SourcePosition::Generator { seq: 0 });
        assert_eq!(part.more_follows, i != last);
        assert!(part.changes.len() <= 1_000);
        assert!(part
            .changes
            .iter()
            .all(|c| c.before.is_none() && c.after.is_some()));
    }
    let mut per_table: BTreeMap<TableId, usize> = BTreeMap::new();
    for c in parts.iter().flat_map(|p| &p.changes) {
        *per_table.entry(c.table).or_default() += 1;
    }
    for &t in TableId::ALL {
        let n = per_table.get(&t).copied().unwrap_or(0);
        assert!(n >= 2, "{t} has {n} rows");
        assert_eq!(n, gen.row_count(t), "{t}");
    }
    // Even a tiny organisation has a bit of everything.
    let tiny = generator(3, 1);
    let rows: BTreeSet<TableId> = tiny
        .snapshot()
        .flat_map(|p| p.changes)
        .map(|c| c.table)
        .collect();
    assert_eq!(rows.len(), TableId::ALL.len());
}

fn stream(seed: u64, scale: u64, n: usize) -> Vec<(SourcePosition, u64, Vec<RowChange>)> {
    let mut gen = generator(seed, scale);
    let mut out: Vec<_> = gen
        .snapshot()
        .map(|t| (t.position, t.commit_time_ms, t.changes))
        .collect();
    out.extend((0..n).map(|_| {
        let t = gen.next_transaction();
        (t.position, t.commit_time_ms, t.changes)
    }));
    out
}

#[test]
fn same_seed_same_stream_different_seed_different_stream() {
    let a = stream(11, 1_000, 3_000);
    assert_eq!(a, stream(11, 1_000, 3_000));
    let b = stream(12, 1_000, 3_000);
    assert_ne!(a, b);
    let snapshot_rows = |s: &[(SourcePosition, u64, Vec<RowChange>)]| -> Vec<RowChange> {
        s.iter()
            .filter(|(p, ..)| *p == SourcePosition::Generator { seq: 0 })
            .flat_map(|(.., c)| c.clone())
            .collect()
    };
    assert_ne!(snapshot_rows(&a), snapshot_rows(&b));
}

#[test]
fn resume_regenerates_the_same_stream() {
    let mut fresh = generator(5, 1_000);
    let expected: Vec<Vec<RowChange>> =
        (0..600).map(|_| fresh.next_transaction().changes).collect();
    let mut resumed = generator(5, 1_000);
    resumed.resume_after(500);
    assert_eq!(resumed.position(), 500);
    let txn = resumed.next_transaction();
    assert_eq!(txn.position, SourcePosition::Generator { seq: 501 });
    assert_eq!(txn.changes, expected[500]);
    resumed.resume_after(100);
    assert_eq!(resumed.next_transaction().changes, expected[100]);
}

#[test]
fn the_person_moves_mix_moves_people_between_desks_and_jobs() {
    let mut gen = OrgGenerator::new(
        GeneratorConfig {
            scale: 5_000,
            mix: ChangeMix::PersonMoves,
            ..GeneratorConfig::default()
        },
        Arc::from("gen"),
    );
    let people = TableId::People;
    let (mut desk_moves, mut job_changes, mut other) = (0, 0, 0);
    for _ in 0..2_000 {
        for change in gen.next_transaction().changes {
            match (&change.before, &change.after) {
                (Some(before), Some(after)) if change.table == people => {
                    let moved = |column| col(people, before, column) != col(people, after, column);
                    desk_moves += usize::from(moved("table_id"));
                    job_changes += usize::from(moved("job_id"));
                }
                // Rows the initial state already references, inserted when they fall due.
                (None, Some(_)) => other += 1,
                _ => panic!("not a person move: {change:?}"),
            }
        }
    }
    assert!(
        desk_moves > 1_000 && job_changes > 300 && other < 50,
        "{desk_moves} desk moves, {job_changes} job changes, {other} other changes"
    );
}

fn shape(scale: u64) -> BTreeMap<TableId, usize> {
    let gen = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale,
            snapshot_chunk: 50_000,
            ..GeneratorConfig::default()
        },
        Arc::from("gen"),
    );
    let mut counts = BTreeMap::new();
    for part in gen.snapshot() {
        for c in &part.changes {
            *counts.entry(c.table).or_default() += 1;
        }
    }
    counts
}

fn assert_near(
    counts: &BTreeMap<TableId, usize>,
    table: TableId,
    expected: usize,
    tolerance_pct: usize,
) {
    let n = counts.get(&table).copied().unwrap_or(0);
    let slack = expected * tolerance_pct / 100;
    assert!(
        n.abs_diff(expected) <= slack,
        "{table}: {n} rows, expected {expected} ± {slack}"
    );
}

fn assert_proportions(scale: usize) {
    let counts = shape(scale as u64);
    assert_near(&counts, TableId::People, scale, 0);
    assert_near(&counts, TableId::Company, (scale / 50_000).max(2), 0);
    assert_near(&counts, TableId::Job, scale / 20, 1);
    assert_near(&counts, TableId::Desk, scale / 5, 1);
    assert_near(&counts, TableId::Room, scale / 50, 1);
    assert_near(&counts, TableId::Skill, (scale / 5_000).max(10), 0);
    assert_near(&counts, TableId::Function, scale / 400, 10);
    assert_near(&counts, TableId::Task, scale / 40, 1);
    assert_near(&counts, TableId::JobSkill, scale / 10, 15);
    assert_near(&counts, TableId::JobTask, scale / 10, 15);
    assert_near(&counts, TableId::SkillLevel, 6, 0);
}

#[test]
fn proportions_at_100k() {
    assert_proportions(100_000);
}

#[test]
fn proportions_at_1m() {
    assert_proportions(1_000_000);
}

#[test]
fn the_generator_never_lies() {
    let mut gen = generator(21, 2_000);
    let mut replay = Replay::default();
    for part in gen.snapshot() {
        for c in &part.changes {
            replay.apply(c).unwrap_or_else(|e| panic!("snapshot: {e}"));
        }
    }
    for _ in 0..30_000 {
        let txn = gen.next_transaction();
        for c in &txn.changes {
            replay
                .apply(c)
                .unwrap_or_else(|e| panic!("{}: {e}", txn.position));
        }
    }
    // The model agrees with the generator's own state, table by table.
    for &t in TableId::ALL {
        let n = replay.rows.range((t, i64::MIN)..=(t, i64::MAX)).count();
        assert_eq!(n, gen.row_count(t), "{t}");
    }
    // And with a fresh snapshot of the current state.
    let now: BTreeMap<(TableId, i64), Row> = gen
        .snapshot()
        .flat_map(|p| p.changes)
        .filter_map(|c| Some(((c.table, c.key()?), c.after?)))
        .collect();
    assert!(
        now == replay.rows,
        "snapshot after the stream differs from the replay"
    );
}

/// What one change does, by table and the columns it changes.
fn classify(
    replay: &Replay,
    c: &RowChange,
    future: &mut HashSet<(TableId, i64)>,
    seen: &mut BTreeSet<&'static str>,
) {
    use TableId::*;
    let t = c.table;
    let changed: Vec<&'static str> = match (&c.before, &c.after) {
        (Some(b), Some(a)) => t
            .schema()
            .columns
            .iter()
            .zip(b.iter().zip(a.iter()))
            .filter(|(col, (x, y))| x != y && col.name != "updated_at")
            .map(|(col, _)| col.name)
            .collect(),
        _ => Vec::new(),
    };
    let after = |name: &str| {
        c.after
            .as_ref()
            .map(|r| col(t, r, name))
            .unwrap_or(Value::Null)
    };
    let before = |name: &str| {
        c.before
            .as_ref()
            .map(|r| col(t, r, name))
            .unwrap_or(Value::Null)
    };
    let exists =
        |table: TableId, v: &Value| id_of(v).is_some_and(|id| replay.get(table, id).is_some());
    let mut note = |kind: &'static str| {
        seen.insert(kind);
    };
    let kind = (c.before.is_some(), c.after.is_some());
    match (t, kind) {
        (People, (true, true)) => {
            if changed.contains(&"table_id") {
                note("person desk move");
                let desk = after("table_id");
                if !desk.is_null()
                    && !exists(Desk, &desk)
                    && id_of(&desk).is_some_and(|d| !replay.seen.contains(&(Desk, d)))
                {
                    future.insert((Desk, id_of(&desk).unwrap_or(0)));
                    note("person to a desk not yet inserted");
                }
            }
            if changed.contains(&"job_id") {
                note("person job change");
                let job = after("job_id");
                if !job.is_null()
                    && !exists(Job, &job)
                    && id_of(&job).is_some_and(|j| !replay.seen.contains(&(Job, j)))
                {
                    future.insert((Job, id_of(&job).unwrap_or(0)));
                    note("person to a job not yet inserted");
                }
            }
            if changed.contains(&"status") {
                note(if after("status") == Value::text("terminated") {
                    "termination by status"
                } else {
                    "status change"
                });
            }
        }
        (People, (false, true)) => note("hire"),
        (People, (true, false)) => note("termination by delete"),
        (Job, (true, true)) => {
            for (column, kind) in [
                ("headcount", "headcount edit"),
                ("title", "job title change"),
                ("job_level_id", "job level change"),
            ] {
                if changed.contains(&column) {
                    note(kind);
                }
            }
            if changed.contains(&"headcount") && after("headcount") == Value::Int(0) {
                note("headcount to zero");
            }
        }
        (Job, (false, true)) => {
            note("new job");
            if future.remove(&(Job, c.key().unwrap_or(0))) {
                note("a job named earlier is inserted");
            }
        }
        (Desk, (false, true)) => {
            note("desk added");
            if future.remove(&(Desk, c.key().unwrap_or(0))) {
                note("a desk named earlier is inserted");
            }
        }
        (Desk, (true, false)) => {
            note("desk removed");
            if replay
                .people_at_desk
                .get(&c.key().unwrap_or(0))
                .copied()
                .unwrap_or(0)
                > 0
            {
                note("desk removed under people");
            }
        }
        (Desk, (true, true)) if changed == ["seats"] => note("seats changed"),
        (Room, (true, true)) if changed == ["floor_id"] => {
            note("room moved");
            let building = |floor: &Value| {
                id_of(floor)
                    .and_then(|f| replay.get(Floor, f))
                    .map(|r| col(Floor, r, "building_id"))
            };
            let company = |b: Option<Value>| {
                b.and_then(|b| id_of(&b))
                    .and_then(|b| replay.get(Building, b))
                    .map(|r| col(Building, r, "company_id"))
            };
            let (from, to) = (building(&before("floor_id")), building(&after("floor_id")));
            if from != to {
                note("room moved to another building");
            }
            if company(from) != company(to) {
                note("room moved to another company");
            }
        }
        (Room, (false, true)) => note("new room"),
        (Floor, (false, true)) => note("new floor"),
        (Building, (false, true)) => note("new building"),
        (Room, (true, false)) => note("room deleted"),
        (Floor, (true, false)) => note("floor deleted"),
        (Building, (true, false)) => note("building deleted"),
        (Job, (true, false)) => note("job deleted"),
        (Function, (true, false)) => note("function deleted"),
        (JobSkill, (true, true)) if changed == ["skill_level_id"] => note("job_skill level edit"),
        (TaskSkill, (true, true)) if changed == ["skill_level_id"] => note("task_skill level edit"),
        (SkillLevel, (true, true)) if changed == ["level"] => note("skill_level level edit"),
        (SkillLevel, (true, false)) => note("skill_level deleted"),
        (JobTask, (false, true)) => {
            note("job_task insert");
            let job = after("job_id");
            if !exists(Job, &job) && id_of(&job).is_some_and(|j| !replay.seen.contains(&(Job, j))) {
                future.insert((Job, id_of(&job).unwrap_or(0)));
                note("job_task naming a job not yet inserted");
            }
        }
        (JobTask, (true, false)) => note("job_task delete"),
        (JobTask, (true, true)) => note("job_task update"),
        (TableJob, (false, true)) => note("table_job insert"),
        (TableJob, (true, false)) => note("table_job delete"),
        (TableJob, (true, true)) => note("table_job update"),
        (Company, (true, true)) if changed.contains(&"deleted_at") => {
            note(if after("deleted_at").is_null() {
                "company undelete"
            } else {
                "company soft delete"
            });
        }
        (Function, (true, true)) => {
            if changed.contains(&"name") {
                note("function rename");
            }
            if changed.contains(&"parent_function_id") {
                note("function re-parent");
            }
        }
        (Function, (false, true)) => note("new function"),
        _ => {}
    }
}

#[test]
fn every_change_kind_occurs() {
    let mut gen = generator(2024, 5_000);
    let mut replay = Replay::default();
    let mut future = HashSet::new();
    let mut seen = BTreeSet::new();
    for c in gen.snapshot().flat_map(|p| p.changes) {
        replay.apply(&c).unwrap_or_else(|e| panic!("{e}"));
    }
    // The initial state names jobs that only the stream inserts.
    for row in replay
        .rows
        .range((TableId::People, 0)..=(TableId::People, i64::MAX))
        .map(|(_, r)| r)
    {
        let job = col(TableId::People, row, "job_id");
        if let Some(j) = id_of(&job).filter(|&j| replay.get(TableId::Job, j).is_none()) {
            future.insert((TableId::Job, j));
            seen.insert("snapshot person naming a job not yet inserted");
        }
    }
    let mut updated_at_moves = false;
    for _ in 0..50_000 {
        let txn = gen.next_transaction();
        let databases: BTreeSet<&str> = txn
            .changes
            .iter()
            .map(|c| c.table.schema().database)
            .collect();
        if databases.len() > 1 {
            seen.insert("transaction across databases");
        }
        let tables: BTreeSet<TableId> = txn
            .changes
            .iter()
            .filter(|c| c.before.is_none())
            .map(|c| c.table)
            .collect();
        if tables.contains(&TableId::People)
            && txn
                .changes
                .iter()
                .any(|c| c.table == TableId::Job && c.before.is_some())
        {
            seen.insert("hire with headcount");
        }
        if [TableId::Room, TableId::Desk, TableId::BuildingCell]
            .iter()
            .all(|t| tables.contains(t))
        {
            seen.insert("new room with desks and cells");
        }
        let deleted: BTreeSet<TableId> = txn
            .changes
            .iter()
            .filter(|c| c.after.is_none())
            .map(|c| c.table)
            .collect();
        if [TableId::Job, TableId::JobSkill, TableId::JobTask]
            .iter()
            .all(|t| deleted.contains(t))
        {
            seen.insert("job deleted with its skills and tasks");
        }
        for c in &txn.changes {
            classify(&replay, c, &mut future, &mut seen);
            if c.table == TableId::People && c.before.is_some() && c.after.is_some() {
                let stamp =
                    |r: &Option<Row>| r.as_ref().map(|r| col(TableId::People, r, "updated_at"));
                updated_at_moves |= stamp(&c.after)
                    == Some(Value::DateTimeMillis(txn.commit_time_ms as i64))
                    && stamp(&c.before) != stamp(&c.after);
            }
            replay.apply(c).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(updated_at_moves, "updated_at must follow the commit time");
    let expected = [
        "person desk move",
        "person job change",
        "status change",
        "termination by status",
        "hire",
        "termination by delete",
        "hire with headcount",
        "headcount edit",
        "headcount to zero",
        "desk added",
        "desk removed",
        "desk removed under people",
        "seats changed",
        "room moved",
        "room moved to another building",
        "room moved to another company",
        "job_skill level edit",
        "task_skill level edit",
        "skill_level level edit",
        "skill_level deleted",
        "job_task insert",
        "job_task delete",
        "job_task update",
        "table_job insert",
        "table_job delete",
        "table_job update",
        "job_task naming a job not yet inserted",
        "person to a desk not yet inserted",
        "person to a job not yet inserted",
        "a job named earlier is inserted",
        "a desk named earlier is inserted",
        "snapshot person naming a job not yet inserted",
        "company soft delete",
        "company undelete",
        "function rename",
        "function re-parent",
        "job title change",
        "job level change",
        "new job",
        "new function",
        "new room",
        "new floor",
        "new building",
        "transaction across databases",
        "new room with desks and cells",
        "room deleted",
        "floor deleted",
        "building deleted",
        "job deleted",
        "function deleted",
        "job deleted with its skills and tasks",
    ];
    let missing: Vec<_> = expected.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(missing.is_empty(), "never seen: {missing:?}");
}

#[tokio::test]
async fn run_generator_keeps_the_rate() {
    let gen = generator(9, 200);
    let snapshot_parts = gen.snapshot().count();
    let (tx, mut rx) = twinflow_connectors::transaction_queue(16_384);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_generator(gen, None, 20_000.0, tx, status(), async {
        let _ = stopped.await;
    }));
    for _ in 0..snapshot_parts {
        let part = rx
            .recv()
            .await
            .unwrap_or_else(|| panic!("snapshot part missing"));
        assert_eq!(part.position, SourcePosition::Generator { seq: 0 });
    }
    let start = Instant::now();
    let mut changes = 0;
    let mut last_seq = 0;
    while start.elapsed() < Duration::from_secs(1) {
        if let Ok(Some(txn)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            let SourcePosition::Generator { seq } = txn.position else {
                panic!("position")
            };
            assert_eq!(seq, last_seq + 1);
            last_seq = seq;
            changes += txn.changes.len();
        }
    }
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    // Not timing-critical: only "not wildly off" (±10% is the goal, ±25% the bound here).
    assert!(
        (15_000..=25_000).contains(&changes),
        "{changes} changes in 1 s at 20k/s"
    );
}

#[tokio::test]
async fn run_generator_stops_when_the_receiver_goes() {
    let gen = generator(9, 200);
    let (tx, rx) = twinflow_connectors::transaction_queue(4);
    drop(rx);
    let done = tokio::time::timeout(
        Duration::from_secs(5),
        run_generator(gen, None, 0.0, tx, status(), std::future::pending()),
    )
    .await;
    assert!(done.is_ok());
}

fn status() -> std::sync::Arc<twinflow_connectors::ConnectorStatus> {
    std::sync::Arc::new(twinflow_connectors::ConnectorStatus::new(
        "generator",
        "generator",
    ))
}
