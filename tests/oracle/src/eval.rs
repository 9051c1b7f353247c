//! `views.sql`, statement by statement, over [`Tables`].
//!
//! Each function below is a direct translation of one `CREATE VIEW`: the `FROM` table is
//! scanned, every `JOIN` on a primary key is a [`Tables::get`] (an INNER JOIN drops the row when
//! it finds nothing, a LEFT JOIN yields `NULL`), correlated subqueries and joins on non-key
//! columns go through a hash map built beforehand, and `GROUP BY` is a map from the grouping key
//! to the accumulated aggregates. A view that reads another view (`LEFT JOIN twin_views.staffing
//! s`, ...) is given that view's rows and reads them by column name, as the SQL does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use twinflow_ingest::TableId::{self, *};
use twinflow_views::{Datum, ViewId};

use crate::columns::{double, int, is_null, opt_int, text};
use crate::tables::Tables;

/// A view row.
type VRow = twinflow_views::Row;

/// Every view of `views.sql`, evaluated over `tables`: per view, the multiset of its rows,
/// sorted, with the columns in the [`ViewId`]'s catalog order (`Datum::Int` for integer columns
/// including counts and sums, `Datum::Float` for `pos_x`/`pos_y`, `Datum::Text` for names and
/// enums, `Datum::Null` where SQL gives `NULL`). Only the SQL columns: no derived ratios.
pub fn evaluate(tables: &Tables) -> BTreeMap<ViewId, Vec<VRow>> {
    let staffing_rows = staffing(tables);
    let by_function = staffing_by_function(tables, &staffing_rows);
    let desks = desk_occupancy(tables);
    let rooms = occupancy(tables, &desks);
    let floors = occupancy_by_floor(tables, &rooms);
    let buildings = occupancy_by_building(tables, &floors);
    let skills = skill_coverage(tables);
    [
        (ViewId::Staffing, staffing_rows),
        (ViewId::StaffingByFunction, by_function),
        (ViewId::DeskOccupancy, desks),
        (ViewId::Occupancy, rooms),
        (ViewId::OccupancyByFloor, floors),
        (ViewId::OccupancyByBuilding, buildings),
        (ViewId::SkillCoverage, skills),
    ]
    .into_iter()
    .map(|(view, rows)| (view, finish(view, rows)))
    .collect()
}

/// One view of `views.sql` over `tables`, as in [`evaluate`] (computing only the views it
/// reads).
pub fn evaluate_view(tables: &Tables, view: ViewId) -> Vec<VRow> {
    let t = tables;
    let rows = match view {
        ViewId::Staffing => staffing(t),
        ViewId::StaffingByFunction => staffing_by_function(t, &staffing(t)),
        ViewId::DeskOccupancy => desk_occupancy(t),
        ViewId::Occupancy => occupancy(t, &desk_occupancy(t)),
        ViewId::OccupancyByFloor => occupancy_by_floor(t, &occupancy(t, &desk_occupancy(t))),
        ViewId::OccupancyByBuilding => {
            occupancy_by_building(t, &occupancy_by_floor(t, &occupancy(t, &desk_occupancy(t))))
        }
        ViewId::SkillCoverage => skill_coverage(t),
    };
    finish(view, rows)
}

/// Checks the rows' shape and sorts them.
fn finish(view: ViewId, mut rows: Vec<VRow>) -> Vec<VRow> {
    for row in &rows {
        check_shape(view, row);
    }
    rows.sort();
    rows
}

/// Every oracle row must fit the view's catalog columns; a mismatch is a bug in the oracle.
fn check_shape(view: ViewId, row: &[Datum]) {
    let schema = twinflow_dataflows::schema(view);
    assert_eq!(
        row.len(),
        schema.columns.len(),
        "oracle: {view} row {row:?} has the wrong arity"
    );
    for (c, d) in schema.columns.iter().zip(row) {
        let ok = match (c.ty, d) {
            (_, Datum::Null) => c.nullable,
            (twinflow_views::ColumnType::Int, Datum::Int(_)) => true,
            (twinflow_views::ColumnType::Float, Datum::Float(_)) => true,
            (twinflow_views::ColumnType::Text, Datum::Text(_)) => true,
            _ => false,
        };
        assert!(
            ok,
            "oracle: {view}.{}: {d:?} does not fit {:?}",
            c.name, c.ty
        );
    }
}

