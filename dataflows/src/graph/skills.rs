//! `skill_coverage` (with its helpers `skill_coverage_supply` and `skill_coverage_demand`).

use differential_dataflow::collection::AsCollection;
use differential_dataflow::operators::ThresholdTotal;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;
use twinflow_views::{Row, Text, ViewId};

use super::assemble::{accumulate, deltas, Fact};
use super::reduce::{field_sums, Changes, Sums};
use super::staffing::StaffingRow;
use super::view_row::view_row;
use super::{id, rows, IntColumns, LiveCompanies, Output};
use crate::records::{Id, JobRec, LinkRec, SkillLevelRec, SkillLinkRec, SkillRec, Status, TaskRec};
use crate::Time;

view_row! {
    /// A row of `skill_coverage`.
    struct CoverageRow for ViewId::SkillCoverage;
    description: "one row per (live company, existing skill) held by a job or required by a task";
    key: [company_id, skill_id];
    columns {
        company_id: i64,
        skill_id: i64,
        skill_name: Text,
        category: Text,
        jobs_with_skill: i64,
        holders: i64,
        tasks_requiring: i64,
        tasks_covered: i64,
        gap: i64,
    }
}

/// What one fact about a (company, skill) pair adds to its row: a `job_skill` row of a live job
/// (with the job's active people), a `task_skill` row of a live task, or such a task_skill row
/// that some staffed job covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct CoverageSums {
    jobs: i64,
    holders: i64,
    required: i64,
    covered: i64,
}

field_sums!(CoverageSums {
    jobs,
    holders,
    required,
    covered
});

impl CoverageSums {
    /// Whether these sums are a whole fact (a job, a required or a covered task_skill row),
    /// which counts the skill's name once, rather than a change of a job's holders alone.
    fn is_fact(&self) -> bool {
        self.jobs != 0 || self.required != 0 || self.covered != 0
    }
}

/// The inputs `skill_coverage` reads.
pub struct SkillInputs<'s> {
    pub jobs: VecCollection<'s, Time, JobRec>,
    /// `(job, status)` of the people in jobs who are active or on leave.
    pub memberships: VecCollection<'s, Time, (Id, Status)>,
    pub job_skills: VecCollection<'s, Time, SkillLinkRec>,
    pub task_skills: VecCollection<'s, Time, SkillLinkRec>,
    pub job_tasks: VecCollection<'s, Time, LinkRec>,
    pub tasks: VecCollection<'s, Time, TaskRec>,
    pub skills: VecCollection<'s, Time, SkillRec>,
    pub skill_levels: VecCollection<'s, Time, SkillLevelRec>,
}

