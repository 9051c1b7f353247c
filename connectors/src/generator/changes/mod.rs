//! The change stream: each transaction applies one kind of change, drawn by weight (person
//! moves dominate), or keeps a promise made earlier (an insert of a row that changes already
//! name). Kinds that insert rows also delete them ("churn"), steered towards the initial sizes.

mod infra;
mod links;
mod org;
mod people;

use twinflow_ingest::RowChange;

use super::model::{Model, Pending};
use super::text::Stamp;

/// One kind of change; see the module of each for what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    DeskMove,
    JobChange,
    StatusChange,
    Turnover,
    Terminate,
    PersonToFutureDesk,
    PersonToFutureJob,
    Headcount,
    JobTitle,
    JobLevelChange,
    JobChurn,
    FunctionRename,
    FunctionReparent,
    FunctionChurn,
    CompanyDelete,
    CompanyUndelete,
    DeskChurn,
    Seats,
    RoomMove,
    RoomChurn,
    FloorChurn,
    BuildingChurn,
    CellChurn,
    JobSkillLevel,
    TaskSkillLevel,
    SkillLevelEdit,
    JobSkillRewire,
    JobTaskRewire,
    TableJobRewire,
    FutureJobTask,
    UserLogin,
    ImportProgress,
    ExportChurn,
    TaskEdit,
    ProcessTaskEdit,
}

/// Relative weights (about per mille of transactions). Kinds that insert also delete (see
/// `Model::grows`), so the organisation stays about its initial size.
const WEIGHTS: &[(Kind, u32)] = &[
    (Kind::DeskMove, 300),
    (Kind::JobChange, 100),
    (Kind::StatusChange, 60),
    (Kind::Turnover, 30),
    (Kind::Terminate, 25),
    (Kind::PersonToFutureDesk, 3),
    (Kind::PersonToFutureJob, 3),
    (Kind::Headcount, 40),
    (Kind::JobTitle, 10),
    (Kind::JobLevelChange, 10),
    (Kind::JobChurn, 20),
    (Kind::FunctionRename, 6),
    (Kind::FunctionReparent, 6),
    (Kind::FunctionChurn, 3),
    (Kind::CompanyDelete, 1),
    (Kind::CompanyUndelete, 6),
    (Kind::DeskChurn, 40),
    (Kind::Seats, 20),
    (Kind::RoomMove, 10),
    (Kind::RoomChurn, 6),
    (Kind::FloorChurn, 3),
    (Kind::BuildingChurn, 1),
    (Kind::CellChurn, 10),
    (Kind::JobSkillLevel, 20),
    (Kind::TaskSkillLevel, 20),
    (Kind::SkillLevelEdit, 2),
    (Kind::JobSkillRewire, 10),
    (Kind::JobTaskRewire, 30),
    (Kind::TableJobRewire, 20),
    (Kind::FutureJobTask, 3),
    (Kind::UserLogin, 10),
    (Kind::ImportProgress, 6),
    (Kind::ExportChurn, 4),
    (Kind::TaskEdit, 5),
    (Kind::ProcessTaskEdit, 3),
];

/// Person moves only: a desk move (sometimes a team beside each other) or a job change.
const PERSON_MOVES: &[(Kind, u32)] = &[(Kind::DeskMove, 3), (Kind::JobChange, 1)];

/// Which kinds of change the stream draws.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeMix {
    /// Every kind, weighted like a real organisation's day (person moves dominate, a company
    /// is soft-deleted about once per thousand transactions).
    #[default]
    Realistic,
    /// People changing desk or job (and the inserts of rows the initial state already
    /// references, when they fall due): the workload the throughput targets are stated for.
    PersonMoves,
}

impl ChangeMix {
    fn weights(self) -> &'static [(Kind, u32)] {
        match self {
            ChangeMix::Realistic => WEIGHTS,
            ChangeMix::PersonMoves => PERSON_MOVES,
        }
    }
}

impl std::str::FromStr for ChangeMix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "realistic" => Ok(ChangeMix::Realistic),
            "person-moves" => Ok(ChangeMix::PersonMoves),
            other => Err(format!(
                "unknown change mix {other:?} (expected realistic or person-moves)"
            )),
        }
    }
}

/// Draws made for one transaction before falling back to a change that always applies.
const ATTEMPTS: usize = 8;

