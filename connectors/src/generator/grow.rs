//! Inserting new entities with randomly drawn attributes: used both to build the initial state
//! and by the change stream's inserts, so that both look alike.

use super::model::Model;
use super::rows::{
    Building, BuildingCell, Desk, ExportLog, Floor, Function, ImportJob, Job, JobLevel, JobSkill,
    JobTask, Links, Person, Room, Task, TaskSkill,
};
use super::vocab::{
    ACTIVE, DESK_ROOM_KINDS, IMPORT_DONE, IMPORT_FAILED, IMPORT_QUEUED, IMPORT_RUNNING,
    REGULAR_SKILL_LEVELS, ROOM_KIND_COUNT,
};

impl Model {
    /// A skill level id for a job or task link: mostly a regular level, sometimes an extra one
    /// (which may be deleted: a missing level never covers).
    pub(crate) fn draw_skill_level(&mut self) -> u32 {
        let bound = self.t.skill_levels.bound();
        if bound > REGULAR_SKILL_LEVELS + 1 && self.dice.percent(5) {
            REGULAR_SKILL_LEVELS + 1 + self.dice.below(bound - REGULAR_SKILL_LEVELS - 1)
        } else {
            1 + self.dice.below(REGULAR_SKILL_LEVELS)
        }
    }

    /// A skill id (skills are global and never deleted).
    pub(crate) fn draw_skill(&mut self) -> u32 {
        1 + self.dice.below(self.t.skills.bound() - 1)
    }

    /// A new Function of `company`, under an existing one (or at the top level).
    pub(crate) fn add_function(&mut self, company: u32) -> Option<u32> {
        let parent = if self.dice.percent(20) {
            None
        } else {
            self.pick_in::<Function>(company, |p| &p.functions)
        };
        let name = self.dice.below(4 * self.cx.words.function_names.count());
        let now = self.now;
        let f = Function {
            company,
            parent: parent.unwrap_or(0),
            name,
            created: now,
            updated: now,
        };
        let id = self.create(f)?;
        self.pool_push::<Function>(company, |p| &mut p.functions, id);
        Some(id)
    }

    /// A new task of `company` requiring one or two skills.
    pub(crate) fn add_task(&mut self, company: u32) -> Option<u32> {
        let name = u16::try_from(self.dice.below(self.cx.words.task_names.count())).unwrap_or(0);
        let duration_minutes = 15 * (1 + self.dice.below(32)) as u16;
        let now = self.now;
        let id = self.create(Task {
            company,
            name,
            duration_minutes,
            created: now,
            updated: now,
        })?;
        self.pool_push::<Task>(company, |p| &mut p.tasks, id);
        for _ in 0..1 + self.dice.below(2) {
            let (skill, level) = (self.draw_skill(), self.draw_skill_level());
            self.link(TaskSkill {
                task: id,
                skill,
                level,
            });
        }
        Some(id)
    }

    /// A new job of `company` (under the id reserved earlier, if given) with its skills and
    /// tasks.
    pub(crate) fn add_job(&mut self, company: u32, reserved: Option<u32>) -> Option<u32> {
        let function = self
            .pick_in::<Function>(company, |p| &p.functions)
            .unwrap_or(0);
        let level = if self.dice.percent(5) {
            0
        } else {
            self.pick_in::<JobLevel>(company, |p| &p.job_levels)
                .unwrap_or(0)
        };
        let title = u16::try_from(self.dice.below(self.cx.words.job_titles.count())).unwrap_or(0);
        let headcount = self.dice.below(30) + 1;
        let now = self.now;
        let job = Job {
            company,
            function,
            level,
            headcount,
            title,
            created: now,
            updated: now,
            ..Job::default()
        };
        let id = match reserved {
            Some(id) => self.create_at(id, job).then_some(id)?,
            None => self.create(job)?,
        };
        self.pool_push::<Job>(company, |p| &mut p.jobs, id);
        let first_skill = self.t.job_skills.bound();
        for _ in 0..1 + self.dice.below(3) {
            let (skill, level) = (self.draw_skill(), self.draw_skill_level());
            self.link(JobSkill {
                job: id,
                skill,
                level,
            });
        }
        let first_task = self.t.job_tasks.bound();
        let tasks = 1 + self.dice.below(3);
        for _ in 0..tasks {
            if let Some(task) = self.pick_in::<Task>(company, |p| &p.tasks) {
                let allocation = if tasks == 1 {
                    10_000
                } else {
                    100 * (10 + self.dice.below(81)) as u16
                };
                self.link(JobTask {
                    job: id,
                    task,
                    allocation,
                });
            }
        }
        let links = |first: u32, bound: u32| Links {
            first,
            count: u8::try_from(bound - first).unwrap_or(0),
        };
        let skills = links(first_skill, self.t.job_skills.bound());
        let tasks = links(first_task, self.t.job_tasks.bound());
        if let Some(job) = self.t.jobs.get_mut(id) {
            (job.skills, job.tasks) = (skills, tasks);
        }
        Some(id)
    }