/// `skill_coverage`, as served rows (`staffing`: the changes of the served staffing rows).
pub fn skill_coverage<'s>(
    live: &LiveCompanies<'s>,
    inputs: SkillInputs<'s>,
    staffing: Changes<'s, Id, Row>,
) -> VecCollection<'s, Time, Output> {
    let SkillInputs {
        jobs,
        memberships,
        job_skills,
        task_skills,
        job_tasks,
        tasks,
        skills,
        skill_levels,
    } = inputs;
    let levels = skill_levels.map(|l| (l.id, l.level)).arrange_by_key();

    // Jobs that exist (in any company) and have at least one active person.
    let active_jobs = memberships
        .flat_map(|(job, status)| (status == Status::Active).then_some(job))
        .distinct_total();
    let staffed_jobs = jobs
        .map(|j| (j.id, ()))
        .semijoin(active_jobs)
        .map(|(job, ())| job);

    // The levels staffed jobs hold, and the levels tasks need, per skill.
    let held = job_skills
        .clone()
        .map(|js| (js.owner_id, (js.skill_id, js.skill_level_id)))
        .semijoin(staffed_jobs)
        .map(|(job, (skill, level_id))| (level_id, (job, skill)))
        .join_core(levels.clone(), |_, &(job, skill), &level| {
            Some(((job, skill), level))
        });
    let needed = task_skills
        .clone()
        .map(|ts| (ts.skill_level_id, (ts.id, ts.owner_id, ts.skill_id)))
        .join_core(levels, |_, &(ts, task, skill), &level| {
            Some((task, (ts, skill, level)))
        });
    // A task_skill row is covered when a job performing the task holds the skill at its level.
    let covered = job_tasks
        .map(|jt| (jt.right, jt.left))
        .join_map(needed, |_, &job, &(ts, skill, need)| {
            ((job, skill), (ts, need))
        })
        .join_map(held, |_, &(ts, need), &have| (ts, have >= need))
        .flat_map(|(ts, ok)| ok.then_some(ts))
        .distinct_total();

    // Demand: task_skill rows of live tasks, keyed by (company, skill).
    let live_tasks = live
        .restrict(tasks.map(|t| (t.company_id, t)))
        .map(|t| (t.id, t.company_id));
    let demand = task_skills
        .map(|ts| (ts.owner_id, (ts.id, ts.skill_id)))
        .join_map(live_tasks, |_, &(ts, skill), &company| {
            (ts, (company, skill))
        });
    let covered_demand = demand.clone().semijoin(covered);

    // Supply: job_skill rows of live jobs, with the job's active people. A staffing row's
    // change reaches the job's skills as one difference: a person joining or leaving a job
    // changes its holders alone, and only a job that appears, leaves or changes company is a
    // whole fact inserted or retracted (the sums of a retracted one are negated back, with the
    // difference -1, so that the fact keeps its name's count below).
    let columns = IntColumns::of(&StaffingRow::DEFINITION, ["job_id", "company_id", "filled"]);
    let staffed = deltas(staffing, move |row: &Row| {
        let [job, company, filled] = columns.read(row);
        let sums = CoverageSums {
            jobs: 1,
            holders: filled,
            ..CoverageSums::default()
        };
        [((id(job), id(company)), sums)]
    })
    .inner
    .map(|(((job, company), sums), time, diff)| {
        if sums.jobs < 0 {
            let mut whole = CoverageSums::default();
            whole.add(&sums, -1);
            ((job, (company, whole)), time, -diff)
        } else {
            ((job, (company, sums)), time, diff)
        }
    })
    .as_collection();
    let supply = job_skills
        .map(|js| (js.owner_id, js.skill_id))
        .join_map(staffed, |_, &skill, &(company, ref sums)| {
            ((company, skill), sums.clone())
        });

    // Each fact with its skill's name and category (a fact of a missing skill makes no row).
    // The name is the pair's parent, counted once per whole fact, so that a row exists exactly
    // while some fact does (every fact holds a job or requires a task: covered task_skill rows
    // are also required ones).
    let facts = supply
        .concat(demand.map(|(_, key)| {
            let sums = CoverageSums {
                required: 1,
                ..CoverageSums::default()
            };
            (key, sums)
        }))
        .concat(covered_demand.map(|(_, key)| {
            let sums = CoverageSums {
                covered: 1,
                ..CoverageSums::default()
            };
            (key, sums)
        }))
        .map(|((company, skill), sums)| (skill, (company, sums)))
        .join_core(
            skills
                .map(|s| (s.id, (s.name, s.category)))
                .arrange_by_key(),
            |&skill, (company, sums), names| {
                let key = (*company, skill);
                let name = sums
                    .is_fact()
                    .then(|| (key, Fact::Parent(Box::new(names.clone()))));
                name.into_iter().chain([(key, Fact::Child(sums.clone()))])
            },
        );
    let coverage = accumulate(
        "skill_coverage",
        facts,
        |&(company, skill), (name, category), s| -> Row {
            CoverageRow {
                company_id: company.into(),
                skill_id: skill.into(),
                skill_name: name.clone(),
                category: category.clone(),
                jobs_with_skill: s.jobs,
                holders: s.holders,
                tasks_requiring: s.required,
                tasks_covered: s.covered,
                gap: s.required - s.covered,
            }
            .into_row()
        },
    );
    rows(coverage, |_| ViewId::SkillCoverage)
}
