//! The initial state: an organisation of `scale` people, built with the same helpers as the
//! stream's inserts (nothing is emitted while building; the snapshot reads the result).

use super::model::{Model, Pending, Pools};
use super::rows::{
    Company, Job, JobLevel, OrganizationType, Person, Process, ProcessTask, Role, Skill,
    SkillLevel, TableJob, Task, User,
};
use super::text::Stamp;
use super::vocab::{ACTIVE, LEAVE, TERMINATED};

/// The largest number of people a generator models (ids stay far from the `INT` limit).
pub const MAX_SCALE: u64 = 1 << 29;
/// Future jobs per company that some people already name in the initial state.
const FUTURE_JOBS: u32 = 2;

/// How big the initial organisation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    people: u32,
    companies: u32,
    skills: u32,
}

impl Shape {
    /// The shape for `scale` people (clamped to `1..=MAX_SCALE`).
    pub(crate) fn of(scale: u64) -> Shape {
        let people = scale.clamp(1, MAX_SCALE) as u32;
        let mut companies = (people / 50_000).max(1);
        if people >= 100 {
            companies = companies.max(2);
        }
        Shape {
            people,
            companies: companies.min(10_000),
            skills: (people / 5_000).clamp(10, 50_000),
        }
    }

    fn people_of(&self, company: u32) -> u32 {
        let (base, extra) = (self.people / self.companies, self.people % self.companies);
        base + u32::from(company <= extra)
    }
}

impl Model {
    /// The initial state for `scale` people drawn from `seed`.
    pub(crate) fn build(seed: u64, scale: u64) -> Model {
        let shape = Shape::of(scale);
        let mut m = Model::empty(seed);
        m.build_reference(shape);
        for company in 1..=shape.companies {
            m.build_company(company, shape.people_of(company));
        }
        for _ in 0..2 {
            m.create(User {
                role: 1,
                company: 0,
                active: true,
                ..User::default()
            });
        }
        m.seal();
        m
    }

    fn build_reference(&mut self, shape: Shape) {
        for _ in 0..self.cx.words.role_names.count() {
            self.create(Role::default());
        }
        for _ in 0..self.cx.words.organization_types.count() {
            self.create(OrganizationType);
        }
        for level in 1..=5 {
            self.create(SkillLevel {
                level,
                name: (level - 1) as u8,
            });
        }
        // The odd one out: a level outside 1..=5 that the stream edits and deletes.
        self.create(SkillLevel { level: 0, name: 5 });
        for name in 0..shape.skills {
            let category = self.dice.below(self.cx.words.skill_categories.count()) as u8;
            self.create(Skill {
                name: u16::try_from(name).unwrap_or(u16::MAX),
                category,
            });
        }
    }

    fn build_company(&mut self, company: u32, people: u32) {
        let organization_type = 1 + self.dice.below(self.t.organization_types.len() as u32);
        let country = (!self.dice.percent(15)).then(|| self.dice.below(8) as u8);
        let row = Company {
            organization_type,
            country,
            ..Company::default()
        };
        if self.create(row) != Some(company) {
            return; // Companies are only created here, in id order.
        }
        self.pools.push(Pools::default());

        let jobs = (people / 20).max(3);
        let functions = (jobs / 20).max(2);
        for _ in 0..functions {
            self.add_function(company);
        }
        for level in 0..4 + self.dice.below(3) as u8 {
            if let Some(id) = self.create(JobLevel { company, level }) {
                self.pool_push::<JobLevel>(company, |p| &mut p.job_levels, id);
            }
        }
        for _ in 0..(jobs / 2).max(3) {
            self.add_task(company);
        }
        for _ in 0..jobs {
            self.add_job(company, None);
        }
        let future: Vec<u32> = (0..FUTURE_JOBS)
            .filter_map(|_| self.t.jobs.allocate())
            .collect();
        for &id in &future {
            self.promise(Pending::Job { id, company }, 300);
        }
        self.build_sites(company, (people / 50).max(3), (people / 5).max(5));
        self.build_processes(company, (functions / 10).max(2));
        self.build_people(company, people, &future);
        for _ in 0..2 + people / 200_000 {
            let role = 1 + self.dice.below(self.t.roles.len() as u32);
            let last_login = self.dice.percent(80).then_some(Stamp::HISTORIC);
            let active = self.dice.percent(90);
            self.create(User {
                role,
                company,
                active,
                last_login,
                ..User::default()
            });
        }
        for _ in 0..2 {
            self.add_import(company);
            self.add_export(company);
        }
    }