impl Model {
    /// Builds transaction `seq + 1` and returns its changes (at least one).
    pub(crate) fn step(&mut self, mix: ChangeMix) -> Vec<RowChange> {
        self.seq += 1;
        self.now = Stamp::at(self.seq);
        self.emitting = true;
        if let Some(promise) = self.take_due() {
            self.keep(promise);
        }
        for _ in 0..ATTEMPTS {
            if !self.out.is_empty() {
                break;
            }
            let kind = self.draw_kind(mix.weights());
            self.apply(kind);
        }
        if self.out.is_empty() {
            let company = self.any_company();
            self.add_export(company);
        }
        std::mem::take(&mut self.out)
    }

    fn draw_kind(&mut self, weights: &[(Kind, u32)]) -> Kind {
        let total: u32 = weights.iter().map(|&(_, w)| w).sum();
        let mut roll = self.dice.below(total);
        for &(kind, weight) in weights {
            if roll < weight {
                return kind;
            }
            roll -= weight;
        }
        Kind::DeskMove
    }

    /// Inserts a row that earlier changes already name.
    fn keep(&mut self, promise: Pending) {
        match promise {
            Pending::Job { id, company } => {
                self.add_job(company, Some(id));
            }
            Pending::Desk { id, room } => {
                let company = self.room_home(room).unwrap_or(1);
                self.add_desk(company, room, Some(id));
            }
        }
    }

    /// Applies one change of `kind`; emits nothing when the kind does not apply right now.
    pub(crate) fn apply(&mut self, kind: Kind) {
        use Kind::*;
        let _applied: Option<()> = match kind {
            DeskMove => self.desk_move(),
            JobChange => self.job_change(),
            StatusChange => self.status_change(),
            Turnover => self.turnover(),
            Terminate => self.terminate(),
            PersonToFutureDesk => self.person_to_future_desk(),
            PersonToFutureJob => self.person_to_future_job(),
            Headcount => self.headcount(),
            JobTitle => self.job_title(),
            JobLevelChange => self.job_level_change(),
            JobChurn => self.job_churn(),
            FunctionRename => self.function_rename(),
            FunctionReparent => self.function_reparent(),
            FunctionChurn => self.function_churn(),
            CompanyDelete => self.company_delete(),
            CompanyUndelete => self.company_undelete(),
            DeskChurn => self.desk_churn(),
            Seats => self.seats(),
            RoomMove => self.room_move(),
            RoomChurn => self.room_churn(),
            FloorChurn => self.floor_churn(),
            BuildingChurn => self.building_churn(),
            CellChurn => self.cell_churn(),
            JobSkillLevel => self.job_skill_level(),
            TaskSkillLevel => self.task_skill_level(),
            SkillLevelEdit => self.skill_level_edit(),
            JobSkillRewire => self.job_skill_rewire(),
            JobTaskRewire => self.job_task_rewire(),
            TableJobRewire => self.table_job_rewire(),
            FutureJobTask => self.future_job_task(),
            UserLogin => self.user_login(),
            ImportProgress => self.import_progress(),
            ExportChurn => self.export_churn(),
            TaskEdit => self.task_edit(),
            ProcessTaskEdit => self.process_task_edit(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// The cost of each kind at 1M people, applied repeatedly on its own:
    /// `cargo test --release -p twinflow-connectors -- --ignored --nocapture kind_costs`
    /// (`KIND=DeskMove` to time one kind over 3M applications, e.g. under a profiler). Kinds
    /// that stop applying once repeated (undelete with nothing deleted) show inflated costs.
    #[test]
    #[ignore = "timing, meaningful in release builds only"]
    fn kind_costs() {
        let mut m = Model::build(1, 1_000_000);
        m.emitting = true;
        let only = std::env::var("KIND").ok();
        for &(kind, _) in WEIGHTS {
            if only.as_ref().is_some_and(|k| *k != format!("{kind:?}")) {
                continue;
            }
            let n = if only.is_some() { 3_000_000 } else { 100_000 };
            let t = Instant::now();
            let mut changes = 0;
            for i in 0..n {
                m.seq += 1;
                m.now = Stamp::at(m.seq);
                m.apply(kind);
                changes += m.out.len();
                m.out.clear();
                if i == 0 && kind == Kind::CompanyDelete {
                    break;
                }
            }
            let ns = t.elapsed().as_nanos() as f64;
            println!(
                "{kind:?}: {:.0} ns per change ({changes} changes)",
                ns / changes.max(1) as f64
            );
        }
    }
}
