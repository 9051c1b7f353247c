//! Changes to the organisation: jobs (headcount, title, level, inserts and deletes), Functions
//! (renames, re-parenting, inserts and deletes), company soft delete and undelete, and the
//! tables no view reads (logins, imports, exports, task durations, process steps).

use twinflow_ingest::TableId;

use crate::generator::model::Model;
use crate::generator::rows::{
    Company, ExportLog, Function, ImportJob, Job, JobLevel, JobSkill, JobTask, Process,
    ProcessTask, Task, User,
};
use crate::generator::vocab::{IMPORT_DONE, IMPORT_FAILED, IMPORT_QUEUED, IMPORT_RUNNING};

impl Model {
    /// Planned positions change, down to zero sometimes.
    pub(super) fn headcount(&mut self) -> Option<()> {
        let id = self.pick::<Job>()?;
        let old = self.get::<Job>(id)?.headcount;
        let new = if self.dice.percent(15) {
            0
        } else {
            (i64::from(old) + self.dice.between(-3, 3)).max(0) as u32
        };
        self.update::<Job>(id, |j| j.headcount = new);
        Some(())
    }

    pub(super) fn job_title(&mut self) -> Option<()> {
        let id = self.pick::<Job>()?;
        let title = self.dice.below(self.cx.words.job_titles.count()) as u16;
        self.update::<Job>(id, |j| j.title = title);
        Some(())
    }

    /// Another level of the company, or none.
    pub(super) fn job_level_change(&mut self) -> Option<()> {
        let id = self.pick::<Job>()?;
        let company = self.get::<Job>(id)?.company;
        let level = if self.dice.percent(10) {
            0
        } else {
            self.pick_in::<JobLevel>(company, |p| &p.job_levels)?
        };
        self.update::<Job>(id, |j| j.level = level);
        Some(())
    }

    /// A job with its skills and tasks, or a job deleted with the skills and tasks it came with
    /// (either way one transaction across two databases). Its people and desk reservations, and
    /// links added later, keep naming it.
    pub(super) fn job_churn(&mut self) -> Option<()> {
        if self.grows(TableId::Job) {
            let company = self.any_company();
            return self.add_job(company, None).map(drop);
        }
        let id = self.pick::<Job>()?;
        let job = self.delete::<Job>(id)?;
        for link in job.skills.ids() {
            if self.get::<JobSkill>(link).is_some_and(|l| l.job == id) {
                self.unlink::<JobSkill>(link);
            }
        }
        for link in job.tasks.ids() {
            if self.get::<JobTask>(link).is_some_and(|l| l.job == id) {
                self.unlink::<JobTask>(link);
            }
        }
        Some(())
    }

    pub(super) fn function_rename(&mut self) -> Option<()> {
        let id = self.pick::<Function>()?;
        let name = self.dice.below(4 * self.cx.words.function_names.count());
        self.update::<Function>(id, |f| f.name = name);
        Some(())
    }

    /// A new parent among the company's older Functions (the tree stays a tree), or the top.
    pub(super) fn function_reparent(&mut self) -> Option<()> {
        let id = self.pick::<Function>()?;
        let company = self.get::<Function>(id)?.company;
        let mut parent = 0;
        if !self.dice.percent(25) {
            for _ in 0..8 {
                match self.pick_in::<Function>(company, |p| &p.functions) {
                    Some(p) if p < id => {
                        parent = p;
                        break;
                    }
                    _ => {}
                }
            }
        }
        self.update::<Function>(id, |f| f.parent = parent);
        Some(())
    }

    /// A new Function, or one deleted (its jobs and sub-Functions keep naming it).
    pub(super) fn function_churn(&mut self) -> Option<()> {
        if self.grows(TableId::Function) {
            let company = self.any_company();
            self.add_function(company).map(drop)
        } else {
            let id = self.pick::<Function>()?;
            self.delete::<Function>(id).map(drop)
        }
    }

    /// Soft-deletes a company, keeping at least one live.
    pub(super) fn company_delete(&mut self) -> Option<()> {
        let live: Vec<u32> = self
            .t
            .companies
            .live_ids()
            .filter(|&c| self.is_live_company(c))
            .collect();
        if live.len() < 2 {
            return None;
        }
        let id = self.dice.pick(&live)?;
        let now = self.now;
        self.update::<Company>(id, |c| c.deleted = Some(now));
        Some(())
    }

    pub(super) fn company_undelete(&mut self) -> Option<()> {
        let deleted: Vec<u32> = self
            .t
            .companies
            .live_ids()
            .filter(|&c| !self.is_live_company(c))
            .collect();
        let id = self.dice.pick(&deleted)?;
        self.update::<Company>(id, |c| c.deleted = None);
        Some(())
    }

    fn is_live_company(&self, id: u32) -> bool {
        self.get::<Company>(id).is_some_and(|c| c.deleted.is_none())
    }

    pub(super) fn user_login(&mut self) -> Option<()> {
        let id = self.pick::<User>()?;
        let now = self.now;
        self.update::<User>(id, |u| u.last_login = Some(now));
        Some(())
    }

    /// An import moves on (queued, running, then done or failed); or a new import is queued, or
    /// a finished one is cleaned up.
    pub(super) fn import_progress(&mut self) -> Option<()> {
        let picked = self
            .pick::<ImportJob>()
            .and_then(|id| Some((id, self.get::<ImportJob>(id)?)));
        let Some((id, job)) = picked.filter(|(_, job)| job.finished.is_none()) else {
            if let Some((id, _)) = picked.filter(|_| !self.grows(TableId::ImportJobs)) {
                return self.delete::<ImportJob>(id).map(drop);
            }
            let company = self.any_company();
            return self.add_import(company).map(drop);
        };
        let (now, failed) = (self.now, self.dice.percent(30));
        let progress = self.dice.below(job.rows_total.max(1));
        self.update::<ImportJob>(id, |j| match j.status {
            IMPORT_QUEUED => {
                j.status = IMPORT_RUNNING;
                j.rows_done = progress;
            }
            _ if failed => {
                j.status = IMPORT_FAILED;
                j.finished = Some(now);
            }
            _ => {
                j.status = IMPORT_DONE;
                j.rows_done = j.rows_total;
                j.finished = Some(now);
            }
        });
        Some(())
    }

    /// An export is logged, or an old log line pruned.
    pub(super) fn export_churn(&mut self) -> Option<()> {
        if self.grows(TableId::ExportLogs) {
            let company = self.any_company();
            self.add_export(company).map(drop)
        } else {
            let id = self.pick::<ExportLog>()?;
            self.delete::<ExportLog>(id).map(drop)
        }
    }

    pub(super) fn task_edit(&mut self) -> Option<()> {
        let id = self.pick::<Task>()?;
        let minutes = 15 * (1 + self.dice.below(32)) as u16;
        self.update::<Task>(id, |t| t.duration_minutes = minutes);
        Some(())
    }

    /// A step added to or removed from a process.
    pub(super) fn process_task_edit(&mut self) -> Option<()> {
        if !self.grows(TableId::ProcessTask) {
            let id = self.pick::<ProcessTask>()?;
            return self.delete::<ProcessTask>(id).map(drop);
        }
        let process = self.pick::<Process>()?;
        let company = self.get::<Process>(process)?.company;
        let task = self.pick_in::<Task>(company, |p| &p.tasks)?;
        let position = 1 + self.dice.below(8) as u16;
        self.create(ProcessTask {
            process,
            task,
            position,
        })
        .map(drop)
    }
}
