//! `twin_infra`.

use twinflow_ingest::{Row, TableId, Value};

use super::{row, sometimes_null};
use crate::generator::store::Entity;
use crate::generator::text::{decimal, int, join_text, opt_id, text, RowCx, Stamp};

/// Latitude and longitude of the vocabulary's cities, in millionths of a degree.
const CITY_COORDS: [(i64, i64); 8] = [
    (48_856_600, 2_352_200),
    (52_520_000, 13_405_000),
    (40_712_800, -74_006_000),
    (51_507_400, -127_800),
    (40_416_800, -3_703_800),
    (41_902_800, 12_496_400),
    (52_367_600, 4_904_100),
    (35_676_200, 139_650_300),
];

/// `twin_infra.building`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Building {
    pub(crate) company: u32,
    /// Index into the vocabulary's cities (and [`CITY_COORDS`]).
    pub(crate) city: u8,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for Building {
    const TABLE: TableId = TableId::Building;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let city = cx.words.cities.str(self.city.into());
        let (lat, lon) = CITY_COORDS[usize::from(self.city) % CITY_COORDS.len()];
        let jitter = |shift: u32| ((h >> shift) % 100_000) as i64 - 50_000;
        let decimal = |m: i64| Value::Decimal {
            mantissa: m,
            scale: 6,
        };
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        row([
            int(id),
            int(self.company),
            text!("{city} Site {id}"),
            sometimes_null(h, 10, || text!("{} Main Street, {city}", h % 500 + 1)),
            sometimes_null(h >> 4, 5, || decimal(lat + jitter(8))),
            sometimes_null(h >> 4, 5, || decimal(lon + jitter(28))),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_infra.floor`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Floor {
    pub(crate) building: u32,
    /// 0 = ground floor, negative = basement.
    pub(crate) level: i8,
}

impl Entity for Floor {
    const TABLE: TableId = TableId::Floor;

    fn row(&self, id: u32, _cx: &RowCx) -> Row {
        let name = match self.level {
            l if l < 0 => text!("Basement {}", -i16::from(l)),
            0 => text!("Ground floor"),
            l => text!("Level {l}"),
        };
        row([int(id), int(self.building), int(self.level), name])
    }
}

/// `twin_infra.room`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Room {
    pub(crate) floor: u32,
    pub(crate) capacity: u16,
    /// Index into the vocabulary's room kinds.
    pub(crate) kind: u8,
    /// The company the room was created for (its pools); the row itself has no company.
    pub(crate) home: u16,
}

impl Entity for Room {
    const TABLE: TableId = TableId::Room;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.floor),
            join_text(&["Room ", decimal(id, &mut [0; 10])]),
            cx.words.room_kinds.text(self.kind.into()),
            int(self.capacity),
        ])
    }
}

/// `` twin_infra.`table` ``, a desk (its label and position follow from the id).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Desk {
    pub(crate) room: u32,
    /// Bookkeeping, not a column: how many live people name this desk (also kept while the desk
    /// is reserved or deleted).
    pub(crate) occupants: u32,
    pub(crate) seats: u8,
}

impl Entity for Desk {
    const TABLE: TableId = TableId::Desk;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let metres = |bits: u64| (bits % 60_000) as f64 / 100.0;
        row([
            int(id),
            int(self.room),
            join_text(&["D-", decimal(id, &mut [0; 10])]),
            int(self.seats),
            Value::Double(metres(h)),
            Value::Double(metres(h >> 24)),
        ])
    }
}

/// `twin_infra.building_cell`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct BuildingCell {
    pub(crate) floor: u32,
    /// `0` = corridor (`NULL`).
    pub(crate) room: u32,
    pub(crate) x: u16,
    pub(crate) y: u16,
    /// Index into the vocabulary's cell kinds.
    pub(crate) kind: u8,
}

impl Entity for BuildingCell {
    const TABLE: TableId = TableId::BuildingCell;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        row([
            int(id),
            int(self.floor),
            opt_id(self.room),
            int(self.x),
            int(self.y),
            cx.words.cell_kinds.text(self.kind.into()),
        ])
    }
}
