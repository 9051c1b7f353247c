//! The served state: consistent snapshots of every view, change logs and subscriptions.
//!
//! One [`StateWriter`] (owned by the engine's output thread) commits each completed timestamp;
//! any number of readers hold a cheap [`ServedState`] handle. A commit records each changed
//! key's new row as a version at its `as_of` ([`VersionedRows`]), appends per-view
//! [`ViewDelta`]s to bounded change logs and broadcasts them, then swaps in the next
//! [`Snapshot`] atomically. A snapshot is an `as_of` over those versioned rows: readers load
//! it without locks and see every view at that `as_of`, however long they hold it. Versions
//! no held snapshot can see are collected at each commit.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::catalog::{ViewCatalog, ViewId, ViewSchema};
use crate::datum::{Key, Row};
use crate::filter::Filter;
use crate::users::{UserCheck, UserStanding, Users};
use crate::versioned::{StoreKey, VersionedRows};

/// Limits of what the served state retains.
#[derive(Clone, Debug)]
pub struct StateConfig {
    /// Snapshots kept for paging at a fixed `as_of`: those a handed-out `next` cursor points
    /// into (at most this many; the least recently used goes first). Other snapshots are not
    /// retained: under a heavy change stream each one would keep alive the replaced version of
    /// every key the following commits changed.
    pub history_snapshots: usize,
    /// ... each dropped once no page has been read from it for this long,
    pub history_max_age: Duration,
    /// ... and once it is this old, however often it is read: a client re-reading a cursor
    /// must not keep every row replaced since alive for ever.
    pub history_max_lifetime: Duration,
    /// Row changes retained per view for resuming subscribers.
    pub log_row_changes: usize,
    /// Deltas buffered per subscriber before it is considered too slow.
    pub subscriber_queue: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            history_snapshots: 8,
            history_max_age: Duration::from_secs(10),
            history_max_lifetime: Duration::from_secs(60),
            log_row_changes: 10_000,
            subscriber_queue: 1024,
        }
    }
}

/// How far one source has been applied.
#[derive(Clone, Debug, Serialize)]
pub struct SourceProgress {
    /// The source's name.
    pub source: String,
    /// Its position after the last applied transaction (source-specific form).
    pub position: serde_json::Value,
    /// Commit time at the source of the last applied transaction (ms since the epoch).
    pub last_commit_ms: u64,
    /// When that transaction became visible here (ms since the epoch).
    pub applied_ms: u64,
}

impl SourceProgress {
    /// How far the source's last applied transaction lies behind `now_ms` (0 if in the future).
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_commit_ms)
    }
}

/// The change of one key in one timestamp.
#[derive(Clone, Debug)]
pub struct KeyChange {
    /// The view key.
    pub key: Key,
    /// The row before, if the key existed.
    pub old: Option<Row>,
    /// The row after, if the key exists now.
    pub new: Option<Row>,
}

/// A view row's change in one timestamp, as the engine hands it over: the row of one key
/// before and after (they differ; `None`: the key has no row).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowUpdate {
    /// The key's row before the timestamp.
    pub old: Option<Row>,
    /// The key's row after it.
    pub new: Option<Row>,
}

/// Everything that changed in one view at one `as_of`.
#[derive(Debug)]
pub struct ViewDelta {
    /// The timestamp the change belongs to.
    pub as_of: u64,
    /// The changed keys.
    pub changes: Vec<KeyChange>,
}

/// One completed timestamp, as the engine hands it over.
#[derive(Debug, Default)]
pub struct Commit {
    /// The timestamp the state now reflects.
    pub as_of: u64,
    /// The changed rows of every timestamp up to `as_of` not yet committed, each key's in
    /// time order.
    pub updates: Vec<(ViewId, RowUpdate)>,
    /// Source positions reached at `as_of` (sources absent keep their previous entry).
    pub sources: Vec<SourceProgress>,
    /// Sources removed by `as_of` (and not back in `sources`): their entries go.
    pub removed_sources: Vec<String>,
    /// The commit is a new baseline (a checkpoint restored after a restart), not a change of
    /// the previous state: subscribers resuming from before it get a reset snapshot.
    pub baseline: bool,
    /// Changes of the `twin_auth.user` rows tokens are checked against: a row retracted
    /// (-1) or added (+1).
    pub users: Vec<(UserStanding, isize)>,
}

/// What a snapshot knows of one view besides its rows.
#[derive(Clone, Copy, Default)]
struct ViewStats {
    rows: usize,
    changed_at: u64,
}

/// The `as_of`s of the snapshots alive, with how many of each: no version they can see may be
/// collected.
#[derive(Default)]
struct LiveSnapshots(Mutex<BTreeMap<u64, usize>>);