    /// Buildings, floors, rooms (all kinds), desks (contiguous ids per room), grid cells and desk
    /// reservations.
    fn build_sites(&mut self, company: u32, rooms: u32, desks: u32) {
        let mut floors = Vec::new();
        for _ in 0..(rooms / 100).max(1) {
            let Some(building) = self.add_building(company) else {
                continue;
            };
            let start = if self.dice.percent(25) {
                -1 - self.dice.below(2) as i8
            } else {
                0
            };
            for k in 0..3 + self.dice.below(6) as i8 {
                floors.extend(self.add_floor(company, building, start + k));
            }
        }
        let mut rooms_of_floor = vec![Vec::new(); floors.len()];
        for r in 0..rooms {
            let at = self.dice.below(floors.len() as u32) as usize;
            let kind = (r < 5).then_some(r as u8);
            if let Some((&floor, list)) = floors.get(at).zip(rooms_of_floor.get_mut(at)) {
                list.extend(self.add_room(company, floor, kind));
            }
        }
        for (&floor, on_floor) in floors.iter().zip(&rooms_of_floor) {
            for _ in 0..3 + self.dice.below(4) {
                let room = if self.dice.percent(70) {
                    self.dice.pick(on_floor).unwrap_or(0)
                } else {
                    0
                };
                self.add_cell(floor, room);
            }
        }
        let ci = company as usize - 1;
        let desk_rooms = self
            .pools
            .get(ci)
            .map(|p| p.desk_rooms.clone())
            .unwrap_or_default();
        let weights: Vec<u32> = desk_rooms.iter().map(|_| 1 + self.dice.below(3)).collect();
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum::<u64>().max(1);
        let quota = |w: u32| (u64::from(desks) * u64::from(w) / total) as u32;
        let mut spare = desks.saturating_sub(weights.iter().map(|&w| quota(w)).sum());
        for (&room, &w) in desk_rooms.iter().zip(&weights) {
            let extra = u32::from(spare > 0);
            spare -= extra;
            for _ in 0..quota(w) + extra {
                self.add_desk(company, room, None);
            }
        }
        let all_desks = self
            .pools
            .get(ci)
            .map(|p| p.desks.clone())
            .unwrap_or_default();
        for (i, &desk) in all_desks.iter().enumerate() {
            if i == 0 || self.dice.percent(4) {
                if let Some(job) = self.pick_in::<Job>(company, |p| &p.jobs) {
                    self.link(TableJob { desk, job });
                }
            }
        }
    }

    fn build_processes(&mut self, company: u32, processes: u32) {
        for _ in 0..processes {
            let function = if self.dice.percent(10) {
                0
            } else {
                self.pick_in::<super::rows::Function>(company, |p| &p.functions)
                    .unwrap_or(0)
            };
            let name = self.dice.below(self.cx.words.process_names.count()) as u16;
            let Some(process) = self.create(Process {
                company,
                function,
                name,
                ..Process::default()
            }) else {
                continue;
            };
            self.pool_push::<Process>(company, |p| &mut p.processes, process);
            for position in 1..=2 + self.dice.below(4) as u16 {
                if let Some(task) = self.pick_in::<Task>(company, |p| &p.tasks) {
                    self.create(ProcessTask {
                        process,
                        task,
                        position,
                    });
                }
            }
        }
    }

    /// People with consecutive ids, then each job's headcount planned around its people.
    fn build_people(&mut self, company: u32, people: u32, future_jobs: &[u32]) {
        let Ok(company16) = u16::try_from(company) else {
            return;
        };
        let ci = company as usize - 1;
        let no_ids = Vec::new();
        let first_job = self
            .pools
            .get(ci)
            .and_then(|p| p.jobs.first().copied())
            .unwrap_or(0);
        let mut filled = vec![0u32; self.pools.get(ci).map_or(0, |p| p.jobs.len())];
        for i in 0..people {
            let status = match self.dice.below(100) {
                0..90 => ACTIVE,
                90..96 => LEAVE,
                _ => TERMINATED,
            };
            let job = if i % 997 == 1 && !future_jobs.is_empty() {
                future_jobs[(i / 997) as usize % future_jobs.len()]
            } else if self.dice.percent(5) {
                0
            } else {
                self.dice
                    .pick(self.pools.get(ci).map_or(&no_ids, |p| &p.jobs))
                    .unwrap_or(0)
            };
            let desk = if self.dice.percent(45) {
                self.dice
                    .pick(self.pools.get(ci).map_or(&no_ids, |p| &p.desks))
                    .unwrap_or(0)
            } else {
                0
            };
            let person = Person {
                job,
                desk,
                company: company16,
                status,
                ..Person::default()
            };
            if self.create(person).is_some() {
                self.occupy(desk, 1);
                if let Some(n) = job
                    .checked_sub(first_job)
                    .and_then(|k| filled.get_mut(k as usize))
                {
                    *n += u32::from(status == ACTIVE);
                }
            }
        }
        for (k, &n) in filled.iter().enumerate() {
            let headcount = if self.dice.percent(3) {
                0
            } else {
                (i64::from(n) + self.dice.between(-2, 2)).max(0) as u32
            };
            self.update::<Job>(first_job + k as u32, |j| j.headcount = headcount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(
            Shape::of(1_000_000),
            Shape {
                people: 1_000_000,
                companies: 20,
                skills: 200
            }
        );
        assert_eq!(Shape::of(200).companies, 2);
        assert_eq!(Shape::of(50).companies, 1);
        assert_eq!(Shape::of(0).people, 1);
        let s = Shape::of(1_000_003);
        assert_eq!(
            (1..=s.companies).map(|c| s.people_of(c)).sum::<u32>(),
            1_000_003
        );
    }
}
