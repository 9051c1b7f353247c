//! Hand-written scenarios: every expected view row below is worked out by hand from the SQL of
//! `views.sql`, not from the oracle.

use std::sync::Arc;

use twinflow_ingest::TableId::{self, *};
use twinflow_ingest::{Row, RowChange, SourcePosition, Transaction, Value};
use twinflow_oracle::rows::*;
use twinflow_oracle::{diff, evaluate, evaluate_view, Tables};
use twinflow_views::{Datum, ViewId};

fn i(v: i64) -> Datum {
    Datum::Int(v)
}
fn s(v: &str) -> Datum {
    Datum::Text(v.into())
}
fn null() -> Datum {
    Datum::Null
}
fn f(v: f64) -> Datum {
    Datum::Float(v)
}
fn r(v: Vec<Datum>) -> twinflow_views::Row {
    Arc::from(v)
}

fn ins(t: &mut Tables, table: TableId, row: Row) {
    t.apply(&RowChange::insert(table, row));
}

fn upd(t: &mut Tables, table: TableId, after: Row) {
    let id = after[0].as_int().unwrap();
    let before = t.get(table, id).cloned().expect("updating a present row");
    t.apply(&RowChange::update(table, before, after));
}

fn del(t: &mut Tables, table: TableId, id: i64) {
    let before = t.get(table, id).cloned().expect("deleting a present row");
    t.apply(&RowChange::delete(table, before));
}

#[track_caller]
fn assert_view(t: &Tables, view: ViewId, mut expected: Vec<twinflow_views::Row>) {
    expected.sort();
    let actual = evaluate_view(t, view);
    if let Some(d) = diff(view, &expected, &actual) {
        panic!("{d}");
    }
}

// ------------------------------------------------------------------------------- staffing

#[test]
fn job_with_missing_function_and_level_keeps_its_row_with_null_names() {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Function, function(5, 1, "Ops", None));
    ins(&mut t, Function, function(6, 1, "Empty", Some(5)));
    ins(&mut t, JobLevel, job_level(3, 1, "Senior"));
    ins(&mut t, Job, job(10, 1, 99, Some(98), "Engineer", 3)); // Function 99, level 98 missing
    ins(&mut t, Job, job(11, 1, 5, None, "Operator", 1));
    ins(&mut t, Job, job(12, 1, 5, Some(3), "Lead", 0));
    ins(&mut t, People, person(1, 1, Some(10), None, "active"));
    ins(&mut t, People, person(2, 1, Some(10), None, "leave"));
    ins(&mut t, People, person(3, 1, Some(10), None, "terminated"));
    ins(&mut t, People, person(4, 1, Some(11), None, "active"));
    ins(&mut t, People, person(5, 1, Some(11), None, "active"));
    ins(&mut t, People, person(6, 1, Some(12), None, "leave"));
    ins(&mut t, People, person(7, 1, None, None, "active")); // in no job: counted nowhere

    // company_id, function_id, function_name, job_id, job_title, job_level, planned, filled,
    // on_leave, vacancies, overstaffed
    assert_view(
        &t,
        ViewId::Staffing,
        vec![
            r(vec![
                i(1),
                i(99),
                null(),
                i(10),
                s("Engineer"),
                null(),
                i(3),
                i(1),
                i(1),
                i(2),
                i(0),
            ]),
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                i(11),
                s("Operator"),
                null(),
                i(1),
                i(2),
                i(0),
                i(0),
                i(1),
            ]),
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                i(12),
                s("Lead"),
                s("Senior"),
                i(0),
                i(0),
                i(1),
                i(0),
                i(0),
            ]),
        ],
    );
    // company_id, function_id, function_name, parent_function_id, jobs, planned, filled, on_leave,
    // vacancies, overstaffed. Function 6 has no jobs: a row of zeros.
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                null(),
                i(2),
                i(1),
                i(2),
                i(1),
                i(0),
                i(1),
            ]),
            r(vec![
                i(1),
                i(6),
                s("Empty"),
                i(5),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // The Function and the level appear later: the names fill in.
    ins(&mut t, Function, function(99, 1, "Eng", None));
    ins(&mut t, JobLevel, job_level(98, 1, "Junior"));
    assert_view(
        &t,
        ViewId::Staffing,
        vec![
            r(vec![
                i(1),
                i(99),
                s("Eng"),
                i(10),
                s("Engineer"),
                s("Junior"),
                i(3),
                i(1),
                i(1),
                i(2),
                i(0),
            ]),
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                i(11),
                s("Operator"),
                null(),
                i(1),
                i(2),
                i(0),
                i(0),
                i(1),
            ]),
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                i(12),
                s("Lead"),
                s("Senior"),
                i(0),
                i(0),
                i(1),
                i(0),
                i(0),
            ]),
        ],
    );
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![
            r(vec![
                i(1),
                i(5),
                s("Ops"),
                null(),
                i(2),
                i(1),
                i(2),
                i(1),
                i(0),
                i(1),
            ]),
            r(vec![
                i(1),
                i(6),
                s("Empty"),
                i(5),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
            r(vec![
                i(1),
                i(99),
                s("Eng"),
                null(),
                i(1),
                i(3),
                i(1),
                i(1),
                i(2),
                i(0),
            ]),
        ],
    );
}

