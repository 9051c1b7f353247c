//! `twin_process`.

use twinflow_ingest::{Row, TableId, Value};

use super::{row, sometimes_null};
use crate::generator::store::Entity;
use crate::generator::text::{int, opt_id, RowCx, Stamp};

/// `twin_process.process`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Process {
    pub(crate) company: u32,
    /// `0` = `NULL`.
    pub(crate) function: u32,
    pub(crate) name: u16,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for Process {
    const TABLE: TableId = TableId::Process;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            opt_id(self.function),
            cx.words.process_names.text(self.name.into()),
            sometimes_null(h, 40, || cx.words.descriptions.text(h)),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_process.task`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Task {
    pub(crate) company: u32,
    pub(crate) name: u16,
    pub(crate) duration_minutes: u16,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for Task {
    const TABLE: TableId = TableId::Task;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            cx.words.task_names.text(self.name.into()),
            int(self.duration_minutes),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_process.process_task`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcessTask {
    pub(crate) process: u32,
    pub(crate) task: u32,
    pub(crate) position: u16,
}

impl Entity for ProcessTask {
    const TABLE: TableId = TableId::ProcessTask;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.process),
            int(self.task),
            int(self.position),
        ])
    }
}

/// `twin_process.task_skill`: the level a task needs in a skill.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TaskSkill {
    pub(crate) task: u32,
    pub(crate) skill: u32,
    pub(crate) level: u32,
}

impl Entity for TaskSkill {
    const TABLE: TableId = TableId::TaskSkill;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        row([int(id), int(self.task), int(self.skill), int(self.level)])
    }
}

/// `twin_process.job_task`: a job performs a task for a share of its time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct JobTask {
    pub(crate) job: u32,
    pub(crate) task: u32,
    /// `allocation_pct` in hundredths of a percent (`DECIMAL(5,2)`).
    pub(crate) allocation: u16,
}

impl Entity for JobTask {
    const TABLE: TableId = TableId::JobTask;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.job),
            int(self.task),
            Value::Decimal {
                mantissa: i64::from(self.allocation),
                scale: 2,
            },
        ])
    }
}
