//! `twin_hr`.

use twinflow_ingest::{Row, TableId, Value};

use super::{numbered, row};
use crate::generator::store::Entity;
use crate::generator::text::{decimal, int, join_text, opt_id, RowCx, Stamp};

/// `twin_hr.Function`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Function {
    pub(crate) company: u32,
    /// `0` = top level (`NULL`).
    pub(crate) parent: u32,
    /// Seed of the name (see `numbered`); a rename changes it.
    pub(crate) name: u32,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for Function {
    const TABLE: TableId = TableId::Function;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            numbered(&cx.words.function_names, self.name),
            opt_id(self.parent),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_hr.job_level`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct JobLevel {
    pub(crate) company: u32,
    /// Index into the vocabulary's level names; the rank follows from it.
    pub(crate) level: u8,
}

impl Entity for JobLevel {
    const TABLE: TableId = TableId::JobLevel;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let level = u64::from(self.level);
        row([
            int(id),
            int(self.company),
            cx.words.job_level_names.text(level),
            int(10 * (level as i64 + 1)),
        ])
    }
}

/// Link rows inserted together with their parent row: ids `first .. first + count`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Links {
    pub(crate) first: u32,
    pub(crate) count: u8,
}

impl Links {
    /// The ids of the links.
    pub(crate) fn ids(self) -> impl Iterator<Item = u32> {
        (0..u32::from(self.count)).map(move |k| self.first + k)
    }
}

/// `twin_hr.job`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Job {
    pub(crate) company: u32,
    pub(crate) function: u32,
    /// `0` = `NULL`.
    pub(crate) level: u32,
    pub(crate) headcount: u32,
    pub(crate) title: u16,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
    /// Not columns: the `job_skill` and `job_task` rows inserted with the job (deleted with it).
    pub(crate) skills: Links,
    pub(crate) tasks: Links,
}

impl Entity for Job {
    const TABLE: TableId = TableId::Job;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            int(self.function),
            opt_id(self.level),
            cx.words.job_titles.text(self.title.into()),
            int(self.headcount),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_hr.people` (20 bytes; names and email follow from the id).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Person {
    /// `0` = `NULL`.
    pub(crate) job: u32,
    /// `0` = `NULL`.
    pub(crate) desk: u32,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
    pub(crate) company: u16,
    /// Index into the vocabulary's people statuses.
    pub(crate) status: u8,
}

impl Entity for Person {
    const TABLE: TableId = TableId::People;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let w = &cx.words;
        let (first, last) = (w.first_lower.str(h), w.last_lower.str(h >> 16));
        let (mut id_digits, mut company_digits) = ([0; 10], [0; 10]);
        let company = decimal(self.company.into(), &mut company_digits);
        let created_ms = cx.created_ms(Self::TABLE, id, self.created);
        let hired = if self.created != Stamp::HISTORIC {
            RowCx::date(created_ms, 0)
        } else if (h >> 32) % 100 < 3 {
            Value::Null
        } else {
            RowCx::date(created_ms, ((h >> 40) % 60) as i64)
        };
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            opt_id(self.job),
            opt_id(self.desk),
            w.first_names.text(h),
            w.last_names.text(h >> 16),
            join_text(&[
                first,
                ".",
                last,
                ".",
                decimal(id, &mut id_digits),
                "@c",
                company,
                ".example.com",
            ]),
            w.people_status.text(self.status.into()),
            hired,
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_hr.job_skill`: the level a job holds in a skill.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct JobSkill {
    pub(crate) job: u32,
    pub(crate) skill: u32,
    pub(crate) level: u32,
}

impl Entity for JobSkill {
    const TABLE: TableId = TableId::JobSkill;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        row([int(id), int(self.job), int(self.skill), int(self.level)])
    }
}

/// `twin_hr.table_job`: a desk reserved for a job.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TableJob {
    pub(crate) desk: u32,
    pub(crate) job: u32,
}

impl Entity for TableJob {
    const TABLE: TableId = TableId::TableJob;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        row([int(id), int(self.desk), int(self.job)])
    }
}
