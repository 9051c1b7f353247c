//! The source databases' current contents, and how changes apply to them.

use std::collections::{BTreeMap, HashMap};

use twinflow_ingest::validate::check_change;
use twinflow_ingest::{Row, RowChange, TableId, Transaction, Value};

/// The source databases' current contents: per table, rows by primary key.
///
/// Every table of the contract has a single-column integer primary key `id` (the first column
/// of each row image), so a table is a map from id to row.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    tables: HashMap<TableId, BTreeMap<i64, Row>>,
}

impl Tables {
    /// Empty databases.
    pub fn new() -> Self {
        Tables::default()
    }

    /// Applies one change with the engine's documented semantics for imperfect sources
    /// ("upsert by primary key"):
    ///  - insert (before `None`, after `Some`): the row with after's id becomes `after` (it
    ///    replaces an existing one: a faulty source may insert the same key twice);
    ///  - delete (before `Some`, after `None`): the row with before's id is removed if present
    ///    (deleting a row that never existed is a no-op);
    ///  - update: if before's id differs from after's id, before's id is removed; then the row
    ///    with after's id becomes `after`, whatever the stored row was.
    ///
    /// A change that fails [`twinflow_ingest::validate::check_change`] (wrong arity or types, no
    /// key) is what the engine dead-letters: it changes nothing here either.
    pub fn apply(&mut self, change: &RowChange) {
        if check_change(change).is_err() {
            return;
        }
        let table = self.tables.entry(change.table).or_default();
        match (&change.before, &change.after) {
            (None, None) => {}
            (Some(before), None) => {
                table.remove(&key_of(change.table, before));
            }
            (before, Some(after)) => {
                let id = key_of(change.table, after);
                if let Some(before) = before {
                    let old = key_of(change.table, before);
                    if old != id {
                        table.remove(&old);
                    }
                }
                table.insert(id, after.clone());
            }
        }
    }

    /// Applies every change of `txn`, in order.
    pub fn apply_transaction(&mut self, txn: &Transaction) {
        for change in &txn.changes {
            self.apply(change);
        }
    }

    /// Removes every row of `table` (what removing the source that feeds it does).
    pub fn clear(&mut self, table: TableId) {
        self.tables.remove(&table);
    }

    /// The row of `table` whose primary key is `id`.
    pub fn get(&self, table: TableId, id: i64) -> Option<&Row> {
        self.tables.get(&table).and_then(|t| t.get(&id))
    }

    /// The rows of `table`, in primary-key order.
    pub fn rows(&self, table: TableId) -> impl Iterator<Item = &Row> {
        self.tables.get(&table).into_iter().flat_map(|t| t.values())
    }

    /// The primary keys of `table`, in order.
    pub fn ids(&self, table: TableId) -> impl Iterator<Item = i64> + '_ {
        self.tables
            .get(&table)
            .into_iter()
            .flat_map(|t| t.keys().copied())
    }

    /// How many rows `table` has.
    pub fn len(&self, table: TableId) -> usize {
        self.tables.get(&table).map_or(0, BTreeMap::len)
    }

    /// Whether every table is empty.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }
}

/// Equal when every table holds the same rows under the same keys.
impl PartialEq for Tables {
    fn eq(&self, other: &Self) -> bool {
        TableId::ALL.iter().all(|&t| {
            let mine = self.tables.get(&t).filter(|m| !m.is_empty());
            let theirs = other.tables.get(&t).filter(|m| !m.is_empty());
            mine == theirs
        })
    }
}

impl Eq for Tables {}

/// The primary key of a row image (its first column).
fn key_of(table: TableId, row: &Row) -> i64 {
    match row.first() {
        Some(Value::Int(id)) => *id,
        other => panic!("oracle: {table}: row without an integer primary key: {other:?}"),
    }
}
