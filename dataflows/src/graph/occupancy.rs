//! `desk_occupancy`, `occupancy`, `occupancy_by_floor` and `occupancy_by_building`.
//!
//! Places are resolved once along the building → floor → room → desk chain (each step an
//! inner join against the arranged parent level, so a room moved to another floor, or a
//! building handed to another company, re-places everything below it). A desk's row counts
//! its people and reservations. Rooms, floors and buildings only add up what is placed under
//! them — desks, rooms and floors, each of which knows its whole place — so all three are one
//! [`accumulate`] keyed by [`Area`]: a changed desk adds its difference to its room, floor and
//! building at once (fed by the desks' own reduce), and a person's move reaches the building in
//! two steps.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use twinflow_views::{Row, Text, ViewId};

use super::assemble::{accumulate, accumulate_feeding, facts, Fact};
use super::reduce::field_sums;
use super::view_row::view_row;
use super::{rows, LiveCompanies, Output};
use crate::records::{BuildingRec, DeskRec, FloorRec, Id, LinkRec, RoomRec};
use crate::Time;

/// Where something is: its company and the ids above it (0 where not applicable).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
struct Place {
    company_id: Id,
    building_id: Id,
    floor_id: Id,
    room_id: Id,
}

/// The people at a desk and the jobs reserving it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct DeskCounts {
    assigned: i64,
    reserved: i64,
}

field_sums!(DeskCounts { assigned, reserved });

/// A room, floor or building: what the area sums are kept by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Area {
    Room(Id),
    Floor(Id),
    Building(Id),
}

impl Area {
    /// The view whose rows this kind of area makes.
    fn view(&self) -> ViewId {
        match self {
            Area::Room(_) => ViewId::Occupancy,
            Area::Floor(_) => ViewId::OccupancyByFloor,
            Area::Building(_) => ViewId::OccupancyByBuilding,
        }
    }
}

/// An area's own record, with its place.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum AreaRec {
    Room(Place, RoomRec),
    Floor(Place, FloorRec),
    Building(BuildingRec),
}

/// What is placed in an area: what a desk, a room or a floor adds to the areas above it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct AreaSums {
    floors: i64,
    rooms: i64,
    capacity: i64,
    desks: i64,
    seats: i64,
    assigned: i64,
    reserved_desks: i64,
}

field_sums!(AreaSums {
    floors,
    rooms,
    capacity,
    desks,
    seats,
    assigned,
    reserved_desks
});

view_row! {
    /// A row of `desk_occupancy`.
    struct DeskRow for ViewId::DeskOccupancy;
    description: "one row per desk whose room, floor and building exist, of a live company";
    key: [table_id];
    columns {
        company_id: i64,
        building_id: i64,
        floor_id: i64,
        room_id: i64,
        table_id: i64,
        label: Text,
        seats: i64,
        pos_x: f64,
        pos_y: f64,
        assigned: i64,
        reserved_jobs: i64,
    }
}

view_row! {
    /// A row of `occupancy`.
    struct RoomRow for ViewId::Occupancy;
    description: "one row per room whose floor and building exist, of a live company";
    key: [room_id];
    columns {
        company_id: i64,
        building_id: i64,
        floor_id: i64,
        room_id: i64,
        room_name: Text,
        kind: Text,
        capacity: i64,
        desks: i64,
        seats: i64,
        assigned: i64,
        reserved_desks: i64,
    }
}

view_row! {
    /// A row of `occupancy_by_floor`.
    struct FloorRow for ViewId::OccupancyByFloor;
    description: "one row per floor of an existing building of a live company";
    key: [floor_id];
    columns {
        company_id: i64,
        building_id: i64,
        floor_id: i64,
        level: i64,
        floor_name: Text,
        rooms: i64,
        capacity: i64,
        desks: i64,
        seats: i64,
        assigned: i64,
        reserved_desks: i64,
    }
}

view_row! {
    /// A row of `occupancy_by_building`.
    struct BuildingRow for ViewId::OccupancyByBuilding;
    description: "one row per building of a live company";
    key: [building_id];
    columns {
        company_id: i64,
        building_id: i64,
        building_name: Text,
        floors: i64,
        rooms: i64,
        capacity: i64,
        desks: i64,
        seats: i64,
        assigned: i64,
        reserved_desks: i64,
    }
}

/// An area's served row.
fn area_row(area: &AreaRec, sums: &AreaSums) -> Row {
    match area {
        AreaRec::Room(place, r) => RoomRow {
            company_id: place.company_id.into(),
            building_id: place.building_id.into(),
            floor_id: place.floor_id.into(),
            room_id: r.id.into(),
            room_name: r.name.clone(),
            kind: r.kind.clone(),
            capacity: r.capacity,
            desks: sums.desks,
            seats: sums.seats,
            assigned: sums.assigned,
            reserved_desks: sums.reserved_desks,
        }
        .into_row(),
        AreaRec::Floor(place, f) => FloorRow {
            company_id: place.company_id.into(),
            building_id: place.building_id.into(),
            floor_id: f.id.into(),
            level: f.level,
            floor_name: f.name.clone(),
            rooms: sums.rooms,
            capacity: sums.capacity,
            desks: sums.desks,
            seats: sums.seats,
            assigned: sums.assigned,
            reserved_desks: sums.reserved_desks,
        }
        .into_row(),
        AreaRec::Building(b) => BuildingRow {
            company_id: b.company_id.into(),
            building_id: b.id.into(),
            building_name: b.name.clone(),
            floors: sums.floors,
            rooms: sums.rooms,
            capacity: sums.capacity,
            desks: sums.desks,
            seats: sums.seats,
            assigned: sums.assigned,
            reserved_desks: sums.reserved_desks,
        }
        .into_row(),
    }
}