#[test]
fn people_of_a_missing_job_count_nowhere_until_the_job_appears() {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Company, company(2, true)); // deleted
    ins(&mut t, Function, function(1, 1, "F", None));
    ins(&mut t, People, person(1, 1, Some(50), None, "active"));
    ins(&mut t, People, person(2, 1, Some(50), None, "active"));
    ins(&mut t, People, person(3, 1, Some(50), None, "leave"));
    ins(&mut t, Job, job(51, 2, 1, None, "Of a deleted company", 1));
    ins(&mut t, Job, job(52, 3, 1, None, "Of a missing company", 1));
    ins(&mut t, People, person(4, 1, Some(51), None, "active"));

    assert_view(&t, ViewId::Staffing, vec![]);
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![r(vec![
            i(1),
            i(1),
            s("F"),
            null(),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
        ])],
    );

    ins(&mut t, Job, job(50, 1, 1, None, "J", 2));
    assert_view(
        &t,
        ViewId::Staffing,
        vec![r(vec![
            i(1),
            i(1),
            s("F"),
            i(50),
            s("J"),
            null(),
            i(2),
            i(2),
            i(1),
            i(0),
            i(0),
        ])],
    );
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![r(vec![
            i(1),
            i(1),
            s("F"),
            null(),
            i(1),
            i(2),
            i(2),
            i(1),
            i(0),
            i(0),
        ])],
    );

    // Company 2 comes back: its job 51 now counts for Function 1 (of company 1), as the SQL
    // joins staffing to Functions on function_id alone.
    upd(&mut t, Company, company(2, false));
    assert_view(
        &t,
        ViewId::Staffing,
        vec![
            r(vec![
                i(1),
                i(1),
                s("F"),
                i(50),
                s("J"),
                null(),
                i(2),
                i(2),
                i(1),
                i(0),
                i(0),
            ]),
            r(vec![
                i(2),
                i(1),
                s("F"),
                i(51),
                s("Of a deleted company"),
                null(),
                i(1),
                i(1),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![r(vec![
            i(1),
            i(1),
            s("F"),
            null(),
            i(2),
            i(3),
            i(3),
            i(1),
            i(0),
            i(0),
        ])],
    );

    del(&mut t, Job, 50);
    del(&mut t, Job, 51);
    assert_view(&t, ViewId::Staffing, vec![]);
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![r(vec![
            i(1),
            i(1),
            s("F"),
            null(),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
        ])],
    );
}

#[test]
fn vacancies_and_overstaffed_are_per_job_then_summed() {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Function, function(7, 1, "Mixed", None));
    ins(&mut t, Job, job(20, 1, 7, None, "Short", 3));
    ins(&mut t, Job, job(21, 1, 7, None, "Over", 0));
    ins(&mut t, People, person(1, 1, Some(20), None, "active"));
    ins(&mut t, People, person(2, 1, Some(21), None, "active"));
    ins(&mut t, People, person(3, 1, Some(21), None, "active"));
    assert_view(
        &t,
        ViewId::Staffing,
        vec![
            r(vec![
                i(1),
                i(7),
                s("Mixed"),
                i(20),
                s("Short"),
                null(),
                i(3),
                i(1),
                i(0),
                i(2),
                i(0),
            ]),
            r(vec![
                i(1),
                i(7),
                s("Mixed"),
                i(21),
                s("Over"),
                null(),
                i(0),
                i(2),
                i(0),
                i(0),
                i(2),
            ]),
        ],
    );
    // planned 3 = filled 3 in total, yet 2 vacancies and 2 overstaffed.
    assert_view(
        &t,
        ViewId::StaffingByFunction,
        vec![r(vec![
            i(1),
            i(7),
            s("Mixed"),
            null(),
            i(2),
            i(3),
            i(3),
            i(0),
            i(2),
            i(2),
        ])],
    );
}

