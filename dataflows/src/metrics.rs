//! Counters and per-timestamp latencies of the engine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What the engine has done so far. Shared with whoever reports it.
#[derive(Debug, Default)]
pub struct EngineMetrics {
    timestamps: AtomicU64,
    transactions: AtomicU64,
    changes: AtomicU64,
    view_updates: AtomicU64,
    as_of: AtomicU64,
    recent_latencies_us: Mutex<VecDeque<u64>>,
}

/// Percentiles of recent per-timestamp latencies (seal → visible), in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Timestamps measured.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

const LATENCY_WINDOW: usize = 100_000;

impl EngineMetrics {
    pub(crate) fn record_commit(
        &self,
        as_of: u64,
        transactions: u64,
        changes: u64,
        view_updates: u64,
        latencies: &[Duration],
    ) {
        self.timestamps
            .fetch_add(latencies.len() as u64, Ordering::Relaxed);
        self.transactions.fetch_add(transactions, Ordering::Relaxed);
        self.changes.fetch_add(changes, Ordering::Relaxed);
        self.view_updates.fetch_add(view_updates, Ordering::Relaxed);
        self.as_of.store(as_of, Ordering::Relaxed);
        let mut recent = self
            .recent_latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for latency in latencies {
            if recent.len() == LATENCY_WINDOW {
                recent.pop_front();
            }
            recent.push_back(latency.as_micros() as u64);
        }
    }

    /// Timestamps published.
    pub fn timestamps(&self) -> u64 {
        self.timestamps.load(Ordering::Relaxed)
    }

    /// Source transactions applied.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Row changes applied.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// View row updates published.
    pub fn view_updates(&self) -> u64 {
        self.view_updates.load(Ordering::Relaxed)
    }

    /// The latest published timestamp.
    pub fn as_of(&self) -> u64 {
        self.as_of.load(Ordering::Relaxed)
    }

    /// Percentiles over the most recent timestamps' latencies; `clear` forgets them afterwards.
    pub fn latencies(&self, clear: bool) -> LatencySummary {
        let mut recent = self
            .recent_latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut sorted: Vec<u64> = recent.iter().copied().collect();
        if clear {
            recent.clear();
        }
        drop(recent);
        if sorted.is_empty() {
            return LatencySummary::default();
        }
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        LatencySummary {
            samples: sorted.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}