/// Builds the four occupancy views, as served rows.
#[allow(clippy::too_many_arguments)]
pub fn occupancy<'s>(
    live: &LiveCompanies<'s>,
    buildings: VecCollection<'s, Time, BuildingRec>,
    floors: VecCollection<'s, Time, FloorRec>,
    rooms: VecCollection<'s, Time, RoomRec>,
    desks: VecCollection<'s, Time, DeskRec>,
    assignments: VecCollection<'s, Time, Id>,
    table_jobs: VecCollection<'s, Time, LinkRec>,
) -> VecCollection<'s, Time, Output> {
    // Placement: each level joined with the placed level above it.
    let live_buildings = live
        .restrict(buildings.map(|b| (b.company_id, b)))
        .map(|b| (b.id, b));
    let placed_floors =
        floors
            .map(|f| (f.building_id, f))
            .join_map(live_buildings.clone(), |_, f, b| {
                (
                    f.id,
                    (
                        Place {
                            company_id: b.company_id,
                            building_id: b.id,
                            ..Place::default()
                        },
                        f.clone(),
                    ),
                )
            });
    let placed_rooms =
        rooms
            .map(|r| (r.floor_id, r))
            .join_map(placed_floors.clone(), |_, r, (place, f)| {
                (
                    r.id,
                    (
                        Place {
                            floor_id: f.id,
                            ..*place
                        },
                        r.clone(),
                    ),
                )
            });
    let placed_desks =
        desks
            .map(|d| (d.room_id, d))
            .join_map(placed_rooms.clone(), |_, d, (place, r)| {
                (
                    d.id,
                    (
                        Place {
                            room_id: r.id,
                            ..*place
                        },
                        d.clone(),
                    ),
                )
            });

    // desk_occupancy: a desk with the active people at it and the jobs reserving it.
    let people = assignments.map(|desk| {
        let counts = DeskCounts {
            assigned: 1,
            reserved: 0,
        };
        (desk, counts)
    });
    let reservations = table_jobs.map(|tj| {
        let counts = DeskCounts {
            assigned: 0,
            reserved: 1,
        };
        (tj.left, counts)
    });
    // Each placed desk also feeds its room, floor and building what it holds (for occupancy,
    // occupancy_by_floor and occupancy_by_building), read from the same state as its row.
    let (desk_rows, desk_sums) = accumulate_feeding(
        "desk_occupancy",
        facts(placed_desks, people.concat(reservations)),
        |_, (place, d), counts| -> Row {
            DeskRow {
                company_id: place.company_id.into(),
                building_id: place.building_id.into(),
                floor_id: place.floor_id.into(),
                room_id: place.room_id.into(),
                table_id: d.id.into(),
                label: d.label.clone(),
                seats: d.seats,
                pos_x: d.pos_x.get(),
                pos_y: d.pos_y.get(),
                assigned: counts.assigned,
                reserved_jobs: counts.reserved,
            }
            .into_row()
        },
        |_, (place, d), counts| {
            let sums = AreaSums {
                desks: 1,
                seats: d.seats,
                assigned: counts.assigned,
                reserved_desks: i64::from(counts.reserved > 0),
                ..AreaSums::default()
            };
            [
                Area::Room(place.room_id),
                Area::Floor(place.floor_id),
                Area::Building(place.building_id),
            ]
            .map(|area| (area, sums.clone()))
        },
    );
    let room_facts = placed_rooms.flat_map(|(id, (place, room))| {
        let sums = AreaSums {
            rooms: 1,
            capacity: room.capacity,
            ..AreaSums::default()
        };
        [
            (Area::Floor(place.floor_id), Fact::Child(sums.clone())),
            (Area::Building(place.building_id), Fact::Child(sums)),
            (
                Area::Room(id),
                Fact::Parent(Box::new(AreaRec::Room(place, room))),
            ),
        ]
    });
    let floor_facts = placed_floors.flat_map(|(id, (place, floor))| {
        let sums = AreaSums {
            floors: 1,
            ..AreaSums::default()
        };
        [
            (Area::Building(place.building_id), Fact::Child(sums)),
            (
                Area::Floor(id),
                Fact::Parent(Box::new(AreaRec::Floor(place, floor))),
            ),
        ]
    });
    let building_facts = live_buildings.map(|(id, b)| {
        (
            Area::Building(id),
            Fact::Parent(Box::new(AreaRec::Building(b))),
        )
    });
    let area_facts = room_facts
        .concat(floor_facts)
        .concat(building_facts)
        .concat(desk_sums.map(|(area, sums)| (area, Fact::Child(sums))));
    let area_rows = accumulate("occupancy_areas", area_facts, |_, area, sums| {
        area_row(area, sums)
    });

    rows(desk_rows, |_| ViewId::DeskOccupancy).concat(rows(area_rows, Area::view))
}
