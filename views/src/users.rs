//! The users tokens are checked against: the standing (company, active) of every
//! `twin_auth.user` row the engine follows, changed in the same commit as the views, so that a
//! deactivated or moved user's tokens stop working at the timestamp that applies it. Nothing
//! else of a user row is kept.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

/// A `twin_auth.user` row as tokens are checked against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserStanding {
    /// The user's id (a token's `sub`).
    pub id: i64,
    /// The user's company; `None` for platform staff.
    pub company_id: Option<i64>,
    /// `is_active`.
    pub active: bool,
}

/// Whether a token naming a user may be honoured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserCheck {
    /// The engine has no row of that user (it does not follow `twin_auth.user`, or the row
    /// was never seen): the token is honoured on its own.
    Unknown,
    /// The row is active and of the token's company.
    Allowed,
    /// The row is inactive, of another company, or was deleted.
    Revoked,
}

/// The users, shared by the writer (at each commit) and the API (at each request).
pub(crate) struct Users {
    directory: RwLock<Directory>,
    /// The users whose tokens stopped working in a commit.
    revoked: broadcast::Sender<Arc<[i64]>>,
}

#[derive(Default)]
struct Directory {
    rows: HashMap<i64, UserStanding>,
    /// Users whose row was deleted: their tokens are refused too.
    deleted: HashSet<i64>,
}

impl Users {
    pub(crate) fn new() -> Users {
        Users {
            directory: RwLock::default(),
            revoked: broadcast::channel(64).0,
        }
    }

    /// Whether a token naming `user` with company `company` (`None`: platform staff) may be
    /// honoured now.
    pub(crate) fn check(&self, user: i64, company: Option<i64>) -> UserCheck {
        let directory = self.directory.read().unwrap_or_else(|e| e.into_inner());
        match directory.rows.get(&user) {
            Some(row) if row.active && row.company_id == company => UserCheck::Allowed,
            Some(_) => UserCheck::Revoked,
            None if directory.deleted.contains(&user) => UserCheck::Revoked,
            None => UserCheck::Unknown,
        }
    }

    /// Receives the users whose tokens stop working, commit by commit.
    pub(crate) fn revocations(&self) -> broadcast::Receiver<Arc<[i64]>> {
        self.revoked.subscribe()
    }

    /// Applies one commit's changes of user rows (retractions with difference -1, new rows
    /// with +1, of one or several timestamps in any order) and tells subscribers which users
    /// lost their standing.
    pub(crate) fn apply(&self, changes: Vec<(UserStanding, isize)>) {
        if changes.is_empty() {
            return;
        }
        // The net change of each row: a user's row at the end of the commit is the one left
        // with +1; a user left with only -1 was deleted.
        let mut net: HashMap<(i64, Option<i64>, bool), isize> = HashMap::new();
        for (row, diff) in changes {
            *net.entry((row.id, row.company_id, row.active)).or_default() += diff;
        }
        let mut after: HashMap<i64, Option<UserStanding>> = HashMap::new();
        for ((id, company_id, active), diff) in net {
            if diff > 0 {
                let row = UserStanding {
                    id,
                    company_id,
                    active,
                };
                after.insert(id, Some(row));
            } else if diff < 0 {
                after.entry(id).or_insert(None);
            }
        }
        let mut revoked = Vec::new();
        {
            let mut directory = self.directory.write().unwrap_or_else(|e| e.into_inner());
            for (id, new) in after {
                let old = directory.rows.get(&id).copied();
                let lost = old.is_some_and(|old| {
                    old.active
                        && new.is_none_or(|new| !new.active || new.company_id != old.company_id)
                });
                if lost {
                    revoked.push(id);
                }
                match new {
                    Some(row) => {
                        directory.deleted.remove(&id);
                        directory.rows.insert(id, row);
                    }
                    None => {
                        directory.rows.remove(&id);
                        directory.deleted.insert(id);
                    }
                }
            }
        }
        if !revoked.is_empty() {
            revoked.sort_unstable();
            // No receivers is not an error: nobody is subscribed.
            let _ = self.revoked.send(Arc::from(revoked));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, company_id: Option<i64>, active: bool) -> UserStanding {
        UserStanding {
            id,
            company_id,
            active,
        }
    }

    #[test]
    fn a_user_is_honoured_while_active_in_its_company() {
        let users = Users::new();
        let mut revocations = users.revocations();
        assert_eq!(users.check(7, Some(1)), UserCheck::Unknown);
        users.apply(vec![(user(7, Some(1), true), 1), (user(8, None, true), 1)]);
        assert_eq!(users.check(7, Some(1)), UserCheck::Allowed);
        assert_eq!(
            users.check(7, Some(2)),
            UserCheck::Revoked,
            "another company"
        );
        assert_eq!(users.check(8, None), UserCheck::Allowed, "platform staff");
        assert!(revocations.try_recv().is_err(), "nobody lost anything");

        // Deactivated: revoked, and said so.
        users.apply(vec![
            (user(7, Some(1), true), -1),
            (user(7, Some(1), false), 1),
        ]);
        assert_eq!(users.check(7, Some(1)), UserCheck::Revoked);
        assert_eq!(&*revocations.try_recv().expect("a revocation"), &[7]);
        // Reactivated in another company: honoured there only.
        users.apply(vec![
            (user(7, Some(1), false), -1),
            (user(7, Some(2), true), 1),
        ]);
        assert_eq!(users.check(7, Some(2)), UserCheck::Allowed);
        // Moved again, then deleted: revoked both times.
        users.apply(vec![
            (user(7, Some(2), true), -1),
            (user(7, Some(3), true), 1),
        ]);
        assert_eq!(&*revocations.try_recv().expect("moved"), &[7]);
        users.apply(vec![(user(7, Some(3), true), -1)]);
        assert_eq!(users.check(7, Some(3)), UserCheck::Revoked, "deleted");
        assert_eq!(&*revocations.try_recv().expect("deleted"), &[7]);
    }
}