fn row(values: Vec<Datum>) -> VRow {
    Arc::from(values)
}

/// `JOIN twin_org.company c ON c.id = x.company_id AND c.deleted_at IS NULL`: the ids of the
/// companies such a join keeps.
fn live_companies(t: &Tables) -> HashSet<i64> {
    t.rows(Company)
        .filter(|c| is_null(Company, c, "deleted_at"))
        .map(|c| int(Company, c, "id"))
        .collect()
}

/// The index of a view column by name.
fn vcol(view: ViewId, name: &str) -> usize {
    twinflow_dataflows::schema(view)
        .column_index(name)
        .unwrap_or_else(|| panic!("oracle: view {view} has no column `{name}`"))
}

/// An integer column of a view row, by name.
fn vint(view: ViewId, row: &[Datum], name: &str) -> i64 {
    match &row[vcol(view, name)] {
        Datum::Int(i) => *i,
        other => panic!("oracle: {view}.{name}: expected an integer, got {other:?}"),
    }
}

/// Per `people.job_id`, `(SUM(status = 'active'), SUM(status = 'leave'))` over all people whose
/// `job_id IS NOT NULL` (any company).
/// The rows of `view` grouped by the integer column `column` (the LEFT JOIN of a parent table
/// with a child view on that column).
fn group_by<'a>(view: ViewId, rows: &'a [VRow], column: &str) -> HashMap<i64, Vec<&'a VRow>> {
    let mut groups: HashMap<i64, Vec<&VRow>> = HashMap::new();
    for r in rows {
        groups.entry(vint(view, r, column)).or_default().push(r);
    }
    groups
}

fn people_by_job(t: &Tables) -> HashMap<i64, (i64, i64)> {
    let mut by_job: HashMap<i64, (i64, i64)> = HashMap::new();
    for p in t.rows(People) {
        let Some(job_id) = opt_int(People, p, "job_id") else {
            continue;
        };
        let status = text(People, p, "status");
        let e = by_job.entry(job_id).or_default();
        e.0 += i64::from(&*status == "active");
        e.1 += i64::from(&*status == "leave");
    }
    by_job
}

/// `twin_views.staffing`.
fn staffing(t: &Tables) -> Vec<VRow> {
    let live = live_companies(t);
    let p = people_by_job(t);
    let mut out = Vec::new();
    for j in t.rows(Job) {
        let company_id = int(Job, j, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let function_id = int(Job, j, "function_id");
        let function_name = t
            .get(Function, function_id)
            .map(|f| text(Function, f, "name"));
        let job_level = opt_int(Job, j, "job_level_id")
            .and_then(|id| t.get(JobLevel, id))
            .map(|jl| text(JobLevel, jl, "name"));
        let job_id = int(Job, j, "id");
        let headcount = int(Job, j, "headcount");
        let (filled, on_leave) = p.get(&job_id).copied().unwrap_or((0, 0));
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(function_id),
            Datum::from(function_name),
            Datum::Int(job_id),
            Datum::Text(text(Job, j, "title")),
            Datum::from(job_level),
            Datum::Int(headcount),
            Datum::Int(filled),
            Datum::Int(on_leave),
            Datum::Int((headcount - filled).max(0)),
            Datum::Int((filled - headcount).max(0)),
        ]));
    }
    out
}