impl LiveSnapshots {
    fn hold(&self, as_of: u64) {
        *lock(&self.0).entry(as_of).or_default() += 1;
    }

    fn release(&self, as_of: u64) {
        let mut live = lock(&self.0);
        if let Some(count) = live.get_mut(&as_of) {
            *count -= 1;
            if *count == 0 {
                live.remove(&as_of);
            }
        }
    }

    /// The oldest `as_of` a snapshot alive reflects.
    fn oldest(&self) -> Option<u64> {
        lock(&self.0).keys().next().copied()
    }
}

/// The rows of every view, at every `as_of` still held.
struct Tables {
    /// Every view's schema.
    catalog: Arc<ViewCatalog>,
    views: Vec<VersionedRows>,
    live: LiveSnapshots,
}

/// Every view at one `as_of`.
pub struct Snapshot {
    /// The timestamp this snapshot reflects.
    pub as_of: u64,
    /// Wall-clock time of the commit (ms since the epoch).
    pub committed_ms: u64,
    /// When it was committed, for its retention.
    committed: Instant,
    tables: Arc<Tables>,
    stats: Vec<ViewStats>,
    sources: Arc<[SourceProgress]>,
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.tables.live.release(self.as_of);
    }
}

/// A position in a view at a fixed `as_of`, for reading it page by page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageCursor {
    /// The snapshot being paged through.
    pub as_of: u64,
    company: i64,
    key: Key,
}

impl PageCursor {
    /// The company of the row the next page starts at.
    pub fn company(&self) -> i64 {
        self.company
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.as_of, self.company)?;
        for part in &self.key.0 {
            write!(f, ".{part}")?;
        }
        Ok(())
    }
}

impl FromStr for PageCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("malformed cursor `{s}`");
        let mut parts = s.split('.');
        let as_of = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let company = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let key: Result<Vec<i64>, _> = parts.map(str::parse).collect();
        let key = key.map_err(|_| bad())?;
        if key.is_empty() || key.len() > 2 {
            return Err(bad());
        }
        Ok(PageCursor {
            as_of,
            company,
            key: Key::new(&key),
        })
    }
}

/// One page of a view.
pub struct Page {
    /// The rows, in (company_id, key) order.
    pub rows: Vec<Row>,
    /// Where the next page starts, when there is more.
    pub next: Option<PageCursor>,
}

impl Snapshot {
    /// The schema of `view`'s rows.
    pub fn schema(&self, view: ViewId) -> &ViewSchema {
        self.tables.catalog.schema(view)
    }

    /// The snapshot of `tables` at `as_of`; it keeps that `as_of`'s versions alive.
    fn new(
        tables: Arc<Tables>,
        as_of: u64,
        stats: Vec<ViewStats>,
        sources: Arc<[SourceProgress]>,
    ) -> Self {
        tables.live.hold(as_of);
        Snapshot {
            as_of,
            committed_ms: now_ms(),
            committed: Instant::now(),
            tables,
            stats,
            sources,
        }
    }

    /// Rows in `view`.
    pub fn len(&self, view: ViewId) -> usize {
        self.stats[view.index()].rows
    }

    /// Rows of `company` in `view` (counted: a range scan of the company's rows).
    pub fn company_len(&self, view: ViewId, company: i64) -> usize {
        self.scan(view, &Filter::of_company(company), None).count()
    }

    /// Whether `view` is empty.
    pub fn is_empty(&self, view: ViewId) -> bool {
        self.len(view) == 0
    }

    /// The `as_of` of the last change to `view`.
    pub fn changed_at(&self, view: ViewId) -> u64 {
        self.stats[view.index()].changed_at
    }

    /// Source positions this snapshot reflects.
    pub fn sources(&self) -> &[SourceProgress] {
        &self.sources
    }

    /// The rows of `view` matching `filter`, in (company_id, key) order, starting after
    /// `cursor` (whose `as_of` must be this snapshot's), at most `limit` of them.
    pub fn page(
        &self,
        view: ViewId,
        filter: &Filter,
        cursor: Option<&PageCursor>,
        limit: usize,
    ) -> Page {
        let mut rows = Vec::with_capacity(limit.min(4096));
        let mut last = None;
        let mut more = false;
        for (store_key, row) in self.scan(view, filter, cursor) {
            if rows.len() == limit {
                more = true;
                break;
            }
            rows.push(row);
            last = Some(store_key);
        }
        let next = match (more, last) {
            (true, Some((company, key))) => Some(PageCursor {
                as_of: self.as_of,
                company,
                key,
            }),
            _ => None,
        };
        Page { rows, next }
    }