// ------------------------------------------------------------------------------- occupancy

fn building_fixture() -> Tables {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Building, building(1, 1, "B1"));
    ins(&mut t, Building, building(2, 1, "Empty")); // no floors
    ins(&mut t, Building, building(3, 9, "Of a missing company"));
    ins(&mut t, Floor, floor(10, 1, 0, "G"));
    ins(&mut t, Floor, floor(11, 1, 1, "1st")); // no rooms
    ins(&mut t, Floor, floor(12, 77, 2, "In a missing building"));
    ins(&mut t, Room, room(100, 10, "R100", "office", 4));
    ins(&mut t, Room, room(101, 10, "Meeting", "meeting", 8)); // no desks
    ins(&mut t, Room, room(102, 99, "On a missing floor", "lab", 3));
    ins(&mut t, Desk, desk(1000, 100, "D1", 1, 1.5, 2.0));
    ins(&mut t, Desk, desk(1001, 100, "D2", 2, 3.0, 2.0));
    ins(
        &mut t,
        Desk,
        desk(1002, 999, "In a missing room", 1, 0.0, 0.0),
    );
    // Two active people on the one-seat desk 1000 (one of another, missing company: counted).
    ins(&mut t, People, person(1, 1, None, Some(1000), "active"));
    ins(&mut t, People, person(2, 2, Some(5), Some(1000), "active"));
    ins(&mut t, People, person(3, 1, None, Some(1001), "leave")); // not active: not assigned
    ins(&mut t, People, person(4, 1, None, Some(1001), "active"));
    ins(&mut t, People, person(5, 1, None, None, "active"));
    ins(&mut t, People, person(6, 1, None, Some(1002), "active"));
    // Desk 1000 reserved for two jobs (job 6 does not exist: still counted).
    ins(&mut t, TableJob, table_job(1, 1000, 5));
    ins(&mut t, TableJob, table_job(2, 1000, 6));
    ins(&mut t, TableJob, table_job(3, 1002, 5));
    t
}

