//! The dead-letter record: change events that could not be applied, with their reason.
//!
//! A letter names where the event was (source, position, table, primary key) and why it was
//! refused; it never holds column values, which may be secret or personal (a `twin_auth.user`
//! row's password hash and email, say): reasons name columns and kinds of values only.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::change::{now_ms, SourcePosition};

/// One rejected change event.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetter {
    /// The source that delivered it.
    pub source: String,
    /// The source position of the transaction it came in.
    pub position: SourcePosition,
    /// `database.table`, when known.
    pub table: Option<String>,
    /// The row's primary key, when known.
    pub key: Option<i64>,
    /// Why it was rejected.
    pub reason: String,
    /// When it was rejected, milliseconds since the epoch.
    pub at_ms: u64,
}

impl DeadLetter {
    /// A letter rejected now.
    pub fn new(
        source: &str,
        position: SourcePosition,
        table: Option<String>,
        key: Option<i64>,
        reason: impl ToString,
    ) -> Self {
        DeadLetter {
            source: source.to_string(),
            position,
            table,
            key,
            reason: reason.to_string(),
            at_ms: now_ms(),
        }
    }
}

/// A bounded in-memory log of the most recent dead letters, plus the total count ever seen.
#[derive(Debug)]
pub struct DeadLetterLog {
    capacity: usize,
    total: AtomicU64,
    recent: Mutex<Recent>,
}

#[derive(Debug, Default)]
struct Recent {
    letters: VecDeque<DeadLetter>,
    /// Letters ever recorded, per source.
    per_source: HashMap<String, u64>,
}

impl DeadLetterLog {
    /// A log that keeps the `capacity` most recent letters.
    pub fn new(capacity: usize) -> Self {
        DeadLetterLog {
            capacity,
            total: AtomicU64::new(0),
            recent: Mutex::new(Recent::default()),
        }
    }

    /// Records one letter (and logs it as a warning).
    pub fn record(&self, letter: DeadLetter) {
        tracing::warn!(
            source = %letter.source,
            position = %letter.position,
            table = letter.table.as_deref().unwrap_or("-"),
            key = letter.key,
            "dead letter: {}",
            letter.reason
        );
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        *recent.per_source.entry(letter.source.clone()).or_default() += 1;
        if recent.letters.len() == self.capacity {
            recent.letters.pop_front();
        }
        recent.letters.push_back(letter);
    }

    /// How many letters were ever recorded.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// How many letters `source` ever recorded.
    pub fn total_for(&self, source: &str) -> u64 {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.per_source.get(source).copied().unwrap_or(0)
    }

    /// The retained letters, oldest first.
    pub fn recent(&self) -> Vec<DeadLetter> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .letters
            .iter()
            .cloned()
            .collect()
    }
}

impl Default for DeadLetterLog {
    fn default() -> Self {
        DeadLetterLog::new(10_000)
    }
}