    /// All rows of `view` matching `filter`, in (company_id, key) order, after `cursor`.
    pub fn scan<'a>(
        &'a self,
        view: ViewId,
        filter: &'a Filter,
        cursor: Option<&PageCursor>,
    ) -> impl Iterator<Item = (StoreKey, Row)> + 'a {
        let lower = match cursor {
            Some(c) => Bound::Excluded((c.company, c.key.clone())),
            None => match filter.company() {
                Some(company) => Bound::Included((company, Key::new(&[]))),
                None => Bound::Unbounded,
            },
        };
        let upper = match filter.company() {
            Some(company) => Bound::Excluded((company.saturating_add(1), Key::new(&[]))),
            None => Bound::Unbounded,
        };
        self.tables.views[view.index()].scan(self.as_of, (lower, upper), |row| filter.matches(row))
    }
}

/// Why a subscriber could not resume from the `as_of` it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetReason {
    /// The changes after that `as_of` are no longer retained.
    NotRetained,
    /// That `as_of` is later than anything this engine has published.
    Unknown,
    /// The subscriber fell too far behind.
    TooSlow,
}

/// What a new subscriber starts from.
pub struct Subscription {
    /// The snapshot the subscription starts at.
    pub snapshot: Arc<Snapshot>,
    /// With a resume request: the deltas after it up to `snapshot.as_of`, or why that is impossible.
    pub resume: Option<Result<Vec<Arc<ViewDelta>>, ResetReason>>,
    /// Later deltas of the view (skip those with `as_of <= snapshot.as_of`).
    pub receiver: broadcast::Receiver<Arc<ViewDelta>>,
}

struct ChangeLog {
    deltas: VecDeque<Arc<ViewDelta>>,
    row_changes: usize,
    /// Every delta with `as_of` greater than this is in `deltas`.
    covers_after: u64,
}

struct Shared {
    config: StateConfig,
    catalog: Arc<ViewCatalog>,
    current: ArcSwap<Snapshot>,
    history: Mutex<VecDeque<(Instant, Arc<Snapshot>)>>,
    logs: Vec<Mutex<ChangeLog>>,
    senders: Vec<broadcast::Sender<Arc<ViewDelta>>>,
    /// Every delta up to this `as_of` has been broadcast: the published `as_of`.
    published: watch::Sender<u64>,
    /// The users tokens are checked against.
    users: Users,
}

/// A reader's handle on the served state. Cheap to clone.
#[derive(Clone)]
pub struct ServedState {
    shared: Arc<Shared>,
}

