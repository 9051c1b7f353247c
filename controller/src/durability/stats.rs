//! What `/v1/status` and `/metrics` show of checkpoints, kept by the checkpoint thread.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;
use twinflow_ingest::SourcePosition;

use super::SavedPosition;

/// What `/v1/status` and `/metrics` show of checkpoints.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    written: AtomicU64,
    failed: AtomicU64,
    last: Mutex<Option<WrittenCheckpoint>>,
    restored: Mutex<Option<RestoredCheckpoint>>,
    /// Every source's position in the newest durable checkpoint (written or restored).
    durable: Mutex<BTreeMap<String, SavedPosition>>,
}

/// The last checkpoint written.
#[derive(Clone, Debug, Serialize)]
pub struct WrittenCheckpoint {
    /// Its timestamp.
    pub ts: u64,
    /// When it was taken (ms since the epoch).
    pub created_ms: u64,
    /// File size.
    pub bytes: u64,
    /// From the request to the workers to the file being durable.
    pub duration_ms: u64,
}

/// The checkpoint this run started from.
#[derive(Clone, Debug, Serialize)]
pub struct RestoredCheckpoint {
    /// Its timestamp in the run that wrote it.
    pub ts: u64,
    /// The `as_of` the restored state was published at in this run.
    pub as_of: u64,
    /// When it was taken (ms since the epoch).
    pub created_ms: u64,
    /// Reading and checking the file.
    pub load_ms: u64,
}

impl CheckpointStats {
    /// Records the checkpoint this run started from, with its positions.
    pub fn restored(
        &self,
        restored: RestoredCheckpoint,
        positions: &BTreeMap<String, SavedPosition>,
    ) {
        *lock(&self.restored) = Some(restored);
        *lock(&self.durable) = positions.clone();
    }

    /// Records a checkpoint written, with every source's position in it.
    pub(super) fn record_written(
        &self,
        written: WrittenCheckpoint,
        positions: BTreeMap<String, SavedPosition>,
    ) {
        *lock(&self.durable) = positions;
        self.written.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last) = Some(written);
    }

    /// Records a checkpoint that could not be taken or written.
    pub(super) fn record_failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Where `source` stands in the newest durable checkpoint: what it may acknowledge
    /// upstream.
    pub fn durable_position(&self, source: &str) -> Option<SourcePosition> {
        lock(&self.durable)
            .get(source)
            .map(|saved| saved.position.clone())
    }

    /// As JSON for `/v1/status`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "written": self.written.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "last": *lock(&self.last),
            "restored": *lock(&self.restored),
        })
    }

    /// Counters for `/metrics`: `(name, help, value)`.
    pub fn counters(&self) -> Vec<(&'static str, &'static str, f64)> {
        let last = lock(&self.last).clone();
        let restored = lock(&self.restored).clone();
        vec![
            (
                "checkpoints_written_total",
                "Checkpoints written to the data directory.",
                self.written.load(Ordering::Relaxed) as f64,
            ),
            (
                "checkpoints_failed_total",
                "Checkpoints that could not be taken or written.",
                self.failed.load(Ordering::Relaxed) as f64,
            ),
            (
                "checkpoint_last_time_seconds",
                "When the last checkpoint was taken (Unix time).",
                last.as_ref().map_or(0.0, |c| c.created_ms as f64 / 1e3),
            ),
            (
                "checkpoint_last_bytes",
                "Size of the last checkpoint file.",
                last.as_ref().map_or(0.0, |c| c.bytes as f64),
            ),
            (
                "checkpoint_last_duration_seconds",
                "Time to take and write the last checkpoint.",
                last.as_ref().map_or(0.0, |c| c.duration_ms as f64 / 1e3),
            ),
            (
                "checkpoint_restore_seconds",
                "Time to read and check the checkpoint this run started from (0: none).",
                restored.as_ref().map_or(0.0, |c| c.load_ms as f64 / 1e3),
            ),
        ]
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