/// `twin_views.staffing_by_function`, over `staffing`: the rows of `twin_views.staffing`.
fn staffing_by_function(t: &Tables, staffing: &[VRow]) -> Vec<VRow> {
    const S: ViewId = ViewId::Staffing;
    let live = live_companies(t);
    // LEFT JOIN twin_views.staffing s ON s.function_id = f.id
    let s_by_function = group_by(S, staffing, "function_id");
    let mut out = Vec::new();
    for f in t.rows(Function) {
        let company_id = int(Function, f, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let id = int(Function, f, "id");
        let s = s_by_function
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sum = |name: &str| s.iter().map(|r| vint(S, r, name)).sum::<i64>();
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(id),
            Datum::Text(text(Function, f, "name")),
            opt_int(Function, f, "parent_function_id").map_or(Datum::Null, Datum::Int),
            Datum::Int(s.len() as i64), // COUNT(s.job_id): job_id is never NULL in staffing
            Datum::Int(sum("planned")),
            Datum::Int(sum("filled")),
            Datum::Int(sum("on_leave")),
            Datum::Int(sum("vacancies")),
            Datum::Int(sum("overstaffed")),
        ]));
    }
    out
}

/// Counts the rows of `table` per value of its `NOT NULL` integer column `column`.
fn count_by(t: &Tables, table: TableId, column: &str) -> HashMap<i64, i64> {
    let mut counts = HashMap::new();
    for r in t.rows(table) {
        *counts.entry(int(table, r, column)).or_insert(0) += 1;
    }
    counts
}

/// `twin_views.desk_occupancy`.
fn desk_occupancy(t: &Tables) -> Vec<VRow> {
    let live = live_companies(t);
    // (SELECT COUNT(*) FROM twin_hr.people p WHERE p.table_id = t.id AND p.status = 'active')
    let mut assigned: HashMap<i64, i64> = HashMap::new();
    for p in t.rows(People) {
        if let Some(table_id) = opt_int(People, p, "table_id") {
            if &*text(People, p, "status") == "active" {
                *assigned.entry(table_id).or_insert(0) += 1;
            }
        }
    }
    // (SELECT COUNT(*) FROM twin_hr.table_job tj WHERE tj.table_id = t.id)
    let reserved = count_by(t, TableJob, "table_id");
    let mut out = Vec::new();
    for d in t.rows(Desk) {
        let Some(r) = t.get(Room, int(Desk, d, "room_id")) else {
            continue;
        };
        let Some(fl) = t.get(Floor, int(Room, r, "floor_id")) else {
            continue;
        };
        let Some(b) = t.get(Building, int(Floor, fl, "building_id")) else {
            continue;
        };
        let company_id = int(Building, b, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let id = int(Desk, d, "id");
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(int(Building, b, "id")),
            Datum::Int(int(Floor, fl, "id")),
            Datum::Int(int(Room, r, "id")),
            Datum::Int(id),
            Datum::Text(text(Desk, d, "label")),
            Datum::Int(int(Desk, d, "seats")),
            Datum::Float(double(Desk, d, "pos_x")),
            Datum::Float(double(Desk, d, "pos_y")),
            Datum::Int(assigned.get(&id).copied().unwrap_or(0)),
            Datum::Int(reserved.get(&id).copied().unwrap_or(0)),
        ]));
    }
    out
}

/// `twin_views.occupancy`, over `desks`: the rows of `twin_views.desk_occupancy`.
fn occupancy(t: &Tables, desks: &[VRow]) -> Vec<VRow> {
    const D: ViewId = ViewId::DeskOccupancy;
    let live = live_companies(t);
    // LEFT JOIN twin_views.desk_occupancy d ON d.room_id = r.id
    let d_by_room = group_by(D, desks, "room_id");
    let mut out = Vec::new();
    for r in t.rows(Room) {
        let Some(fl) = t.get(Floor, int(Room, r, "floor_id")) else {
            continue;
        };
        let Some(b) = t.get(Building, int(Floor, fl, "building_id")) else {
            continue;
        };
        let company_id = int(Building, b, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let id = int(Room, r, "id");
        let d = d_by_room.get(&id).map(Vec::as_slice).unwrap_or_default();
        let sum = |name: &str| d.iter().map(|r| vint(D, r, name)).sum::<i64>();
        let reserved_desks = d.iter().filter(|r| vint(D, r, "reserved_jobs") > 0).count() as i64;
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(int(Building, b, "id")),
            Datum::Int(int(Floor, fl, "id")),
            Datum::Int(id),
            Datum::Text(text(Room, r, "name")),
            Datum::Text(text(Room, r, "kind")),
            Datum::Int(int(Room, r, "capacity")),
            Datum::Int(d.len() as i64), // COUNT(d.table_id): never NULL in desk_occupancy
            Datum::Int(sum("seats")),
            Datum::Int(sum("assigned")),
            Datum::Int(reserved_desks),
        ]));
    }
    out
}

