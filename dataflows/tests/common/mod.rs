//! Shared helpers of the end-to-end tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use twinflow_views::{Filter, Row, ServedState, Snapshot, ViewId};

/// Waits until the served state has published `as_of` (or later); panics after `limit`.
pub fn wait_for_as_of(
    state: &ServedState,
    as_of: u64,
    limit: Duration,
) -> std::sync::Arc<Snapshot> {
    let start = Instant::now();
    loop {
        let snapshot = state.snapshot();
        if snapshot.as_of >= as_of {
            return snapshot;
        }
        assert!(
            start.elapsed() < limit,
            "as_of {as_of} not published within {limit:?} (at {})",
            snapshot.as_of
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Every row of `view` in `snapshot`, sorted.
pub fn served_rows(snapshot: &Snapshot, view: ViewId) -> Vec<Row> {
    let filter = Filter::default();
    let mut rows: Vec<Row> = snapshot
        .scan(view, &filter, None)
        .map(|(_, row)| row.clone())
        .collect();
    rows.sort();
    rows
}
