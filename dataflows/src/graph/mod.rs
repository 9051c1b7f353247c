//! The dataflow graph: from base collections to the rows of every served view.

mod assemble;
mod occupancy;
mod reduce;
mod skills;
mod staffing;
mod view_row;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::KeySpine;
use differential_dataflow::{Data, ExchangeData, VecCollection};
use twinflow_views::{CatalogError, Datum, Row, RowUpdate, ViewCatalog, ViewDefinition, ViewId};

use self::reduce::{Change, Changes};

use crate::inputs::BaseCollections;
use crate::records::{Id, UserRec};
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

/// Every view's schema, as the dataflow that builds its rows declares it.
pub fn view_catalog() -> Result<ViewCatalog, CatalogError> {
    ViewCatalog::new([
        staffing::StaffingRow::DEFINITION,
        staffing::FunctionRow::DEFINITION,
        occupancy::DeskRow::DEFINITION,
        occupancy::RoomRow::DEFINITION,
        occupancy::FloorRow::DEFINITION,
        occupancy::BuildingRow::DEFINITION,
        skills::CoverageRow::DEFINITION,
    ])
}

/// Integer columns of one view's served rows, read by name: the positions are looked up in the
/// view's definition once, when the dataflow is built. The operators that add up another view's rows
/// (Functions over jobs, skills over jobs) read them this way, so that a
/// view's output is its served row and nothing else.
struct IntColumns<const N: usize>([usize; N]);

impl<const N: usize> IntColumns<N> {
    /// The columns `names` of the view `definition` declares. Panics on a name the view does
    /// not have: the names are this crate's own constants, and every test builds the dataflow.
    fn of(definition: &ViewDefinition, names: [&str; N]) -> Self {
        IntColumns(names.map(|name| {
            definition
                .columns
                .iter()
                .position(|column| column.name == name)
                .unwrap_or_else(|| panic!("{} has no column {name}", definition.view))
        }))
    }

    /// The columns' values in `row` (a NULL, which these columns never hold, reads as 0).
    fn read(&self, row: &[Datum]) -> [i64; N] {
        self.0
            .map(|at| row.get(at).and_then(Datum::as_int).unwrap_or_default())
    }
}

/// An id column read back from a served row, where it was written from an [`Id`] (so the
/// conversion is exact).
fn id(value: i64) -> Id {
    value as Id
}

/// What the dataflow hands the publisher: a served row's update, or a change of a
/// `twin_auth.user` row's standing (with its difference), which tokens are checked against.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Output {
    /// A row of a view changed (each key once per timestamp, difference +1).
    View(ViewId, RowUpdate),
    /// A user's standing was added (+1) or retracted (-1).
    User(UserRec),
}

/// A view's changes as served row updates, each tagged with the `view` of its key.
fn rows<'s, K: Data>(
    changes: Changes<'s, K, Row>,
    view: impl Fn(&K) -> ViewId + 'static,
) -> VecCollection<'s, Time, Output> {
    changes.map(move |(key, Change { old, new })| Output::View(view(&key), RowUpdate { old, new }))
}

/// Builds every view from the base collections: one collection of the views' row updates, each
/// changed key of a view once per timestamp, with the users' standing.
pub fn build_views<'s>(base: BaseCollections<'s>) -> VecCollection<'s, Time, Output> {
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
        users,
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
        staffing.clone(),
    );

    rows(staffing, |_| ViewId::Staffing)
        .concat(by_function)
        .concat(occupancy)
        .concat(coverage)
        .concat(users.map(Output::User))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_one_well_formed_definition() {
        let catalog = view_catalog().expect("valid definitions");
        for view in ViewId::ALL {
            let schema = catalog.schema(view);
            assert_eq!(schema.name, view.name());
            assert_eq!(schema.columns[0].name, "company_id", "{view}");
        }
    }
}
