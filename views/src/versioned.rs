//! One view's rows with their recent versions: multi-version concurrency for the served state.
//!
//! The single writer records each changed key's new row (or its deletion) as a version tagged
//! with the `as_of` it takes effect at; a reader at any `as_of` still held somewhere sees
//! exactly the rows of that `as_of`, while later versions land beside it. Nothing is copied on
//! write: a commit costs one map update per changed key, whatever the size of the view. The
//! versions a commit replaces are kept together, in key order, in one list per commit, where
//! readers at earlier `as_of`s find them by binary search, until no held `as_of` can see them
//! any more and [`VersionedRows::collect`] drops the whole list. Almost always the only reader
//! below a commit is the snapshot it replaces, let go right after it, so a replaced version
//! costs an append and a sequential drop rather than an insert into and a removal from a
//! map of its own.
//!
//! Keys are found through a hash map (a commit's updates are point writes) and ordered by a
//! separate set that changes only when a key comes or goes (scans and paging). Both sit behind
//! one lock, but nobody holds it for long: a commit takes it once per view, and a reader takes
//! it for at most [`SCAN_CHUNK`] keys at a time.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

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

/// The versions one commit replaced and the keys it deleted.
struct Replaced {
    /// The commit's `as_of`: each of `versions` was the key's row until then.
    until: u64,
    /// The replaced versions, each key at most once, in [`by_view_key`] order.
    versions: Vec<(StoreKey, Version)>,
    /// Keys the commit deleted: once no reader is below `until`, they leave the map and the
    /// order (unless written again since).
    deleted: Vec<StoreKey>,
}

/// The order of [`Replaced::versions`]: by view key, then tenant. A commit's writes come in
/// view-key order, so the list is in order as it is built, unless a key that changed tenant
/// wrote its two places in descending tenant order (then [`VersionedRows::record`] sorts it).
fn by_view_key(a: &StoreKey, b: &StoreKey) -> Ordering {
    a.1.cmp(&b.1).then(a.0.cmp(&b.0))
}

type Map<V> = HashMap<StoreKey, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct Inner {
    /// Every key's latest version (also a deletion, until it is collected).
    latest: Map<Version>,
    /// The keys of `latest`, in order.
    order: BTreeSet<StoreKey>,
    /// What each commit replaced, oldest first, while a reader may still see it.
    replaced: VecDeque<Replaced>,
}

impl Inner {
    /// The row of `key` at `as_of`, if it had one.
    fn row_at(&self, key: &StoreKey, as_of: u64) -> Option<&Row> {
        let latest = self.latest.get(key)?;
        if latest.since <= as_of {
            return latest.row.as_ref();
        }
        // The key's row at `as_of` is the version the first commit after it replaced; if that
        // version began after `as_of` too, the key had no row then.
        let after = self.replaced.partition_point(|r| r.until <= as_of);
        self.replaced.range(after..).find_map(|commit| {
            let at = commit
                .versions
                .binary_search_by(|(k, _)| by_view_key(k, key))
                .ok()?;
            let version = &commit.versions[at].1;
            Some(if version.since <= as_of {
                version.row.as_ref()
            } else {
                None
            })
        })?
    }
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
            latest,
            order,
            replaced,
        } = &mut *inner;
        let mut versions = Vec::new();
        let mut deleted = Vec::new();
        for (key, row) in writes {
            let deletes = row.is_none();
            match latest.entry(key) {
                Entry::Vacant(entry) => {
                    if deletes {
                        continue; // absent before, absent now
                    }
                    order.insert(entry.key().clone());
                    entry.insert(Version { since: as_of, row });
                }
                Entry::Occupied(mut entry) => {
                    let version = entry.get_mut();
                    if version.since == as_of {
                        version.row = row;
                    } else {
                        let old = std::mem::replace(version, Version { since: as_of, row });
                        versions.push((entry.key().clone(), old));
                    }
                    if deletes {
                        deleted.push(entry.key().clone());
                    }
                }
            }
        }
        if versions.is_empty() && deleted.is_empty() {
            return;
        }
        if !versions.is_sorted_by(|(a, _), (b, _)| by_view_key(a, b).is_le()) {
            versions.sort_by(|(a, _), (b, _)| by_view_key(a, b));
        }
        replaced.push_back(Replaced {
            until: as_of,
            versions,
            deleted,
        });
    }

    /// Drops the versions no reader at `horizon` or later can see: every version replaced by
    /// then, and keys deleted by then. No reader may hold an `as_of` below `horizon` afterwards.
    pub fn collect(&self, horizon: u64) {
        let ready = |inner: &Inner| inner.replaced.front().is_some_and(|r| r.until <= horizon);
        if !ready(&self.read()) {
            return;
        }
        let mut unseen = Vec::new();
        let mut inner = self.write();
        while ready(&inner) {
            let Some(Replaced {
                versions, deleted, ..
            }) = inner.replaced.pop_front()
            else {
                break;
            };
            unseen.push(versions);
            let unseen_deletion = |v: &Version| v.row.is_none() && v.since <= horizon;
            for key in deleted {
                if inner.latest.get(&key).is_some_and(unseen_deletion) {
                    inner.latest.remove(&key);
                    inner.order.remove(&key);
                }
            }
        }
        drop(inner);
        for versions in unseen {
            drop_rows(versions);
        }
    }

    /// Versions held: each key's latest (deletions included) and the replaced ones kept.
    #[cfg(test)]
    pub fn versions_held(&self) -> usize {
        let inner = self.read();
        inner.latest.len()
            + inner
                .replaced
                .iter()
                .map(|r| r.versions.len())
                .sum::<usize>()
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
            let row = inner.row_at(key, self.as_of);
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

/// How many rows ahead of the one being dropped [`drop_rows`] prefetches.
const PREFETCH_AHEAD: usize = 8;

/// Drops replaced `versions`, outside any lock. Their rows were written long ago and their
/// reference counts are no longer in cache; each decrement is a locked instruction, which waits
/// for its cache miss before the next can start. Prefetching the counts a few versions ahead
/// lets those misses overlap instead.
fn drop_rows(mut versions: Vec<(StoreKey, Version)>) {
    fn row(versions: &[(StoreKey, Version)], at: usize) -> Option<&Row> {
        versions.get(at)?.1.row.as_ref()
    }
    // From the end, so that each version leaves the vector as it is dropped.
    let len = versions.len();
    for at in len.saturating_sub(PREFETCH_AHEAD)..len {
        if let Some(ahead) = row(&versions, at) {
            prefetch(ahead);
        }
    }
    while let Some(version) = versions.pop() {
        if let Some(ahead) = versions
            .len()
            .checked_sub(PREFETCH_AHEAD)
            .and_then(|at| row(&versions, at))
        {
            prefetch(ahead);
        }
        drop(version);
    }
}

/// Asks the CPU to bring the cache line of `row`'s reference count into cache.
fn prefetch(row: &Row) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // The reference counts sit in the 16 bytes before the row's data. Were that layout
        // ever to change, the hint would only miss.
        let near_counts = row.as_ptr().cast::<i8>().wrapping_sub(16);
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch never faults, whatever
        // the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(near_counts) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}
