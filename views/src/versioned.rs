//! One view's rows with their recent versions: multi-version concurrency for the served state.
//!
//! The single writer records each changed key's new row (or its deletion) as a version tagged
//! with the `as_of` it takes effect at; a reader at any `as_of` still held somewhere sees
//! exactly the rows of that `as_of`, while later versions land beside it. Nothing is copied on
//! write: a commit costs one map update per changed key, whatever the size of the view. Versions
//! no held `as_of` can see any more are dropped by [`VersionedRows::collect`].
//!
//! Keys are found through a hash map (a commit's updates are point writes) and ordered by a
//! separate set that changes only when a key comes or goes (scans and paging). Both sit behind
//! one lock, but nobody holds it for long: a commit takes it once per view, and a reader takes
//! it for at most [`SCAN_CHUNK`] keys at a time.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use smallvec::SmallVec;

use crate::datum::{Key, Row};

/// Where rows are stored: by tenant first, then by the view key, so one company's rows are a
/// contiguous range and paging order is stable.
pub type StoreKey = (i64, Key);

/// Entries a reader visits per hold of the lock.
const SCAN_CHUNK: usize = 512;

/// A key's row from `since` on (`None`: the key is absent).
struct Version {
    since: u64,
    row: Option<Row>,
}

/// A key's versions, oldest first. Most keys have one.
type Versions = SmallVec<[Version; 1]>;

/// The row `versions` hold at `as_of`, if any.
fn visible(versions: &Versions, as_of: u64) -> Option<&Row> {
    versions
        .iter()
        .rev()
        .find(|v| v.since <= as_of)
        .and_then(|v| v.row.as_ref())
}

#[derive(Default)]
struct Inner {
    versions: HashMap<StoreKey, Versions, foldhash::fast::RandomState>,
    /// The keys of `versions`, in order.
    order: BTreeSet<StoreKey>,
    /// Keys written with a version that may make older ones unreachable, by the `as_of` of that
    /// write (ascending).
    superseded: VecDeque<(u64, StoreKey)>,
}

/// One view's rows at every `as_of` a reader may still hold.
#[derive(Default)]
pub struct VersionedRows {
    inner: RwLock<Inner>,
}

impl VersionedRows {
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Records each `(key, row)` as the key's row from `as_of` on (`None`: deleted). `as_of`
    /// is never below that of an earlier call; readers at earlier `as_of`s do not see these.
    pub fn record(&self, as_of: u64, writes: impl IntoIterator<Item = (StoreKey, Option<Row>)>) {
        let mut inner = self.write();
        let Inner {
            versions: by_key,
            order,
            superseded,
        } = &mut *inner;
        for (key, row) in writes {
            let deleted = row.is_none();
            let versions = by_key.entry(key.clone()).or_insert_with(|| {
                order.insert(key.clone());
                Versions::new()
            });
            match versions.last_mut() {
                Some(last) if last.since == as_of => last.row = row,
                _ => versions.push(Version { since: as_of, row }),
            }
            if versions.len() > 1 || deleted {
                superseded.push_back((as_of, key));
            }
        }
    }

    /// Drops the versions no reader at `horizon` or later can see: every version older than the
    /// one visible at `horizon`, and keys deleted by then. No reader may hold an `as_of` below
    /// `horizon` afterwards.
    pub fn collect(&self, horizon: u64) {
        let ready = |inner: &Inner| {
            inner
                .superseded
                .front()
                .is_some_and(|(as_of, _)| *as_of <= horizon)
        };
        if !ready(&self.read()) {
            return;
        }
        let mut inner = self.write();
        while ready(&inner) {
            let Some((_, key)) = inner.superseded.pop_front() else {
                break;
            };
            let Some(versions) = inner.versions.get_mut(&key) else {
                continue;
            };
            let seen = versions.iter().rposition(|v| v.since <= horizon);
            if let Some(seen) = seen {
                versions.drain(..seen);
            }
            if versions.len() == 1 && versions[0].row.is_none() && versions[0].since <= horizon {
                inner.versions.remove(&key);
                inner.order.remove(&key);
            }
        }
    }

    /// Keys held, including deleted ones and those only visible at some `as_of`s.
    #[cfg(test)]
    pub fn keys_held(&self) -> usize {
        self.read().versions.len()
    }

    /// The rows at `as_of` with keys in `range` for which `keep` holds, in key order. `as_of`
    /// must stay held (not collected) while the scan runs.
    pub fn scan<'a, F>(
        &'a self,
        as_of: u64,
        range: (Bound<StoreKey>, Bound<StoreKey>),
        keep: F,
    ) -> Scan<'a, F>
    where
        F: Fn(&Row) -> bool,
    {
        Scan {
            rows: self,
            as_of,
            from: range.0,
            upper: range.1,
            keep,
            chunk: Vec::new().into_iter(),
            exhausted: false,
        }
    }
}

/// Iterator of [`VersionedRows::scan`]: reads the map a chunk at a time, so that the writer
/// never waits for a slow reader.
pub struct Scan<'a, F> {
    rows: &'a VersionedRows,
    as_of: u64,
    from: Bound<StoreKey>,
    upper: Bound<StoreKey>,
    keep: F,
    chunk: std::vec::IntoIter<(StoreKey, Row)>,
    exhausted: bool,
}

impl<F: Fn(&Row) -> bool> Scan<'_, F> {
    /// Reads the next chunk; false when the range is exhausted.
    fn refill(&mut self) -> bool {
        let inner = self.rows.read();
        let mut chunk = Vec::new();
        let mut visited = 0;
        let mut last = None;
        for key in inner.order.range((self.from.clone(), self.upper.clone())) {
            if visited == SCAN_CHUNK {
                break;
            }
            visited += 1;
            last = Some(key);
            let row = inner.versions.get(key).and_then(|v| visible(v, self.as_of));
            if let Some(row) = row.filter(|row| (self.keep)(row)) {
                chunk.push((key.clone(), row.clone()));
            }
        }
        self.exhausted = visited < SCAN_CHUNK;
        if let Some(last) = last {
            self.from = Bound::Excluded(last.clone());
        }
        drop(inner);
        self.chunk = chunk.into_iter();
        self.chunk.len() > 0 || !self.exhausted
    }
}

impl<F: Fn(&Row) -> bool> Iterator for Scan<'_, F> {
    type Item = (StoreKey, Row);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.chunk.next() {
                return Some(item);
            }
            if self.exhausted || !self.refill() {
                return None;
            }
        }
    }
}