#[test]
fn occupancy_rolls_up_with_rows_of_zeros_and_shared_desks() {
    let mut t = building_fixture();
    // company_id, building_id, floor_id, room_id, table_id, label, seats, pos_x, pos_y, assigned,
    // reserved_jobs. Desk 1000: 2 assigned on 1 seat.
    assert_view(
        &t,
        ViewId::DeskOccupancy,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1000),
                s("D1"),
                i(1),
                f(1.5),
                f(2.0),
                i(2),
                i(2),
            ]),
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1001),
                s("D2"),
                i(2),
                f(3.0),
                f(2.0),
                i(1),
                i(0),
            ]),
        ],
    );
    // company_id, building_id, floor_id, room_id, room_name, kind, capacity, desks, seats, assigned,
    // reserved_desks
    assert_view(
        &t,
        ViewId::Occupancy,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                s("R100"),
                s("office"),
                i(4),
                i(2),
                i(3),
                i(3),
                i(1),
            ]),
            r(vec![
                i(1),
                i(1),
                i(10),
                i(101),
                s("Meeting"),
                s("meeting"),
                i(8),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );
    // company_id, building_id, floor_id, level, floor_name, rooms, capacity, desks, seats, assigned,
    // reserved_desks
    assert_view(
        &t,
        ViewId::OccupancyByFloor,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(0),
                s("G"),
                i(2),
                i(12),
                i(2),
                i(3),
                i(3),
                i(1),
            ]),
            r(vec![
                i(1),
                i(1),
                i(11),
                i(1),
                s("1st"),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );
    // company_id, building_id, building_name, floors, rooms, capacity, desks, seats, assigned,
    // reserved_desks
    assert_view(
        &t,
        ViewId::OccupancyByBuilding,
        vec![
            r(vec![
                i(1),
                i(1),
                s("B1"),
                i(2),
                i(2),
                i(12),
                i(2),
                i(3),
                i(3),
                i(1),
            ]),
            r(vec![
                i(1),
                i(2),
                s("Empty"),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // Room 999 appears on floor 11: desk 1002 (1 active person, 1 reservation) joins in.
    ins(&mut t, Room, room(999, 11, "Late", "lab", 2));
    assert_view(
        &t,
        ViewId::DeskOccupancy,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1000),
                s("D1"),
                i(1),
                f(1.5),
                f(2.0),
                i(2),
                i(2),
            ]),
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1001),
                s("D2"),
                i(2),
                f(3.0),
                f(2.0),
                i(1),
                i(0),
            ]),
            r(vec![
                i(1),
                i(1),
                i(11),
                i(999),
                i(1002),
                s("In a missing room"),
                i(1),
                f(0.0),
                f(0.0),
                i(1),
                i(1),
            ]),
        ],
    );
    assert_view(
        &t,
        ViewId::OccupancyByFloor,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(0),
                s("G"),
                i(2),
                i(12),
                i(2),
                i(3),
                i(3),
                i(1),
            ]),
            r(vec![
                i(1),
                i(1),
                i(11),
                i(1),
                s("1st"),
                i(1),
                i(2),
                i(1),
                i(1),
                i(1),
                i(1),
            ]),
        ],
    );
    assert_view(
        &t,
        ViewId::OccupancyByBuilding,
        vec![
            r(vec![
                i(1),
                i(1),
                s("B1"),
                i(2),
                i(3),
                i(14),
                i(3),
                i(4),
                i(4),
                i(2),
            ]),
            r(vec![
                i(1),
                i(2),
                s("Empty"),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // Moving floor 11 to building 2 moves its room and desk along.
    upd(&mut t, Floor, floor(11, 2, 1, "1st"));
    assert_view(
        &t,
        ViewId::OccupancyByBuilding,
        vec![
            r(vec![
                i(1),
                i(1),
                s("B1"),
                i(1),
                i(2),
                i(12),
                i(2),
                i(3),
                i(3),
                i(1),
            ]),
            r(vec![
                i(1),
                i(2),
                s("Empty"),
                i(1),
                i(1),
                i(2),
                i(1),
                i(1),
                i(1),
                i(1),
            ]),
        ],
    );
    assert_view(
        &t,
        ViewId::DeskOccupancy,
        vec![
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1000),
                s("D1"),
                i(1),
                f(1.5),
                f(2.0),
                i(2),
                i(2),
            ]),
            r(vec![
                i(1),
                i(1),
                i(10),
                i(100),
                i(1001),
                s("D2"),
                i(2),
                f(3.0),
                f(2.0),
                i(1),
                i(0),
            ]),
            r(vec![
                i(1),
                i(2),
                i(11),
                i(999),
                i(1002),
                s("In a missing room"),
                i(1),
                f(0.0),
                f(0.0),
                i(1),
                i(1),
            ]),
        ],
    );
}

// ------------------------------------------------------------------------------- skill coverage

