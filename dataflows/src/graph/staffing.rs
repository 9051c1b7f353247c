//! `staffing` and `staffing_by_function`.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use twinflow_views::{Row, Text, ViewId};

use super::assemble::{accumulate, assemble, deltas, facts};
use super::reduce::field_sums;
use super::reduce::Changes;
use super::view_row::view_row;
use super::{id, rows, IntColumns, LiveCompanies, Output};
use crate::records::{FunctionRec, Id, JobLevelRec, JobRec, Status};
use crate::Time;

/// What a job's row needs besides the job itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum JobChild {
    FunctionName(Text),
    LevelName(Text),
    Active,
    Leave,
}

view_row! {
    /// A row of `staffing`.
    struct StaffingRow for ViewId::Staffing;
    description: "one row per job of a live company: planned positions against the people in it";
    key: [job_id];
    columns {
        company_id: i64,
        function_id: i64,
        function_name: Option<Text>,
        job_id: i64,
        job_title: Text,
        job_level: Option<Text>,
        planned: i64,
        filled: i64,
        on_leave: i64,
        vacancies: i64,
        overstaffed: i64,
    }
}

view_row! {
    /// A row of `staffing_by_function`.
    struct FunctionRow for ViewId::StaffingByFunction;
    description: "one row per Function of a live company: the sums of its jobs' staffing rows";
    key: [function_id];
    columns {
        company_id: i64,
        function_id: i64,
        function_name: Text,
        parent_function_id: Option<i64>,
        jobs: i64,
        planned: i64,
        filled: i64,
        on_leave: i64,
        vacancies: i64,
        overstaffed: i64,
    }
}

/// `staffing`: one served row per job of a live company, keyed by job id.
pub fn staffing<'s>(
    live: &LiveCompanies<'s>,
    jobs: VecCollection<'s, Time, JobRec>,
    functions: VecCollection<'s, Time, FunctionRec>,
    job_levels: VecCollection<'s, Time, JobLevelRec>,
    memberships: VecCollection<'s, Time, (Id, Status)>,
) -> Changes<'s, Id, Row> {
    let live_jobs = live
        .restrict(jobs.map(|j| (j.company_id, j)))
        .map(|j| (j.id, j));
    let function_names = live_jobs
        .clone()
        .map(|(job, j)| (j.function_id, job))
        .join_map(functions.map(|f| (f.id, f.name)), |_, &job, name| {
            (job, JobChild::FunctionName(name.clone()))
        });
    let level_names = live_jobs
        .clone()
        .flat_map(|(job, j)| j.job_level_id.map(|level| (level, job)))
        .join_map(job_levels.map(|l| (l.id, l.name)), |_, &job, name| {
            (job, JobChild::LevelName(name.clone()))
        });
    let people_in_jobs = memberships.flat_map(|(job, status)| match status {
        Status::Active => Some((job, JobChild::Active)),
        Status::Leave => Some((job, JobChild::Leave)),
        Status::Other => None,
    });
    let children = function_names.concat(level_names).concat(people_in_jobs);
    assemble("staffing", live_jobs, children, |_, job, children| {
        let (mut function_name, mut job_level, mut filled, mut on_leave) = (None, None, 0, 0);
        for (child, count) in children.iter() {
            match child {
                JobChild::FunctionName(name) => function_name = Some(name.clone()),
                JobChild::LevelName(name) => job_level = Some(name.clone()),
                JobChild::Active => filled += count as i64,
                JobChild::Leave => on_leave += count as i64,
            }
        }
        StaffingRow {
            company_id: job.company_id.into(),
            function_id: job.function_id.into(),
            function_name,
            job_id: job.id.into(),
            job_title: job.title.clone(),
            job_level,
            planned: job.headcount,
            filled,
            on_leave,
            vacancies: (job.headcount - filled).max(0),
            overstaffed: (filled - job.headcount).max(0),
        }
        .into_row()
    })
}

/// A job's contribution to its Function's row.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct JobSums {
    jobs: i64,
    planned: i64,
    filled: i64,
    on_leave: i64,
    vacancies: i64,
    overstaffed: i64,
}

field_sums!(JobSums {
    jobs,
    planned,
    filled,
    on_leave,
    vacancies,
    overstaffed
});

/// `staffing_by_function`: one row per Function of a live company, as served rows.
pub fn staffing_by_function<'s>(
    live: &LiveCompanies<'s>,
    functions: VecCollection<'s, Time, FunctionRec>,
    staffing: Changes<'s, Id, Row>,
) -> VecCollection<'s, Time, Output> {
    let live_functions = live
        .restrict(functions.map(|f| (f.company_id, f)))
        .map(|f| (f.id, f));
    let columns = IntColumns::of(
        &StaffingRow::DEFINITION,
        [
            "function_id",
            "planned",
            "filled",
            "on_leave",
            "vacancies",
            "overstaffed",
        ],
    );
    let jobs = deltas(staffing, move |row: &Row| {
        let [function_id, planned, filled, on_leave, vacancies, overstaffed] = columns.read(row);
        let sums = JobSums {
            jobs: 1,
            planned,
            filled,
            on_leave,
            vacancies,
            overstaffed,
        };
        [(id(function_id), sums)]
    });
    let by_function = accumulate(
        "staffing_by_function",
        facts(live_functions, jobs),
        |_, f, jobs| {
            FunctionRow {
                company_id: f.company_id.into(),
                function_id: f.id.into(),
                function_name: f.name.clone(),
                parent_function_id: f.parent_function_id.map(i64::from),
                jobs: jobs.jobs,
                planned: jobs.planned,
                filled: jobs.filled,
                on_leave: jobs.on_leave,
                vacancies: jobs.vacancies,
                overstaffed: jobs.overstaffed,
            }
            .into_row()
        },
    );
    rows(by_function, |_| ViewId::StaffingByFunction)
}
