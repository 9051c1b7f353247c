//! `twin_auth` and `twin_org`.

use twinflow_ingest::{Row, TableId, Value};

use super::{row, sometimes_null};
use crate::generator::store::Entity;
use crate::generator::text::{int, opt_id, text, RowCx, Stamp};

/// `twin_auth.role`: name and permissions follow from the id.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Role {
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for Role {
    const TABLE: TableId = TableId::Role;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        let i = u64::from(id - 1);
        row([
            int(id),
            cx.words.role_names.text(i),
            cx.words.permissions.text(i),
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_auth.user`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct User {
    pub(crate) role: u32,
    /// `0` = platform staff (`NULL`).
    pub(crate) company: u32,
    pub(crate) active: bool,
    pub(crate) last_login: Option<Stamp>,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
}

impl Entity for User {
    const TABLE: TableId = TableId::User;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        let last_login = match self.last_login {
            None => Value::Null,
            // A historic login: when the row was last (historically) updated.
            Some(Stamp::HISTORIC) => {
                cx.stamps(Self::TABLE, id, Stamp::HISTORIC, Stamp::HISTORIC)
                    .1
            }
            Some(stamp) => RowCx::time(stamp),
        };
        let w = &cx.words;
        row([
            int(id),
            text!("user{id}@twin.example.com"),
            w.password_hash.clone(),
            text!("{} {}", w.first_names.str(h), w.last_names.str(h >> 16)),
            int(self.role),
            opt_id(self.company),
            int(i64::from(self.active)),
            last_login,
            created,
            updated,
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}

/// `twin_org.OrganizationType`: everything follows from the id.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct OrganizationType;

impl Entity for OrganizationType {
    const TABLE: TableId = TableId::OrganizationType;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let h = cx.hash(Self::TABLE, id);
        let description = sometimes_null(h, 30, || cx.words.descriptions.text(h));
        row([
            int(id),
            cx.words.organization_types.text(u64::from(id - 1)),
            description,
        ])
    }
}

/// `twin_org.company`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Company {
    pub(crate) organization_type: u32,
    /// Index into the vocabulary's countries and time zones; `None` = no country, UTC.
    pub(crate) country: Option<u8>,
    pub(crate) created: Stamp,
    pub(crate) updated: Stamp,
    /// Soft delete.
    pub(crate) deleted: Option<Stamp>,
}

impl Entity for Company {
    const TABLE: TableId = TableId::Company;

    fn row(&self, id: u32, cx: &RowCx) -> Row {
        let w = &cx.words;
        let (created, updated) = cx.stamps(Self::TABLE, id, self.created, self.updated);
        let (country, timezone) = match self.country {
            Some(c) => (w.countries.text(c.into()), w.timezones.text(c.into())),
            None => (Value::Null, w.utc.clone()),
        };
        row([
            int(id),
            text!("{} Group {id}", w.cities.str(cx.hash(Self::TABLE, id))),
            int(self.organization_type),
            country,
            timezone,
            created,
            updated,
            self.deleted.map_or(Value::Null, RowCx::time),
        ])
    }

    fn touch(&mut self, now: Stamp) {
        self.updated = now;
    }
}