fn skill_fixture() -> Tables {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Company, company(2, false));
    ins(&mut t, SkillLevel, skill_level(1, 1, "novice"));
    ins(&mut t, SkillLevel, skill_level(3, 3, "good"));
    ins(&mut t, SkillLevel, skill_level(5, 5, "expert"));
    // skill_level 9 does not exist (yet)
    ins(&mut t, Skill, skill(1, "Rust", "eng"));
    ins(&mut t, Skill, skill(2, "SQL", "data"));
    ins(&mut t, Skill, skill(3, "Welding", "craft"));
    // skill 4 does not exist
    ins(&mut t, Job, job(10, 1, 1, None, "Dev", 1));
    ins(&mut t, Job, job(11, 1, 1, None, "Analyst", 1));
    ins(&mut t, Job, job(20, 2, 2, None, "Contractor", 1));
    // job 30 does not exist
    ins(&mut t, People, person(1, 1, Some(10), None, "active"));
    ins(&mut t, People, person(2, 1, Some(11), None, "leave")); // job 11 has no active people
    ins(&mut t, People, person(3, 2, Some(20), None, "active"));
    ins(&mut t, People, person(4, 1, Some(30), None, "active"));
    ins(&mut t, JobSkill, job_skill(1, 10, 1, 5));
    ins(&mut t, JobSkill, job_skill(2, 11, 2, 5));
    ins(&mut t, JobSkill, job_skill(3, 10, 2, 9)); // held at a missing level
    ins(&mut t, JobSkill, job_skill(4, 20, 3, 5));
    ins(&mut t, JobSkill, job_skill(5, 10, 4, 1)); // a missing skill
    ins(&mut t, JobSkill, job_skill(6, 30, 3, 5)); // a missing job
    for task_id in 100..=104 {
        ins(&mut t, Task, task(task_id, 1, &format!("task {task_id}")));
    }
    // ts1: Rust >= 3 for task 100, done by job 10 (Rust 5, 1 active): covered
    ins(&mut t, TaskSkill, task_skill(1, 100, 1, 3));
    ins(&mut t, JobTask, job_task(1, 10, 100));
    // ts2: SQL >= 1 for task 101, done by job 11 (SQL 5, nobody active) and job 10 (SQL at the
    // missing level 9): not covered
    ins(&mut t, TaskSkill, task_skill(2, 101, 2, 1));
    ins(&mut t, JobTask, job_task(2, 11, 101));
    ins(&mut t, JobTask, job_task(3, 10, 101));
    // ts3: Rust at the missing level 9 for task 102, done by job 10: not covered
    ins(&mut t, TaskSkill, task_skill(3, 102, 1, 9));
    ins(&mut t, JobTask, job_task(4, 10, 102));
    // ts4: Welding >= 3 for task 103 (company 1), done by job 20 of company 2: covered
    ins(&mut t, TaskSkill, task_skill(4, 103, 3, 3));
    ins(&mut t, JobTask, job_task(5, 20, 103));
    // ts5: Rust >= 5 for task 104, done by job 10 (Rust 5): covered (equal levels)
    ins(&mut t, TaskSkill, task_skill(5, 104, 1, 5));
    ins(&mut t, JobTask, job_task(6, 10, 104));
    // ts6: Welding >= 1 for task 104, done by job 10 (no Welding) and the missing job 30 (which
    // has Welding 5 and an active person): not covered
    ins(&mut t, TaskSkill, task_skill(6, 104, 3, 1));
    ins(&mut t, JobTask, job_task(7, 30, 104));
    // ts7: a missing task
    ins(&mut t, TaskSkill, task_skill(7, 105, 1, 1));
    t
}