/// `twin_views.occupancy_by_floor`, over `rooms`: the rows of `twin_views.occupancy`.
fn occupancy_by_floor(t: &Tables, rooms: &[VRow]) -> Vec<VRow> {
    const O: ViewId = ViewId::Occupancy;
    let live = live_companies(t);
    // LEFT JOIN twin_views.occupancy o ON o.floor_id = fl.id
    let o_by_floor = group_by(O, rooms, "floor_id");
    let mut out = Vec::new();
    for fl in t.rows(Floor) {
        let Some(b) = t.get(Building, int(Floor, fl, "building_id")) else {
            continue;
        };
        let company_id = int(Building, b, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let id = int(Floor, fl, "id");
        let o = o_by_floor.get(&id).map(Vec::as_slice).unwrap_or_default();
        let sum = |name: &str| o.iter().map(|r| vint(O, r, name)).sum::<i64>();
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(int(Building, b, "id")),
            Datum::Int(id),
            Datum::Int(int(Floor, fl, "level")),
            Datum::Text(text(Floor, fl, "name")),
            Datum::Int(o.len() as i64), // COUNT(o.room_id)
            Datum::Int(sum("capacity")),
            Datum::Int(sum("desks")),
            Datum::Int(sum("seats")),
            Datum::Int(sum("assigned")),
            Datum::Int(sum("reserved_desks")),
        ]));
    }
    out
}

/// `twin_views.occupancy_by_building`, over `floors`: the rows of
/// `twin_views.occupancy_by_floor`.
fn occupancy_by_building(t: &Tables, floors: &[VRow]) -> Vec<VRow> {
    const O: ViewId = ViewId::OccupancyByFloor;
    let live = live_companies(t);
    // LEFT JOIN twin_views.occupancy_by_floor o ON o.building_id = b.id
    let o_by_building = group_by(O, floors, "building_id");
    let mut out = Vec::new();
    for b in t.rows(Building) {
        let company_id = int(Building, b, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let id = int(Building, b, "id");
        let o = o_by_building
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sum = |name: &str| o.iter().map(|r| vint(O, r, name)).sum::<i64>();
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(id),
            Datum::Text(text(Building, b, "name")),
            Datum::Int(o.len() as i64), // COUNT(o.floor_id)
            Datum::Int(sum("rooms")),
            Datum::Int(sum("capacity")),
            Datum::Int(sum("desks")),
            Datum::Int(sum("seats")),
            Datum::Int(sum("assigned")),
            Datum::Int(sum("reserved_desks")),
        ]));
    }
    out
}

/// Active people per `people.job_id` (any company): `SELECT COUNT(*) FROM twin_hr.people p
/// WHERE p.job_id = ? AND p.status = 'active'`; `EXISTS` of the same is `> 0`.
fn active_by_job(t: &Tables) -> HashMap<i64, i64> {
    people_by_job(t)
        .into_iter()
        .map(|(job, (active, _))| (job, active))
        .collect()
}

