//! Changes to `twin_infra`: desks added and removed (sometimes from under the people using
//! them), seats, rooms moved to another floor (sometimes of another building or company), and
//! rooms (with desks and grid cells), floors, buildings and cells inserted and deleted.

use twinflow_ingest::TableId;

use crate::generator::model::Model;
use crate::generator::rows::{Building, BuildingCell, Desk, Floor, Room};
use crate::generator::vocab::DESK_ROOM_KINDS;

impl Model {
    /// One to three desks added to a room of a company, or one removed.
    pub(super) fn desk_churn(&mut self) -> Option<()> {
        if !self.grows(TableId::Desk) {
            return self.desk_remove();
        }
        let company = self.any_company();
        let room = self.pick_in::<Room>(company, |p| &p.desk_rooms)?;
        for _ in 0..1 + self.dice.below(3) {
            self.add_desk(company, room, None);
        }
        Some(())
    }

    /// Removes a desk: half the time a free one if one is found, else whatever desk was drawn,
    /// leaving its people (and reservations) naming a desk that no longer exists.
    fn desk_remove(&mut self) -> Option<()> {
        let mut id = self.pick::<Desk>()?;
        if self.dice.percent(50) {
            for _ in 0..8 {
                if self.get::<Desk>(id).is_some_and(|d| d.occupants == 0) {
                    break;
                }
                id = self.pick::<Desk>()?;
            }
        }
        self.delete::<Desk>(id).map(drop)
    }

    pub(super) fn seats(&mut self) -> Option<()> {
        let id = self.pick::<Desk>()?;
        let seats = 1 + self.dice.below(4) as u8;
        self.update::<Desk>(id, |d| d.seats = seats);
        Some(())
    }

    /// A room moves to another floor of its company, or now and then of another company.
    pub(super) fn room_move(&mut self) -> Option<()> {
        let id = self.pick::<Room>()?;
        let mut company = self.room_home(id)?;
        if self.dice.percent(10) {
            company = self.any_company();
        }
        let floor = self.pick_in::<Floor>(company, |p| &p.floors)?;
        self.update::<Room>(id, |r| r.floor = floor);
        Some(())
    }

    /// A room with its desks and grid cells (one transaction), or a room deleted (its desks and
    /// cells keep naming it).
    pub(super) fn room_churn(&mut self) -> Option<()> {
        if !self.grows(TableId::Room) {
            let id = self.pick::<Room>()?;
            return self.delete::<Room>(id).map(drop);
        }
        let company = self.any_company();
        let floor = self.pick_in::<Floor>(company, |p| &p.floors)?;
        let room = self.add_room(company, floor, None)?;
        let kind = self.get::<Room>(room)?.kind;
        if DESK_ROOM_KINDS.contains(&kind) {
            for _ in 0..self.dice.below(5) {
                self.add_desk(company, room, None);
            }
        }
        for _ in 0..1 + self.dice.below(3) {
            self.add_cell(floor, room);
        }
        Some(())
    }

    /// A floor (half the time with a room on it), or a floor deleted.
    pub(super) fn floor_churn(&mut self) -> Option<()> {
        if !self.grows(TableId::Floor) {
            let id = self.pick::<Floor>()?;
            return self.delete::<Floor>(id).map(drop);
        }
        let company = self.any_company();
        let building = self.pick_in::<Building>(company, |p| &p.buildings)?;
        let level = self.dice.between(-2, 12) as i8;
        let floor = self.add_floor(company, building, level)?;
        if self.dice.percent(50) {
            self.add_room(company, floor, None);
        }
        Some(())
    }

    /// A building with up to three (empty) floors, or a building deleted.
    pub(super) fn building_churn(&mut self) -> Option<()> {
        if !self.grows(TableId::Building) {
            let id = self.pick::<Building>()?;
            return self.delete::<Building>(id).map(drop);
        }
        let company = self.any_company();
        let building = self.add_building(company)?;
        for level in 0..self.dice.below(4) as i8 {
            self.add_floor(company, building, level);
        }
        Some(())
    }

    /// A grid cell drawn on a floor (in a room of the company or a corridor), or one erased.
    pub(super) fn cell_churn(&mut self) -> Option<()> {
        if !self.grows(TableId::BuildingCell) {
            let id = self.pick::<BuildingCell>()?;
            return self.delete::<BuildingCell>(id).map(drop);
        }
        let company = self.any_company();
        let floor = self.pick_in::<Floor>(company, |p| &p.floors)?;
        let room = if self.dice.percent(50) {
            self.pick_in::<Room>(company, |p| &p.rooms).unwrap_or(0)
        } else {
            0
        };
        self.add_cell(floor, room).map(drop)
    }
}
