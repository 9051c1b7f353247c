//! `twin_skills` (global reference data) and `twin_integration`.

use twinflow_ingest::{Row, TableId, Value};

use super::{numbered, row, sometimes_null};
use crate::generator::store::Entity;
use crate::generator::text::{int, RowCx, Stamp};
use crate::generator::vocab::IMPORT_FAILED;

/// `twin_skills.skill`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Skill {
    /// Seed of the name (see `numbered`).
    pub(crate) name: u16,
    /// Index into the vocabulary's categories.
    pub(crate) category: u8,
}

impl Entity for Skill {
    const TABLE: TableId = TableId::Skill;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        row([
            int(id),
            numbered(&cx.words.skill_words, self.name.into()),
            cx.words.skill_categories.text(self.category.into()),
            sometimes_null(h, 50, || cx.words.descriptions.text(h)),
        ])
    }
}

/// `twin_skills.skill_level`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SkillLevel {
    pub(crate) level: i32,
    /// Index into the vocabulary's level names.
    pub(crate) name: u8,
}

impl Entity for SkillLevel {
    const TABLE: TableId = TableId::SkillLevel;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.level),
            cx.words.skill_level_names.text(self.name.into()),
        ])
    }
}

/// `twin_integration.import_jobs`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ImportJob {
    pub(crate) company: u32,
    pub(crate) rows_total: u32,
    pub(crate) rows_done: u32,
    pub(crate) created: Stamp,
    pub(crate) finished: Option<Stamp>,
    /// Index into the vocabulary's import kinds.
    pub(crate) kind: u8,
    /// Index into the vocabulary's import statuses.
    pub(crate) status: u8,
}

impl Entity for ImportJob {
    const TABLE: TableId = TableId::ImportJobs;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let w = &cx.words;
        let failed = self.status == IMPORT_FAILED;
        let created_ms = cx.created_ms(Self::TABLE, id, self.created);
        let finished = match self.finished {
            None => Value::Null,
            // A historic import finished within a day of its creation.
            Some(Stamp::HISTORIC) => {
                let took = (cx.hash(Self::TABLE, id) % 86_400_000) as i64;
                Value::DateTimeMillis(created_ms + took)
            }
            Some(stamp) => RowCx::time(stamp),
        };
        row([
            int(id),
            int(self.company),
            w.import_kinds.text(self.kind.into()),
            w.import_status.text(self.status.into()),
            int(self.rows_total),
            int(self.rows_done),
            if failed {
                w.import_error.clone()
            } else {
                Value::Null
            },
            Value::DateTimeMillis(created_ms),
            finished,
        ])
    }
}

/// `twin_integration.export_logs`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ExportLog {
    pub(crate) company: u32,
    pub(crate) rows: u32,
    pub(crate) created: Stamp,
    /// Index into the vocabulary's export targets.
    pub(crate) target: u8,
}

impl Entity for ExportLog {
    const TABLE: TableId = TableId::ExportLogs;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.company),
            cx.words.export_targets.text(self.target.into()),
            int(self.rows),
            Value::DateTimeMillis(cx.created_ms(Self::TABLE, id, self.created)),
        ])
    }
}
