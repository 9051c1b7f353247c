//! The dataflow graph: from base collections to the rows of every served view.

mod assemble;
mod occupancy;
mod reduce;
mod skills;
mod staffing;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::{Data, ExchangeData, VecCollection};
use twinflow_views::{Row, RowUpdate, ViewId};

use self::reduce::{Change, Changes};

use crate::inputs::BaseCollections;
use crate::records::Id;
use crate::Time;

/// The ids of live companies, arranged once and shared by every view (all of them drop the
/// rows of missing and soft-deleted companies).
pub struct LiveCompanies<'s> {
    arranged: Arranged<'s, TraceAgent<KeySpine<Id, Time, isize>>>,
}

impl<'s> LiveCompanies<'s> {
    fn new(ids: VecCollection<'s, Time, Id>) -> Self {
        LiveCompanies {
            arranged: ids.arrange_by_self(),
        }
    }

    /// The records whose company (the key) is live.
    pub fn restrict<V: ExchangeData>(
        &self,
        keyed: VecCollection<'s, Time, (Id, V)>,
    ) -> VecCollection<'s, Time, V> {
        keyed.join_core(self.arranged.clone(), |_, v, &()| Some(v.clone()))
    }
}

/// The served rows of a view's changes, built by `row` from each output and tagged with the
/// `view` of its key; a change that leaves the row as it was (outputs that differ only in what
/// the row does not show) is dropped.
fn rows<'s, K: Data, O: Data>(
    changes: Changes<'s, K, O>,
    view: impl Fn(&K) -> ViewId + 'static,
    row: impl Fn(O) -> Row + 'static,
) -> VecCollection<'s, Time, (ViewId, RowUpdate)> {
    changes.flat_map(move |(key, Change { old, new })| {
        let update = RowUpdate {
            old: old.map(&row),
            new: new.map(&row),
        };
        (update.old != update.new).then(|| (view(&key), update))
    })
}

/// Builds every view from the base collections: one collection of `(view, row update)`, each
/// changed key of a view once per timestamp.
pub fn build_views<'s>(base: BaseCollections<'s>) -> VecCollection<'s, Time, (ViewId, RowUpdate)> {
    let BaseCollections {
        live_companies,
        functions,
        job_levels,
        jobs,
        memberships,
        assignments,
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
    } = base;
    let live = LiveCompanies::new(live_companies);

    let staffing = staffing::staffing(
        &live,
        jobs.clone(),
        functions.clone(),
        job_levels,
        memberships.clone(),
    );
    let by_function = staffing::staffing_by_function(&live, functions, staffing.clone());
    let occupancy = occupancy::occupancy(
        &live,
        buildings,
        floors,
        rooms,
        desks,
        assignments,
        table_jobs,
    );
    let coverage = skills::skill_coverage(
        &live,
        skills::SkillInputs {
            jobs,
            memberships,
            job_skills,
            task_skills,
            job_tasks,
            tasks,
            skills,
            skill_levels,
        },
        reduce::diffs(staffing.clone()),
    );

    rows(staffing, |_| ViewId::Staffing, |s| s.to_row())
        .concat(by_function)
        .concat(occupancy)
        .concat(coverage)
}