/// The single writer of the served state.
pub struct StateWriter {
    shared: Arc<Shared>,
    tables: Arc<Tables>,
    stats: Vec<ViewStats>,
    sources: BTreeMap<String, SourceProgress>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wall-clock milliseconds since the Unix epoch, as `committed_ms` and source commit times use.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ServedState {
    /// An empty state (`as_of` 0, every view empty) and its writer.
    pub fn new(config: StateConfig, catalog: Arc<ViewCatalog>) -> (ServedState, StateWriter) {
        let senders = ViewId::ALL
            .iter()
            .map(|_| broadcast::channel(config.subscriber_queue.max(1)).0)
            .collect();
        let logs = ViewId::ALL
            .iter()
            .map(|_| {
                Mutex::new(ChangeLog {
                    deltas: VecDeque::new(),
                    row_changes: 0,
                    covers_after: 0,
                })
            })
            .collect();
        let tables = Arc::new(Tables {
            catalog: catalog.clone(),
            views: ViewId::ALL
                .iter()
                .map(|_| VersionedRows::default())
                .collect(),
            live: LiveSnapshots::default(),
        });
        let stats = vec![ViewStats::default(); ViewId::ALL.len()];
        let empty = Snapshot::new(tables.clone(), 0, stats.clone(), Arc::from(Vec::new()));
        let shared = Arc::new(Shared {
            config,
            catalog,
            current: ArcSwap::from_pointee(empty),
            history: Mutex::new(VecDeque::new()),
            logs,
            senders,
            published: watch::Sender::new(0),
            users: Users::new(),
        });
        let writer = StateWriter {
            shared: shared.clone(),
            tables,
            stats,
            sources: BTreeMap::new(),
        };
        (ServedState { shared }, writer)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.current.load_full()
    }

    /// The snapshot at exactly `as_of`, while it is current or pinned (see
    /// [`pin`](Self::pin)); finding a pinned one counts as a use.
    pub fn snapshot_at(&self, as_of: u64) -> Option<Arc<Snapshot>> {
        let current = self.snapshot();
        if current.as_of == as_of {
            return Some(current);
        }
        let mut history = lock(&self.shared.history);
        expire(&mut history, &self.shared.config);
        let found = history.iter().position(|(_, s)| s.as_of == as_of)?;
        let (_, snapshot) = history.remove(found)?;
        history.push_back((Instant::now(), snapshot.clone()));
        Some(snapshot)
    }

    /// Keeps `snapshot` readable through [`snapshot_at`](Self::snapshot_at) after later
    /// commits, for a reader paging through it; see [`StateConfig::history_snapshots`].
    pub fn pin(&self, snapshot: &Arc<Snapshot>) {
        let config = &self.shared.config;
        let mut history = lock(&self.shared.history);
        history.retain(|(_, s)| s.as_of != snapshot.as_of);
        history.push_back((Instant::now(), snapshot.clone()));
        while history.len() > config.history_snapshots.max(1) {
            history.pop_front();
        }
        expire(&mut history, config);
    }

    /// Starts a subscription to `view`, resuming after `after` when given.
    pub fn subscribe(&self, view: ViewId, after: Option<u64>) -> Subscription {
        // Subscribe before loading the snapshot: no delta can fall between the two.
        let receiver = self.shared.senders[view.index()].subscribe();
        let snapshot = self.snapshot();
        let resume = after.map(|after| {
            if after > snapshot.as_of {
                return Err(ResetReason::Unknown);
            }
            let log = lock(&self.shared.logs[view.index()]);
            if after < log.covers_after {
                return Err(ResetReason::NotRetained);
            }
            Ok(log
                .deltas
                .iter()
                .filter(|d| d.as_of > after && d.as_of <= snapshot.as_of)
                .cloned()
                .collect())
        });
        Subscription {
            snapshot,
            resume,
            receiver,
        }
    }

    /// The `as_of` up to which every delta has been broadcast to subscribers. It trails
    /// [`ServedState::snapshot`]'s `as_of` by at most one commit in progress: a progress message
    /// carrying it never runs ahead of the changes a subscriber has been sent.
    pub fn broadcast_as_of(&self) -> u64 {
        *self.shared.published.borrow()
    }

    /// A receiver of the broadcast `as_of` ([`ServedState::broadcast_as_of`]), notified at
    /// every commit: what waits for the engine to publish.
    pub fn published(&self) -> watch::Receiver<u64> {
        self.shared.published.subscribe()
    }

    /// Completes once `as_of` (or a later timestamp) is published and broadcast.
    pub async fn published_at(&self, as_of: u64) {
        // The sender lives as long as `self`, so the wait ends only when the value is there.
        let _ = self
            .published()
            .wait_for(|&published| published >= as_of)
            .await;
    }

    /// Subscribers currently connected to `view`.
    pub fn subscribers(&self, view: ViewId) -> usize {
        self.shared.senders[view.index()].receiver_count()
    }

    /// The limits this state was built with.
    pub fn config(&self) -> &StateConfig {
        &self.shared.config
    }

    /// Every view's schema.
    pub fn catalog(&self) -> &ViewCatalog {
        &self.shared.catalog
    }

    /// Whether a token naming `user` of `company` (`None`: platform staff) may be honoured, as
    /// of the latest commit.
    pub fn check_user(&self, user: i64, company: Option<i64>) -> UserCheck {
        self.shared.users.check(user, company)
    }

    /// The users whose tokens stop working, commit by commit: what closes their
    /// subscriptions.
    pub fn user_revocations(&self) -> broadcast::Receiver<Arc<[i64]>> {
        self.shared.users.revocations()
    }
}

impl StateWriter {
    /// Applies one completed timestamp and publishes the resulting snapshot; returns when it
    /// became visible to readers and subscribers (what it made unreachable is freed after
    /// that).
    pub fn commit(&mut self, commit: Commit) -> Instant {
        let Commit {
            as_of,
            updates,
            sources,
            removed_sources,
            baseline,
            users,
        } = commit;
        let deltas = apply_updates(
            &self.tables.catalog,
            &self.tables.views,
            &mut self.stats,
            as_of,
            updates,
        );
        for source in &removed_sources {
            self.sources.remove(source);
        }
        for progress in sources {
            self.sources.insert(progress.source.clone(), progress);
        }
        let mut published = Vec::new();
        let mut retired = Vec::new();
        for (view, changes) in ViewId::ALL.into_iter().zip(deltas) {
            if changes.is_empty() {
                continue;
            }
            self.stats[view.index()].changed_at = as_of;
            let delta = Arc::new(ViewDelta { as_of, changes });
            if baseline {
                self.restart_log(view, as_of);
            } else {
                self.append_to_log(view, delta.clone(), &mut retired);
            }
            published.push((view, delta));
        }
        let snapshot = Arc::new(Snapshot::new(
            self.tables.clone(),
            as_of,
            self.stats.clone(),
            self.sources.values().cloned().collect(),
        ));
        expire(&mut lock(&self.shared.history), &self.shared.config);
        // Before the snapshot: no request sees this as_of with a revoked user's standing.
        self.shared.users.apply(users);
        self.shared.current.store(snapshot);
        for (view, delta) in published {
            // No receivers is not an error: nobody is subscribed to this view.
            let _ = self.shared.senders[view.index()].send(delta);
        }
        self.shared.published.send_replace(as_of);
        let visible = Instant::now();
        // Once readers and subscribers have it: the deltas the logs let go of are freed (their
        // old rows are cold memory), and the versions no live snapshot can see go (the current
        // snapshot is alive, so there is an oldest one).
        drop(retired);
        let horizon = self.tables.live.oldest().unwrap_or(as_of);
        for rows in &self.tables.views {
            rows.collect(horizon);
        }
        visible
    }

