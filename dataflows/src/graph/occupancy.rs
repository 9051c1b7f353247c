//! `desk_occupancy`, `occupancy`, `occupancy_by_floor` and `occupancy_by_building`.
//!
//! Places are resolved once along the building → floor → room → desk chain (each step an
//! inner join against the arranged parent level, so a room moved to another floor, or a
//! building handed to another company, re-places everything below it). Each level's row then
//! sums the rows of the level below.

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use twinflow_views::{Datum, RowUpdate};

use super::assemble::assemble;
use super::reduce::diffs;
use super::{rows, LiveCompanies};
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

impl Place {
    fn datums(&self, depth: usize) -> impl Iterator<Item = Datum> {
        [
            self.company_id,
            self.building_id,
            self.floor_id,
            self.room_id,
        ]
        .into_iter()
        .take(depth)
        .map(|id| Datum::Int(id.into()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum DeskChild {
    Assigned,
    Reserved,
}

/// What a desk adds to its room.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct DeskSums {
    seats: i64,
    assigned: i64,
    reserved: bool,
}

/// What a room adds to its floor, or a floor to its building (`rooms` is 1 for a room).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct AreaSums {
    rooms: i64,
    capacity: i64,
    desks: i64,
    seats: i64,
    assigned: i64,
    reserved_desks: i64,
}

impl AreaSums {
    fn total<P>(children: super::assemble::Children<'_, P, AreaSums>) -> AreaSums {
        AreaSums {
            rooms: children.sum(|c| c.rooms),
            capacity: children.sum(|c| c.capacity),
            desks: children.sum(|c| c.desks),
            seats: children.sum(|c| c.seats),
            assigned: children.sum(|c| c.assigned),
            reserved_desks: children.sum(|c| c.reserved_desks),
        }
    }

    /// The sums as the trailing columns of a served row: `rooms, capacity, desks, seats,
    /// assigned, reserved_desks` (a room's row starts at `desks`).
    fn datums(&self) -> [Datum; 6] {
        [
            self.rooms,
            self.capacity,
            self.desks,
            self.seats,
            self.assigned,
            self.reserved_desks,
        ]
        .map(Datum::Int)
    }
}

/// The occupancy views, as served rows.
pub struct Occupancy<'s> {
    pub desks: VecCollection<'s, Time, RowUpdate>,
    pub rooms: VecCollection<'s, Time, RowUpdate>,
    pub floors: VecCollection<'s, Time, RowUpdate>,
    pub buildings: VecCollection<'s, Time, RowUpdate>,
}

/// Builds the four occupancy views.
#[allow(clippy::too_many_arguments)]
pub fn occupancy<'s>(
    live: &LiveCompanies<'s>,
    buildings: VecCollection<'s, Time, BuildingRec>,
    floors: VecCollection<'s, Time, FloorRec>,
    rooms: VecCollection<'s, Time, RoomRec>,
    desks: VecCollection<'s, Time, DeskRec>,
    assignments: VecCollection<'s, Time, Id>,
    table_jobs: VecCollection<'s, Time, LinkRec>,
) -> Occupancy<'s> {
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
    let desk_children = assignments
        .map(|desk| (desk, DeskChild::Assigned))
        .concat(table_jobs.map(|tj| (tj.left, DeskChild::Reserved)));
    let desk_rows = assemble(
        "desk_occupancy",
        placed_desks,
        desk_children,
        |_, (place, desk), children| {
            let assigned = children
                .iter()
                .filter(|(c, _)| **c == DeskChild::Assigned)
                .map(|(_, n)| n as i64)
                .sum();
            let reserved = children
                .iter()
                .filter(|(c, _)| **c == DeskChild::Reserved)
                .map(|(_, n)| n as i64)
                .sum();
            (*place, desk.clone(), assigned, reserved)
        },
    );

    // occupancy: a room with the sums of its desks.
    let desk_sums = diffs(desk_rows.clone()).map(|(_, (place, desk, assigned, reserved))| {
        (
            place.room_id,
            DeskSums {
                seats: desk.seats,
                assigned,
                reserved: reserved > 0,
            },
        )
    });
    let room_rows = assemble(
        "occupancy",
        placed_rooms,
        desk_sums,
        |_, (place, room), desks| {
            let sums = AreaSums {
                rooms: 1,
                capacity: room.capacity,
                desks: desks.count(),
                seats: desks.sum(|d| d.seats),
                assigned: desks.sum(|d| d.assigned),
                reserved_desks: desks.sum(|d| i64::from(d.reserved)),
            };
            (*place, room.clone(), sums)
        },
    );

    // occupancy_by_floor and occupancy_by_building: sums of the level below.
    let room_sums = diffs(room_rows.clone()).map(|(_, (place, _, sums))| (place.floor_id, sums));
    let floor_rows = assemble(
        "occupancy_by_floor",
        placed_floors,
        room_sums,
        |_, (place, floor), rooms| (*place, floor.clone(), AreaSums::total(rooms)),
    );
    let floor_sums =
        diffs(floor_rows.clone()).map(|(_, (place, _, sums))| (place.building_id, sums));
    let building_rows = assemble(
        "occupancy_by_building",
        live_buildings,
        floor_sums,
        |_, building, floors| (building.clone(), floors.count(), AreaSums::total(floors)),
    );

    // Each row is collected from iterators of known length, so it is allocated once.
    Occupancy {
        desks: rows(desk_rows, |(place, d, assigned, reserved)| {
            place
                .datums(4)
                .chain([
                    Datum::Int(d.id.into()),
                    d.label.into(),
                    Datum::Int(d.seats),
                    Datum::Float(d.pos_x.get()),
                    Datum::Float(d.pos_y.get()),
                    Datum::Int(assigned),
                    Datum::Int(reserved),
                ])
                .collect()
        }),
        rooms: rows(room_rows, |(place, r, s)| {
            let [_, _, sums @ ..] = s.datums();
            place
                .datums(3)
                .chain([
                    Datum::Int(r.id.into()),
                    r.name.into(),
                    r.kind.into(),
                    Datum::Int(r.capacity),
                ])
                .chain(sums)
                .collect()
        }),
        floors: rows(floor_rows, |(place, f, s)| {
            place
                .datums(2)
                .chain([Datum::Int(f.id.into()), Datum::Int(f.level), f.name.into()])
                .chain(s.datums())
                .collect()
        }),
        buildings: rows(building_rows, |(b, floors, s)| {
            [
                Datum::Int(b.company_id.into()),
                Datum::Int(b.id.into()),
                b.name.into(),
                Datum::Int(floors),
            ]
            .into_iter()
            .chain(s.datums())
            .collect()
        }),
    }
}