#[test]
fn skill_coverage_follows_levels_active_people_and_existing_rows() {
    let mut t = skill_fixture();
    // company_id, skill_id, skill_name, category, jobs_with_skill, holders, tasks_requiring,
    // tasks_covered, gap
    //  (1,1) supply: js1 (job 10: 1 active); demand: ts1 yes, ts3 no, ts5 yes
    //  (1,2) supply: js2 (job 11: 0 active), js3 (job 10: 1); demand: ts2 no
    //  (1,3) supply: none; demand: ts4 yes, ts6 no
    //  (2,3) supply: js4 (job 20: 1); demand: none
    //  (1,4) supply: js5, but skill 4 does not exist: no row
    assert_view(
        &t,
        ViewId::SkillCoverage,
        vec![
            r(vec![
                i(1),
                i(1),
                s("Rust"),
                s("eng"),
                i(1),
                i(1),
                i(3),
                i(2),
                i(1),
            ]),
            r(vec![
                i(1),
                i(2),
                s("SQL"),
                s("data"),
                i(2),
                i(1),
                i(1),
                i(0),
                i(1),
            ]),
            r(vec![
                i(1),
                i(3),
                s("Welding"),
                s("craft"),
                i(0),
                i(0),
                i(2),
                i(1),
                i(1),
            ]),
            r(vec![
                i(2),
                i(3),
                s("Welding"),
                s("craft"),
                i(1),
                i(1),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // Person 2 comes back from leave: job 11 is staffed, covers ts2, holds SQL for one more.
    upd(&mut t, People, person(2, 1, Some(11), None, "active"));
    // Skill level 9 appears at level 2: ts3 (Rust >= 2) is covered by job 10 (Rust 5).
    ins(&mut t, SkillLevel, skill_level(9, 2, "fair"));
    assert_view(
        &t,
        ViewId::SkillCoverage,
        vec![
            r(vec![
                i(1),
                i(1),
                s("Rust"),
                s("eng"),
                i(1),
                i(1),
                i(3),
                i(3),
                i(0),
            ]),
            r(vec![
                i(1),
                i(2),
                s("SQL"),
                s("data"),
                i(2),
                i(2),
                i(1),
                i(1),
                i(0),
            ]),
            r(vec![
                i(1),
                i(3),
                s("Welding"),
                s("craft"),
                i(0),
                i(0),
                i(2),
                i(1),
                i(1),
            ]),
            r(vec![
                i(2),
                i(3),
                s("Welding"),
                s("craft"),
                i(1),
                i(1),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // Soft-deleting company 2 removes its row; its job 20 still covers task 103 of company 1
    // (the EXISTS checks that the job exists, not that its company is live).
    upd(&mut t, Company, company(2, true));
    // Skill 4 appears: the (1,4) key of the supply gets its row.
    ins(&mut t, Skill, skill(4, "Go", "eng"));
    assert_view(
        &t,
        ViewId::SkillCoverage,
        vec![
            r(vec![
                i(1),
                i(1),
                s("Rust"),
                s("eng"),
                i(1),
                i(1),
                i(3),
                i(3),
                i(0),
            ]),
            r(vec![
                i(1),
                i(2),
                s("SQL"),
                s("data"),
                i(2),
                i(2),
                i(1),
                i(1),
                i(0),
            ]),
            r(vec![
                i(1),
                i(3),
                s("Welding"),
                s("craft"),
                i(0),
                i(0),
                i(2),
                i(1),
                i(1),
            ]),
            r(vec![
                i(1),
                i(4),
                s("Go"),
                s("eng"),
                i(1),
                i(1),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );

    // An update that changes nothing; then ts1 needs Rust 5 and job 10 holds Rust 3 only: of
    // ts1 (needs 5), ts3 (needs 2) and ts5 (needs 5), only ts3 stays covered.
    upd(&mut t, SkillLevel, skill_level(5, 5, "expert"));
    upd(&mut t, TaskSkill, task_skill(1, 100, 1, 5));
    upd(&mut t, JobSkill, job_skill(1, 10, 1, 3));
    assert_view(
        &t,
        ViewId::SkillCoverage,
        vec![
            r(vec![
                i(1),
                i(1),
                s("Rust"),
                s("eng"),
                i(1),
                i(1),
                i(3),
                i(1),
                i(2),
            ]),
            r(vec![
                i(1),
                i(2),
                s("SQL"),
                s("data"),
                i(2),
                i(2),
                i(1),
                i(1),
                i(0),
            ]),
            r(vec![
                i(1),
                i(3),
                s("Welding"),
                s("craft"),
                i(0),
                i(0),
                i(2),
                i(1),
                i(1),
            ]),
            r(vec![
                i(1),
                i(4),
                s("Go"),
                s("eng"),
                i(1),
                i(1),
                i(0),
                i(0),
                i(0),
            ]),
        ],
    );
}

#[test]
fn skill_coverage_key_needs_an_existing_skill_and_a_live_company() {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Skill, skill(1, "Rust", "eng"));
    ins(&mut t, Job, job(10, 1, 1, None, "Dev", 1));
    ins(&mut t, JobSkill, job_skill(1, 10, 1, 1)); // skill_level 1 missing: still supplied
    ins(&mut t, Task, task(5, 3, "of a missing company"));
    ins(&mut t, TaskSkill, task_skill(1, 5, 1, 1));
    ins(&mut t, JobTask, job_task(1, 10, 5));
    assert_view(
        &t,
        ViewId::SkillCoverage,
        vec![r(vec![
            i(1),
            i(1),
            s("Rust"),
            s("eng"),
            i(1),
            i(0),
            i(0),
            i(0),
            i(0),
        ])],
    );
    del(&mut t, Skill, 1);
    assert_view(&t, ViewId::SkillCoverage, vec![]);
}

// ------------------------------------------------------------------------------- tenancy

fn one_of_everything() -> Tables {
    let mut t = Tables::new();
    ins(&mut t, Company, company(1, false));
    ins(&mut t, Company, company(2, false));
    ins(&mut t, Function, function(1, 1, "F", None));
    ins(&mut t, Job, job(1, 1, 1, None, "J", 2));
    ins(&mut t, People, person(1, 1, Some(1), Some(1), "active"));
    ins(&mut t, Building, building(1, 1, "B"));
    ins(&mut t, Floor, floor(1, 1, 0, "G"));
    ins(&mut t, Room, room(1, 1, "R", "office", 4));
    ins(&mut t, Desk, desk(1, 1, "D", 1, 0.5, 0.25));
    ins(&mut t, TableJob, table_job(1, 1, 1));
    ins(&mut t, Skill, skill(1, "S", "c"));
    ins(&mut t, SkillLevel, skill_level(1, 2, "mid"));
    ins(&mut t, JobSkill, job_skill(1, 1, 1, 1));
    ins(&mut t, Task, task(1, 1, "T"));
    ins(&mut t, TaskSkill, task_skill(1, 1, 1, 1));
    ins(&mut t, JobTask, job_task(1, 1, 1));
    ins(&mut t, Building, building(2, 2, "B2"));
    t
}

fn company_1_rows() -> Vec<(ViewId, twinflow_views::Row)> {
    vec![
        (
            ViewId::Staffing,
            r(vec![
                i(1),
                i(1),
                s("F"),
                i(1),
                s("J"),
                null(),
                i(2),
                i(1),
                i(0),
                i(1),
                i(0),
            ]),
        ),
        (
            ViewId::StaffingByFunction,
            r(vec![
                i(1),
                i(1),
                s("F"),
                null(),
                i(1),
                i(2),
                i(1),
                i(0),
                i(1),
                i(0),
            ]),
        ),
        (
            ViewId::DeskOccupancy,
            r(vec![
                i(1),
                i(1),
                i(1),
                i(1),
                i(1),
                s("D"),
                i(1),
                f(0.5),
                f(0.25),
                i(1),
                i(1),
            ]),
        ),
        (
            ViewId::Occupancy,
            r(vec![
                i(1),
                i(1),
                i(1),
                i(1),
                s("R"),
                s("office"),
                i(4),
                i(1),
                i(1),
                i(1),
                i(1),
            ]),
        ),
        (
            ViewId::OccupancyByFloor,
            r(vec![
                i(1),
                i(1),
                i(1),
                i(0),
                s("G"),
                i(1),
                i(4),
                i(1),
                i(1),
                i(1),
                i(1),
            ]),
        ),
        (
            ViewId::OccupancyByBuilding,
            r(vec![
                i(1),
                i(1),
                s("B"),
                i(1),
                i(1),
                i(4),
                i(1),
                i(1),
                i(1),
                i(1),
            ]),
        ),
        (
            ViewId::SkillCoverage,
            r(vec![
                i(1),
                i(1),
                s("S"),
                s("c"),
                i(1),
                i(1),
                i(1),
                i(1),
                i(0),
            ]),
        ),
    ]
}

fn company_2_rows() -> Vec<(ViewId, twinflow_views::Row)> {
    vec![(
        ViewId::OccupancyByBuilding,
        r(vec![
            i(2),
            i(2),
            s("B2"),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
            i(0),
        ]),
    )]
}

#[track_caller]
fn assert_all_views(t: &Tables, expected: &[(ViewId, twinflow_views::Row)]) {
    let actual = evaluate(t);
    assert_eq!(actual.len(), ViewId::ALL.len());
    for view in ViewId::ALL {
        let mut e: Vec<_> = expected
            .iter()
            .filter(|(v, _)| *v == view)
            .map(|(_, r)| r.clone())
            .collect();
        e.sort();
        if let Some(d) = diff(view, &e, &actual[&view]) {
            panic!("{d}");
        }
    }
}

fn txn(changes: Vec<RowChange>) -> Transaction {
    Transaction {
        source: Arc::from("test"),
        position: SourcePosition::Generator { seq: 1 },
        commit_time_ms: 0,
        changes,
        more_follows: false,
    }
}

#[test]
fn soft_deleting_a_company_removes_all_its_rows_and_undeleting_restores_them() {
    let mut t = one_of_everything();
    let all: Vec<_> = company_1_rows()
        .into_iter()
        .chain(company_2_rows())
        .collect();
    assert_all_views(&t, &all);

    t.apply_transaction(&txn(vec![RowChange::update(
        Company,
        company(1, false),
        company(1, true),
    )]));
    assert_all_views(&t, &company_2_rows());

    t.apply_transaction(&txn(vec![RowChange::update(
        Company,
        company(1, true),
        company(1, false),
    )]));
    assert_all_views(&t, &all);

    // A hard delete does the same; the company re-inserted brings everything back.
    del(&mut t, Company, 1);
    assert_all_views(&t, &company_2_rows());
    ins(&mut t, Company, company(1, false));
    assert_all_views(&t, &all);
}

// ------------------------------------------------------------------------------- Tables::apply

fn named(id: i64, name: &str) -> Row {
    skill(id, name, "cat")
}

fn names(t: &Tables) -> Vec<(i64, String)> {
    t.rows(Skill)
        .map(|r| (r[0].as_int().unwrap(), r[1].as_text().unwrap().to_string()))
        .collect()
}

#[test]
fn apply_upserts_by_primary_key_for_imperfect_sources() {
    let mut t = Tables::new();
    t.apply(&RowChange::insert(Skill, named(1, "a")));
    // The same key inserted twice: the second replaces the first.
    t.apply(&RowChange::insert(Skill, named(1, "b")));
    assert_eq!(names(&t), [(1, "b".to_string())]);
    assert_eq!(t.len(Skill), 1);

    // Deleting a row that never existed changes nothing.
    t.apply(&RowChange::delete(Skill, named(5, "x")));
    assert_eq!(names(&t), [(1, "b".to_string())]);

    // An update whose before-image is of a missing row: the after row is stored.
    t.apply(&RowChange::update(Skill, named(2, "stale"), named(2, "c")));
    assert_eq!(names(&t), [(1, "b".to_string()), (2, "c".to_string())]);

    // An update whose before-image does not match the stored row: after wins.
    t.apply(&RowChange::update(Skill, named(1, "not b"), named(1, "d")));
    assert_eq!(names(&t), [(1, "d".to_string()), (2, "c".to_string())]);

    // A primary-key change: the old key goes, the new key is the after row.
    t.apply(&RowChange::update(Skill, named(2, "c"), named(3, "c")));
    assert_eq!(names(&t), [(1, "d".to_string()), (3, "c".to_string())]);

    // A key change onto an existing key, from a missing key: the existing row is replaced.
    t.apply(&RowChange::update(Skill, named(7, "ghost"), named(1, "e")));
    assert_eq!(names(&t), [(1, "e".to_string()), (3, "c".to_string())]);

    // An update that changes nothing.
    t.apply(&RowChange::update(Skill, named(3, "c"), named(3, "c")));
    assert_eq!(names(&t), [(1, "e".to_string()), (3, "c".to_string())]);

    // A delete removes by key, whatever the before-image says.
    t.apply(&RowChange::delete(Skill, named(1, "something else")));
    assert_eq!(names(&t), [(3, "c".to_string())]);

    // Invalid changes are dead letters: no effect.
    let short: Row = Arc::from(vec![Value::Int(9), Value::text("x")]);
    t.apply(&RowChange::insert(Skill, short));
    let untyped: Row = Arc::from(vec![
        Value::Int(9),
        Value::Int(1),
        Value::text("c"),
        Value::Null,
    ]);
    t.apply(&RowChange::insert(Skill, untyped));
    t.apply(&RowChange {
        table: Skill,
        before: None,
        after: None,
    });
    assert_eq!(names(&t), [(3, "c".to_string())]);

    // A transaction applies in order: insert then delete of the same key leaves nothing.
    t.apply_transaction(&txn(vec![
        RowChange::insert(Skill, named(4, "f")),
        RowChange::delete(Skill, named(4, "f")),
        RowChange::insert(Skill, named(6, "g")),
    ]));
    assert_eq!(names(&t), [(3, "c".to_string()), (6, "g".to_string())]);
    assert!(t.get(Skill, 4).is_none());
    assert_eq!(t.get(Skill, 6), Some(&named(6, "g")));
    assert_eq!(t.len(Job), 0);
    assert_eq!(t.rows(Job).count(), 0);
}

#[test]
fn diff_lists_rows_only_on_each_side() {
    let a = r(vec![
        i(1),
        i(1),
        s("B"),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
    ]);
    let b = r(vec![
        i(1),
        i(2),
        s("C"),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
        i(0),
    ]);
    let v = ViewId::OccupancyByBuilding;
    assert_eq!(
        diff(v, &[a.clone(), b.clone()], &[b.clone(), a.clone()]),
        None
    );
    let d = diff(v, &[a.clone(), a.clone()], &[a.clone(), b.clone()]).expect("a difference");
    assert!(d.contains("1 only in expected, 1 only in actual"), "{d}");
    assert!(
        d.contains("only in expected: (company_id=1, building_id=1, building_name=\"B\""),
        "{d}"
    );
    assert!(
        d.contains("only in actual  : (company_id=1, building_id=2"),
        "{d}"
    );
}
