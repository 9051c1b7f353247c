//! Changes to `twin_hr.people`: desk moves (alone or as a team), job and status changes, hires
//! (with the job's headcount) and deletes, terminations, and moves to a desk or job that is only
//! inserted a few transactions later.

use twinflow_ingest::TableId;

use crate::generator::model::{Model, Pending};
use crate::generator::rows::{Desk, Job, Person, Room};
use crate::generator::vocab::{ACTIVE, LEAVE, TERMINATED};

/// Transactions within which a promised desk or job is inserted.
const PROMISE_WITHIN: u32 = 8;

impl Model {
    /// Updates a person, keeping desk occupancy counts in step.
    fn update_person(&mut self, id: u32, f: impl FnOnce(&mut Person)) -> bool {
        let Some(old) = self.get::<Person>(id) else {
            return false;
        };
        let changed = self.update::<Person>(id, f);
        if changed {
            let new_desk = self.get::<Person>(id).map_or(0, |p| p.desk);
            if new_desk != old.desk {
                self.occupy(old.desk, -1);
                self.occupy(new_desk, 1);
            }
        }
        changed
    }

    /// A live person and their company.
    fn pick_person(&mut self) -> Option<(u32, u32)> {
        let id = self.pick::<Person>()?;
        Some((id, u32::from(self.get::<Person>(id)?.company)))
    }

    /// One person, or a team of consecutive colleagues, to a desk of the company (side by side),
    /// or off their desk.
    pub(super) fn desk_move(&mut self) -> Option<()> {
        let (first, company) = self.pick_person()?;
        let team = if self.dice.percent(15) {
            2 + self.dice.below(4)
        } else {
            1
        };
        let target = if self.dice.percent(8) {
            0
        } else {
            self.pick_in::<Desk>(company, |p| &p.desks)?
        };
        for k in 0..team {
            let id = first + k;
            if self.get::<Person>(id).map(|p| u32::from(p.company)) != Some(company) {
                break;
            }
            let beside = target + k;
            let desk = if target != 0 && self.t.desks.is_live(beside) {
                beside
            } else {
                target
            };
            self.update_person(id, |p| p.desk = desk);
        }
        Some(())
    }

    pub(super) fn job_change(&mut self) -> Option<()> {
        let (id, company) = self.pick_person()?;
        let job = if self.dice.percent(5) {
            0
        } else {
            self.pick_in::<Job>(company, |p| &p.jobs)?
        };
        self.update_person(id, |p| p.job = job);
        Some(())
    }

    pub(super) fn status_change(&mut self) -> Option<()> {
        let (id, _) = self.pick_person()?;
        let status = match self.get::<Person>(id)?.status {
            ACTIVE => LEAVE,
            LEAVE if self.dice.percent(15) => TERMINATED,
            _ => ACTIVE,
        };
        self.update_person(id, |p| p.status = status);
        Some(())
    }

    /// A hire or a person deleted (see [`Model::grows`]).
    pub(super) fn turnover(&mut self) -> Option<()> {
        if self.grows(TableId::People) {
            self.hire()
        } else {
            self.delete_person()
        }
    }

    /// A new person; half the time their job's headcount grows with them.
    fn hire(&mut self) -> Option<()> {
        let company = match self.pick_person() {
            Some((_, company)) => company,
            None => self.any_company(),
        };
        let id = self.add_person(company)?;
        let job = self.get::<Person>(id)?.job;
        if job != 0 && self.dice.percent(50) {
            self.update::<Job>(job, |j| j.headcount = j.headcount.saturating_add(1));
        }
        Some(())
    }

    /// Status to terminated, usually freeing the desk.
    pub(super) fn terminate(&mut self) -> Option<()> {
        let mut found = None;
        for _ in 0..4 {
            let (id, _) = self.pick_person()?;
            if self
                .get::<Person>(id)
                .is_some_and(|p| p.status != TERMINATED)
            {
                found = Some(id);
                break;
            }
        }
        let id = found?;
        let free_desk = self.dice.percent(70);
        self.update_person(id, |p| {
            p.status = TERMINATED;
            if free_desk {
                p.desk = 0;
            }
        });
        Some(())
    }

    fn delete_person(&mut self) -> Option<()> {
        let (id, _) = self.pick_person()?;
        let gone = self.delete::<Person>(id)?;
        self.occupy(gone.desk, -1);
        Some(())
    }

    /// A person moves to a desk whose insert only comes a few transactions later.
    pub(super) fn person_to_future_desk(&mut self) -> Option<()> {
        let (id, company) = self.pick_person()?;
        let room = self.pick_in::<Room>(company, |p| &p.desk_rooms)?;
        let desk = self.t.desks.allocate()?;
        self.promise(Pending::Desk { id: desk, room }, PROMISE_WITHIN);
        self.update_person(id, |p| p.desk = desk);
        Some(())
    }

    /// A person moves to a job whose insert only comes a few transactions later.
    pub(super) fn person_to_future_job(&mut self) -> Option<()> {
        let (id, company) = self.pick_person()?;
        let job = self.t.jobs.allocate()?;
        self.promise(Pending::Job { id: job, company }, PROMISE_WITHIN);
        self.update_person(id, |p| p.job = job);
        Some(())
    }
}