    /// A new building of `company` in one of the vocabulary's cities.
    pub(crate) fn add_building(&mut self, company: u32) -> Option<u32> {
        let city = self.dice.below(self.cx.words.cities.count()) as u8;
        let now = self.now;
        let id = self.create(Building {
            company,
            city,
            created: now,
            updated: now,
        })?;
        self.pool_push::<Building>(company, |p| &mut p.buildings, id);
        Some(id)
    }

    /// A new floor of `building`, counted in `company`'s pools.
    pub(crate) fn add_floor(&mut self, company: u32, building: u32, level: i8) -> Option<u32> {
        let id = self.create(Floor { building, level })?;
        self.pool_push::<Floor>(company, |p| &mut p.floors, id);
        Some(id)
    }

    /// A new room on `floor`, of a random kind unless `kind` is given.
    pub(crate) fn add_room(&mut self, company: u32, floor: u32, kind: Option<u8>) -> Option<u32> {
        let kind = kind.unwrap_or_else(|| match self.dice.below(100) {
            0..40 => 0,
            40..60 => 1,
            60..85 => 2,
            85..95 => 3,
            _ => 4,
        }) % ROOM_KIND_COUNT;
        let capacity = 2 + self.dice.below(39) as u16;
        let home = u16::try_from(company).unwrap_or(u16::MAX);
        let id = self.create(Room {
            floor,
            capacity,
            kind,
            home,
        })?;
        self.pool_push::<Room>(company, |p| &mut p.rooms, id);
        if DESK_ROOM_KINDS.contains(&kind) {
            self.pool_push::<Room>(company, |p| &mut p.desk_rooms, id);
        }
        Some(id)
    }

    /// A new desk in `room` (under the id reserved earlier, if given).
    pub(crate) fn add_desk(
        &mut self,
        company: u32,
        room: u32,
        reserved: Option<u32>,
    ) -> Option<u32> {
        let seats = 1 + self.dice.below(4) as u8;
        let occupants = match reserved {
            Some(id) => self.t.desks.slot_mut(id).map_or(0, |d| d.occupants),
            None => 0,
        };
        let desk = Desk {
            room,
            occupants,
            seats,
        };
        let id = match reserved {
            Some(id) => self.create_at(id, desk).then_some(id)?,
            None => self.create(desk)?,
        };
        self.pool_push::<Desk>(company, |p| &mut p.desks, id);
        Some(id)
    }

    /// A new grid cell of `floor`, in `room` or a corridor (`0`).
    pub(crate) fn add_cell(&mut self, floor: u32, room: u32) -> Option<u32> {
        let x = self.dice.below(120) as u16;
        let y = self.dice.below(80) as u16;
        let kind = self.dice.below(self.cx.words.cell_kinds.count()) as u8;
        self.create(BuildingCell {
            floor,
            room,
            x,
            y,
            kind,
        })
    }

    /// A new active person of `company`, in a job of it and sometimes at one of its desks.
    pub(crate) fn add_person(&mut self, company: u32) -> Option<u32> {
        let job = self.pick_in::<Job>(company, |p| &p.jobs).unwrap_or(0);
        let desk = if self.dice.percent(45) {
            self.pick_in::<Desk>(company, |p| &p.desks).unwrap_or(0)
        } else {
            0
        };
        let now = self.now;
        let company16 = u16::try_from(company).ok()?;
        let person = Person {
            job,
            desk,
            created: now,
            updated: now,
            company: company16,
            status: ACTIVE,
        };
        let id = self.create(person)?;
        self.occupy(desk, 1);
        Some(id)
    }

    /// Counts people naming `desk` (`0` = none): `+1` or `-1`.
    pub(crate) fn occupy(&mut self, desk: u32, delta: i32) {
        if let Some(d) = self.t.desks.slot_mut(desk) {
            d.occupants = d.occupants.saturating_add_signed(delta);
        }
    }

    /// The company whose pools hold `room` (where its building's company lives, usually).
    pub(crate) fn room_home(&self, room: u32) -> Option<u32> {
        self.get::<Room>(room).map(|r| u32::from(r.home))
    }

    /// A new import job of `company`; stream imports start queued.
    pub(crate) fn add_import(&mut self, company: u32) -> Option<u32> {
        let rows_total = 100 + self.dice.below(10_000);
        let status = if self.emitting {
            IMPORT_QUEUED
        } else {
            self.dice.below(4) as u8
        };
        let (rows_done, finished) = match status {
            IMPORT_DONE => (rows_total, Some(self.now)),
            IMPORT_FAILED => (self.dice.below(rows_total), Some(self.now)),
            IMPORT_RUNNING => (self.dice.below(rows_total), None),
            _ => (0, None),
        };
        let kind = self.dice.below(self.cx.words.import_kinds.count()) as u8;
        let now = self.now;
        self.create(ImportJob {
            company,
            rows_total,
            rows_done,
            created: now,
            finished,
            kind,
            status,
        })
    }

    /// A new export log line of `company`.
    pub(crate) fn add_export(&mut self, company: u32) -> Option<u32> {
        let rows = self.dice.below(100_000);
        let target = self.dice.below(self.cx.words.export_targets.count()) as u8;
        let now = self.now;
        self.create(ExportLog {
            company,
            rows,
            created: now,
            target,
        })
    }
}