/// `twin_views.skill_coverage_supply`: per `(company_id, skill_id)`,
/// `(jobs_with_skill, holders)`.
fn skill_coverage_supply(t: &Tables) -> BTreeMap<(i64, i64), (i64, i64)> {
    let live = live_companies(t);
    let active = active_by_job(t);
    let mut groups: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for js in t.rows(JobSkill) {
        let Some(j) = t.get(Job, int(JobSkill, js, "job_id")) else {
            continue;
        };
        let company_id = int(Job, j, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let g = groups
            .entry((company_id, int(JobSkill, js, "skill_id")))
            .or_default();
        g.0 += 1; // COUNT(*)
        g.1 += active.get(&int(Job, j, "id")).copied().unwrap_or(0);
    }
    groups
}

/// `twin_views.skill_coverage_demand`: per `(company_id, skill_id)`,
/// `(tasks_requiring, tasks_covered)`.
fn skill_coverage_demand(t: &Tables) -> BTreeMap<(i64, i64), (i64, i64)> {
    let live = live_companies(t);
    let active = active_by_job(t);
    let mut jt_by_task: HashMap<i64, Vec<i64>> = HashMap::new();
    for jt in t.rows(JobTask) {
        jt_by_task
            .entry(int(JobTask, jt, "task_id"))
            .or_default()
            .push(int(JobTask, jt, "job_id"));
    }
    let mut js_by_job_skill: HashMap<(i64, i64), Vec<i64>> = HashMap::new();
    for js in t.rows(JobSkill) {
        js_by_job_skill
            .entry((int(JobSkill, js, "job_id"), int(JobSkill, js, "skill_id")))
            .or_default()
            .push(int(JobSkill, js, "skill_level_id"));
    }
    let level = |skill_level_id: i64| {
        t.get(SkillLevel, skill_level_id)
            .map(|l| int(SkillLevel, l, "level"))
    };

    let mut groups: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for ts in t.rows(TaskSkill) {
        let task_id = int(TaskSkill, ts, "task_id");
        let Some(task) = t.get(Task, task_id) else {
            continue;
        };
        let company_id = int(Task, task, "company_id");
        if !live.contains(&company_id) {
            continue;
        }
        let skill_id = int(TaskSkill, ts, "skill_id");
        let need = level(int(TaskSkill, ts, "skill_level_id"));
        // EXISTS (SELECT 1 FROM job_task jt JOIN job jj JOIN job_skill js JOIN skill_level have
        //         JOIN skill_level need WHERE jt.task_id = ts.task_id AND have.level >= need.level
        //         AND EXISTS (active people in jt.job_id))
        let covered = jt_by_task
            .get(&task_id)
            .into_iter()
            .flatten()
            .any(|&job_id| {
                let job_exists = t.get(Job, job_id).is_some();
                let holds = js_by_job_skill
                    .get(&(job_id, skill_id))
                    .into_iter()
                    .flatten()
                    .any(|&have_id| match (level(have_id), need) {
                        (Some(have), Some(need)) => have >= need,
                        _ => false,
                    });
                let staffed = active.get(&job_id).copied().unwrap_or(0) > 0;
                job_exists && holds && staffed
            });
        let g = groups.entry((company_id, skill_id)).or_default();
        g.0 += 1; // COUNT(*)
        g.1 += i64::from(covered);
    }
    groups
}

/// `twin_views.skill_coverage`.
fn skill_coverage(t: &Tables) -> Vec<VRow> {
    let supply = skill_coverage_supply(t);
    let demand = skill_coverage_demand(t);
    // SELECT company_id, skill_id FROM supply UNION SELECT company_id, skill_id FROM demand
    let keys: BTreeSet<(i64, i64)> = supply.keys().chain(demand.keys()).copied().collect();
    let mut out = Vec::new();
    for (company_id, skill_id) in keys {
        // JOIN twin_skills.skill s ON s.id = k.skill_id
        let Some(s) = t.get(Skill, skill_id) else {
            continue;
        };
        let (jobs_with_skill, holders) = supply
            .get(&(company_id, skill_id))
            .copied()
            .unwrap_or((0, 0));
        let (tasks_requiring, tasks_covered) = demand
            .get(&(company_id, skill_id))
            .copied()
            .unwrap_or((0, 0));
        out.push(row(vec![
            Datum::Int(company_id),
            Datum::Int(skill_id),
            Datum::Text(text(Skill, s, "name")),
            Datum::Text(text(Skill, s, "category")),
            Datum::Int(jobs_with_skill),
            Datum::Int(holders),
            Datum::Int(tasks_requiring),
            Datum::Int(tasks_covered),
            Datum::Int(tasks_requiring - tasks_covered),
        ]));
    }
    out
}