    /// Empties `view`'s change log: it covers only what comes after `as_of`.
    fn restart_log(&self, view: ViewId, as_of: u64) {
        let mut log = lock(&self.shared.logs[view.index()]);
        log.deltas.clear();
        log.row_changes = 0;
        log.covers_after = as_of;
    }

    /// Appends `delta` to `view`'s change log; the deltas that no longer fit go to `retired`.
    fn append_to_log(
        &self,
        view: ViewId,
        delta: Arc<ViewDelta>,
        retired: &mut Vec<Arc<ViewDelta>>,
    ) {
        let mut log = lock(&self.shared.logs[view.index()]);
        log.row_changes += delta.changes.len();
        log.deltas.push_back(delta);
        while log.row_changes > self.shared.config.log_row_changes {
            let Some(oldest) = log.deltas.pop_front() else {
                break;
            };
            log.row_changes -= oldest.changes.len();
            log.covers_after = oldest.as_of;
            retired.push(oldest);
        }
    }
}

/// View updates at or above which a commit applies its views on two threads: below, a
/// thread's start costs more than it saves.
const PARALLEL_UPDATES: usize = 2048;

/// One view's rows, row count and the updates to apply to them.
type ViewWork<'a> = (ViewId, &'a VersionedRows, &'a mut ViewStats, Vec<RowUpdate>);

/// Applies `updates` to the views' rows as of `as_of`; each view's key changes, in view order.
/// The views are independent: a large commit applies them on two threads, split by update
/// count.
fn apply_updates(
    catalog: &ViewCatalog,
    tables: &[VersionedRows],
    stats: &mut [ViewStats],
    as_of: u64,
    updates: Vec<(ViewId, RowUpdate)>,
) -> Vec<Vec<KeyChange>> {
    let total = updates.len();
    let mut by_view: Vec<Vec<RowUpdate>> = ViewId::ALL.iter().map(|_| Vec::new()).collect();
    for (view, update) in updates {
        by_view[view.index()].push(update);
    }
    let mut work: Vec<ViewWork<'_>> = ViewId::ALL
        .into_iter()
        .zip(tables.iter().zip(stats.iter_mut()))
        .zip(by_view)
        .map(|((view, (rows, stats)), updates)| (view, rows, stats, updates))
        .collect();
    let apply = |work: Vec<ViewWork<'_>>| {
        work.into_iter()
            .map(|(view, rows, stats, updates)| {
                let schema = catalog.schema(view);
                (view, apply_view(schema, rows, stats, as_of, updates))
            })
            .collect::<Vec<_>>()
    };
    let mut applied = if total < PARALLEL_UPDATES {
        apply(work)
    } else {
        // Largest first, each to the lighter of the two shares.
        work.sort_by_key(|(_, _, _, updates)| std::cmp::Reverse(updates.len()));
        let (mut here, mut there, mut load) = (Vec::new(), Vec::new(), [0usize; 2]);
        for item in work {
            let share = usize::from(load[1] < load[0]);
            load[share] += item.3.len();
            if share == 0 {
                here.push(item)
            } else {
                there.push(item)
            }
        }
        std::thread::scope(|scope| {
            let other = scope.spawn(|| apply(there));
            let mut applied = apply(here);
            match other.join() {
                Ok(more) => applied.extend(more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
            applied
        })
    };
    applied.sort_by_key(|(view, _)| view.index());
    applied.into_iter().map(|(_, changes)| changes).collect()
}

/// Applies one view's updates to its rows as of `as_of`; its key changes, in key order.
fn apply_view(
    schema: &ViewSchema,
    rows: &VersionedRows,
    stats: &mut ViewStats,
    as_of: u64,
    updates: Vec<RowUpdate>,
) -> Vec<KeyChange> {
    let changes = key_changes(schema, updates);
    let mut writes = Vec::with_capacity(changes.len());
    for KeyChange { key, old, new } in &changes {
        let new_company = new.as_deref().map(ViewSchema::company_of);
        match old.as_deref().map(ViewSchema::company_of) {
            // The key leaves its tenant's range (or the view): its old place is deleted.
            Some(company) if Some(company) != new_company => {
                writes.push(((company, key.clone()), None));
            }
            Some(_) => {}
            None => stats.rows += 1,
        }
        match new_company {
            Some(company) => writes.push(((company, key.clone()), new.clone())),
            None => stats.rows = stats.rows.saturating_sub(1),
        }
    }
    rows.record(as_of, writes);
    changes
}

/// Drops the pinned snapshots unused for longer than the configured age, and those committed
/// longer ago than the configured lifetime.
fn expire(history: &mut VecDeque<(Instant, Arc<Snapshot>)>, config: &StateConfig) {
    let now = Instant::now();
    history.retain(|(used, snapshot)| {
        now.duration_since(*used) <= config.history_max_age
            && now.duration_since(snapshot.committed) <= config.history_max_lifetime
    });
}

/// One view's updates as key changes in key order. A key changed in several timestamps of
/// the commit (its updates come in time order) becomes one change, from its first row to its
/// last, or none where it ends as it began.
fn key_changes(schema: &ViewSchema, updates: Vec<RowUpdate>) -> Vec<KeyChange> {
    let mut changes: Vec<KeyChange> = updates
        .into_iter()
        .filter_map(|RowUpdate { old, new }| {
            let key = schema.key_of(new.as_deref().or(old.as_deref())?);
            Some(KeyChange { key, old, new })
        })
        .collect();
    // Stable: a key's changes stay in time order.
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    let mut merged: Vec<KeyChange> = Vec::with_capacity(changes.len());
    // Where in `merged` the keys changed in several timestamps are: only such a key can end
    // as it began (each timestamp's change of a key is a change), and only its rows are
    // compared (the old ones are cold: built many timestamps ago).
    let mut repeated: Vec<usize> = Vec::new();
    for change in changes {
        match merged.last_mut() {
            Some(last) if last.key == change.key => {
                last.new = change.new;
                let at = merged.len() - 1;
                if repeated.last() != Some(&at) {
                    repeated.push(at);
                }
            }
            _ => merged.push(change),
        }
    }
    if !repeated.is_empty() {
        let mut repeated = repeated.into_iter().peekable();
        let mut at = 0;
        merged.retain(|change| {
            let unchanged = repeated.next_if_eq(&at).is_some() && change.old == change.new;
            at += 1;
            !unchanged
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::catalog::tests::catalog as test_catalog;
    use crate::datum::Datum;

    fn building(company: i64, id: i64, floors: i64) -> Row {
        let mut row = vec![Datum::Int(company), Datum::Int(id), Datum::Text("B".into())];
        row.extend((0..7).map(|i| Datum::Int(if i == 0 { floors } else { 0 })));
        Arc::from(row)
    }

    /// A key's change from `old` to `new`.
    fn change(old: Option<Row>, new: Option<Row>) -> RowUpdate {
        RowUpdate { old, new }
    }

    fn insert(row: Row) -> RowUpdate {
        change(None, Some(row))
    }

    fn commit(writer: &mut StateWriter, as_of: u64, updates: Vec<RowUpdate>) {
        let updates = updates
            .into_iter()
            .map(|update| (ViewId::OccupancyByBuilding, update))
            .collect();
        writer.commit(Commit {
            as_of,
            updates,
            sources: Vec::new(),
            removed_sources: Vec::new(),
            baseline: false,
            users: Vec::new(),
        });
    }

    #[test]
    fn a_key_changed_in_several_timestamps_is_one_change_or_none() {
        let (b1, b2, b3) = (building(1, 10, 1), building(1, 10, 2), building(1, 10, 3));
        let other = |floors| building(1, 20, floors);
        let catalog = test_catalog();
        let changes = key_changes(
            catalog.schema(ViewId::OccupancyByBuilding),
            vec![
                change(Some(b1.clone()), Some(b2.clone())),
                change(Some(other(1)), Some(other(2))),
                change(Some(b2.clone()), Some(b3.clone())),
                insert(building(1, 30, 1)),
                change(Some(other(2)), Some(other(1))),
                change(Some(b3), Some(b2.clone())),
            ],
        );
        let ended: Vec<_> = changes
            .iter()
            .map(|c| (c.old.clone(), c.new.clone()))
            .collect();
        assert_eq!(
            ended,
            vec![(Some(b1), Some(b2)), (None, Some(building(1, 30, 1))),],
            "building 20 ends as it began"
        );
    }

    #[test]
    fn snapshots_are_consistent_and_pinned_ones_stay_readable() {
        let (state, mut writer) =
            ServedState::new(StateConfig::default(), Arc::new(test_catalog()));
        commit(
            &mut writer,
            1,
            vec![insert(building(1, 10, 0)), insert(building(2, 20, 0))],
        );
        let first = state.snapshot();
        state.pin(&first);
        commit(&mut writer, 2, vec![insert(building(3, 30, 0))]);
        assert!(
            state.snapshot_at(2).is_some(),
            "the current snapshot is always readable"
        );
        commit(
            &mut writer,
            3,
            vec![change(Some(building(1, 10, 0)), Some(building(1, 10, 3)))],
        );
        assert_eq!(first.as_of, 1);
        assert_eq!(state.snapshot().as_of, 3);
        assert!(state.snapshot_at(2).is_none(), "never pinned, not retained");
        let old = state.snapshot_at(1).expect("retained");
        let page = old.page(ViewId::OccupancyByBuilding, &Filter::default(), None, 10);
        assert_eq!(page.rows[0][3], Datum::Int(0));
        let page = state
            .snapshot()
            .page(ViewId::OccupancyByBuilding, &Filter::default(), None, 10);
        assert_eq!(page.rows[0][3], Datum::Int(3));
    }

    /// One step of [`held_snapshots_keep_reading_their_as_of`]: a commit of `(id, company,
    /// floors)` upserts (`None`: delete the id), or one of the held snapshots let go.
    #[derive(Clone, Debug)]
    enum Step {
        Commit(Vec<(i64, Option<(i64, i64)>)>),
        Release(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let write = (
            0..12i64,
            proptest::option::weighted(0.8, (0..3i64, 0..4i64)),
        );
        prop_oneof![
            4 => proptest::collection::vec(write, 0..6).prop_map(Step::Commit),
            1 => any::<usize>().prop_map(Step::Release),
        ]
    }

    proptest::proptest! {
        /// Every snapshot still held reads exactly its `as_of`'s rows and count, whatever was
        /// committed and collected since; versions nobody can see are collected.
        #[test]
        fn held_snapshots_keep_reading_their_as_of(steps in proptest::collection::vec(step(), 1..40)) {
            let (state, mut writer) = ServedState::new(StateConfig::default(), Arc::new(test_catalog()));
            let mut current: BTreeMap<i64, Row> = BTreeMap::new();
            let mut expected: HashMap<u64, Vec<Row>> = HashMap::from([(0, Vec::new())]);
            let mut held = vec![state.snapshot()];
            let mut as_of = 0;
            for step in steps {
                match step {
                    Step::Release(i) => {
                        if !held.is_empty() {
                            held.remove(i % held.len());
                        }
                    }
                    Step::Commit(writes) => {
                        as_of += 1;
                        let mut updates = Vec::new();
                        for (id, write) in writes {
                            let new = write.map(|(company, floors)| building(company, id, floors));
                            let old = match &new {
                                Some(new) => current.insert(id, new.clone()),
                                None => current.remove(&id),
                            };
                            if old != new {
                                updates.push(change(old, new));
                            }
                        }
                        commit(&mut writer, as_of, updates);
                        let mut rows: Vec<Row> = current.values().cloned().collect();
                        rows.sort_by_key(|row| (ViewSchema::company_of(row), row[1].as_int()));
                        expected.insert(as_of, rows);
                        held.push(state.snapshot());
                    }
                }
                for snapshot in &held {
                    let want = &expected[&snapshot.as_of];
                    let read: Vec<Row> = snapshot
                        .scan(ViewId::OccupancyByBuilding, &Filter::default(), None)
                        .map(|(_, row)| row)
                        .collect();
                    proptest::prop_assert_eq!(&read, want, "as_of {}", snapshot.as_of);
                    proptest::prop_assert_eq!(snapshot.len(ViewId::OccupancyByBuilding), want.len());
                }
            }
            drop(held);
            commit(&mut writer, as_of + 1, Vec::new());
            proptest::prop_assert_eq!(
                writer.tables.views[ViewId::OccupancyByBuilding.index()].versions_held(),
                current.len(),
                "only the latest rows remain once no older snapshot is held"
            );
        }
    }

    /// A client re-reading a cursor keeps its snapshot only for the configured lifetime, so
    /// that the rows replaced since are not held for ever.
    #[test]
    fn a_pinned_snapshot_is_dropped_at_its_lifetime_however_often_it_is_read() {
        let lifetime = Duration::from_millis(300);
        let config = StateConfig {
            history_max_lifetime: lifetime,
            ..StateConfig::default()
        };
        let (state, mut writer) = ServedState::new(config, Arc::new(test_catalog()));
        commit(&mut writer, 1, vec![insert(building(1, 10, 1))]);
        let pinned = state.snapshot();
        state.pin(&pinned);
        drop(pinned);
        commit(
            &mut writer,
            2,
            vec![change(Some(building(1, 10, 1)), Some(building(1, 10, 2)))],
        );
        let held = || writer.tables.views[ViewId::OccupancyByBuilding.index()].versions_held();
        assert_eq!(held(), 2, "the pinned snapshot holds the replaced version");
        let started = Instant::now();
        while started.elapsed() < lifetime {
            assert!(state.snapshot_at(1).is_some(), "read within its lifetime");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(state.snapshot_at(1).is_none(), "gone after its lifetime");
        writer.commit(Commit {
            as_of: 3,
            updates: Vec::new(),
            sources: Vec::new(),
            removed_sources: Vec::new(),
            baseline: false,
            users: Vec::new(),
        });
        assert_eq!(
            writer.tables.views[ViewId::OccupancyByBuilding.index()].versions_held(),
            1,
            "no replaced version is held for it"
        );
    }

    #[test]
    fn paging_walks_every_row_once() {
        let (state, mut writer) =
            ServedState::new(StateConfig::default(), Arc::new(test_catalog()));
        commit(
            &mut writer,
            1,
            (0..25).map(|i| insert(building(i % 3, i, 0))).collect(),
        );
        let snap = state.snapshot();
        let mut cursor: Option<PageCursor> = None;
        let mut seen = Vec::new();
        loop {
            let page = snap.page(
                ViewId::OccupancyByBuilding,
                &Filter::default(),
                cursor.as_ref(),
                7,
            );
            seen.extend(page.rows.iter().map(|r| r[1].as_int()));
            match page.next {
                Some(next) => cursor = Some(next.to_string().parse().expect("cursor round-trips")),
                None => break,
            }
        }
        seen.sort();
        assert_eq!(seen, (0..25).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn a_key_moving_to_another_company_is_one_change() {
        let (state, mut writer) =
            ServedState::new(StateConfig::default(), Arc::new(test_catalog()));
        commit(&mut writer, 1, vec![insert(building(1, 10, 0))]);
        let sub = state.subscribe(ViewId::OccupancyByBuilding, Some(0));
        assert_eq!(
            sub.resume.as_ref().map(|r| r.as_ref().map(Vec::len)),
            Some(Ok(1))
        );
        let mut rx = sub.receiver;
        commit(
            &mut writer,
            2,
            vec![change(Some(building(1, 10, 0)), Some(building(2, 10, 0)))],
        );
        let delta = rx.try_recv().expect("broadcast");
        assert_eq!(delta.as_of, 2);
        assert_eq!(delta.changes.len(), 1);
        let filter = Filter::parse(
            state.snapshot().schema(ViewId::OccupancyByBuilding),
            [("company_id", "1")],
        )
        .expect("ok");
        assert!(state
            .snapshot()
            .page(ViewId::OccupancyByBuilding, &filter, None, 10)
            .rows
            .is_empty());
    }

    #[test]
    fn a_restored_baseline_resets_subscribers_resuming_from_before_it() {
        // A restarted engine: its first commit is the restored checkpoint at as_of 1000.
        let (state, mut writer) =
            ServedState::new(StateConfig::default(), Arc::new(test_catalog()));
        writer.commit(Commit {
            as_of: 1000,
            updates: vec![(ViewId::OccupancyByBuilding, insert(building(1, 10, 2)))],
            sources: Vec::new(),
            removed_sources: Vec::new(),
            baseline: true,
            users: Vec::new(),
        });
        let before = state.subscribe(ViewId::OccupancyByBuilding, Some(7));
        assert!(
            matches!(before.resume, Some(Err(ResetReason::NotRetained))),
            "an as_of of the previous run is answered with a reset"
        );
        commit(&mut writer, 1001, vec![insert(building(1, 11, 0))]);
        let after = state.subscribe(ViewId::OccupancyByBuilding, Some(1000));
        assert_eq!(
            after.resume.as_ref().map(|r| r.as_ref().map(Vec::len)),
            Some(Ok(1)),
            "from the baseline on, exactly the later changes"
        );
    }

    #[test]
    fn resuming_past_the_log_asks_for_a_reset() {
        let config = StateConfig {
            log_row_changes: 2,
            ..StateConfig::default()
        };
        let (state, mut writer) = ServedState::new(config, Arc::new(test_catalog()));
        for as_of in 1..=5 {
            commit(
                &mut writer,
                as_of,
                vec![insert(building(1, as_of as i64, 0))],
            );
        }
        assert_eq!(
            state
                .subscribe(ViewId::OccupancyByBuilding, Some(1))
                .resume
                .map(|r| r.err()),
            Some(Some(ResetReason::NotRetained))
        );
        let resumed = state
            .subscribe(ViewId::OccupancyByBuilding, Some(3))
            .resume
            .expect("asked");
        assert_eq!(
            resumed
                .expect("retained")
                .iter()
                .map(|d| d.as_of)
                .collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(
            state
                .subscribe(ViewId::OccupancyByBuilding, Some(9))
                .resume
                .map(|r| r.err()),
            Some(Some(ResetReason::Unknown))
        );
    }
}
