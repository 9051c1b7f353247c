//! Changes to skills and link tables: the levels jobs hold and tasks need, the odd skill level
//! (edited, deleted, re-added), and the rewiring of `job_skill`, `job_task` and `table_job` —
//! including a `job_task` naming a job that is only inserted a few transactions later.

use twinflow_ingest::TableId;

use crate::generator::model::{Model, Pending};
use crate::generator::rows::{Desk, Job, JobSkill, JobTask, SkillLevel, TableJob, Task, TaskSkill};
use crate::generator::vocab::REGULAR_SKILL_LEVELS;

impl Model {
    pub(super) fn job_skill_level(&mut self) -> Option<()> {
        let id = self.pick::<JobSkill>()?;
        let level = self.draw_skill_level();
        self.relink::<JobSkill>(id, |l| l.level = level);
        Some(())
    }

    pub(super) fn task_skill_level(&mut self) -> Option<()> {
        let id = self.pick::<TaskSkill>()?;
        let level = self.draw_skill_level();
        self.relink::<TaskSkill>(id, |l| l.level = level);
        Some(())
    }

    /// The extra level (ids above the regular five) changes its level or is deleted; when none
    /// is left, a new one is inserted.
    pub(super) fn skill_level_edit(&mut self) -> Option<()> {
        // At most one extra level is live, and it is the newest: look from the top.
        let levels = &self.t.skill_levels;
        let extra = (REGULAR_SKILL_LEVELS + 1..levels.bound())
            .rev()
            .find(|&id| levels.is_live(id));
        let level = self.dice.between(-1, 7) as i32;
        match extra {
            Some(id) if self.dice.percent(60) => {
                self.update::<SkillLevel>(id, |l| l.level = level);
            }
            Some(id) => {
                self.delete::<SkillLevel>(id);
            }
            None => {
                self.create(SkillLevel {
                    level,
                    name: REGULAR_SKILL_LEVELS as u8,
                });
            }
        }
        Some(())
    }

    /// A job gains or loses a skill.
    pub(super) fn job_skill_rewire(&mut self) -> Option<()> {
        if !self.grows(TableId::JobSkill) {
            let id = self.pick::<JobSkill>()?;
            return self.unlink::<JobSkill>(id).map(drop);
        }
        let job = self.pick::<Job>()?;
        let (skill, level) = (self.draw_skill(), self.draw_skill_level());
        self.link(JobSkill { job, skill, level }).map(drop)
    }

    /// A job takes on a task, drops one, or changes its allocation or task.
    pub(super) fn job_task_rewire(&mut self) -> Option<()> {
        match (self.dice.percent(30), self.grows(TableId::JobTask)) {
            (false, true) => {
                let job = self.pick::<Job>()?;
                let company = self.get::<Job>(job)?.company;
                let task = self.pick_in::<Task>(company, |p| &p.tasks)?;
                let allocation = self.draw_allocation();
                self.link(JobTask {
                    job,
                    task,
                    allocation,
                })
                .map(drop)
            }
            (false, false) => {
                let id = self.pick::<JobTask>()?;
                self.unlink::<JobTask>(id).map(drop)
            }
            _ => {
                let id = self.pick::<JobTask>()?;
                if self.dice.percent(60) {
                    let allocation = self.draw_allocation();
                    self.relink::<JobTask>(id, |l| l.allocation = allocation);
                } else {
                    let company = self.get::<Task>(self.get::<JobTask>(id)?.task)?.company;
                    let task = self.pick_in::<Task>(company, |p| &p.tasks)?;
                    self.relink::<JobTask>(id, |l| l.task = task);
                }
                Some(())
            }
        }
    }

    /// `allocation_pct` between 5.00 and 100.00.
    fn draw_allocation(&mut self) -> u16 {
        500 + self.dice.below(9_501) as u16
    }

    /// A desk is reserved for a job, released, or reserved for another job.
    pub(super) fn table_job_rewire(&mut self) -> Option<()> {
        match (self.dice.percent(30), self.grows(TableId::TableJob)) {
            (false, true) => {
                let desk = self.pick::<Desk>()?;
                let company = self.room_home(self.get::<Desk>(desk)?.room)?;
                let job = self.pick_in::<Job>(company, |p| &p.jobs)?;
                self.link(TableJob { desk, job }).map(drop)
            }
            (false, false) => {
                let id = self.pick::<TableJob>()?;
                self.unlink::<TableJob>(id).map(drop)
            }
            _ => {
                let id = self.pick::<TableJob>()?;
                let room = self
                    .get::<Desk>(self.get::<TableJob>(id)?.desk)
                    .map(|d| d.room);
                let company = match room.and_then(|r| self.room_home(r)) {
                    Some(company) => company,
                    None => self.any_company(),
                };
                let job = self.pick_in::<Job>(company, |p| &p.jobs)?;
                self.relink::<TableJob>(id, |l| l.job = job);
                Some(())
            }
        }
    }

    /// A task is given to a job whose insert comes a few transactions later.
    pub(super) fn future_job_task(&mut self) -> Option<()> {
        let company = self.any_company();
        let task = self.pick_in::<Task>(company, |p| &p.tasks)?;
        let job = self.t.jobs.allocate()?;
        self.promise(Pending::Job { id: job, company }, 8);
        self.link(JobTask {
            job,
            task,
            allocation: 10_000,
        })
        .map(drop)
    }
}
