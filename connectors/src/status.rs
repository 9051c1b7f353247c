//! What a running connector reports: its state, how far it has read, its rate and its errors.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// What a connector is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorState {
    /// Connecting for the first time.
    Starting,
    /// Reading the initial snapshot.
    Snapshotting,
    /// Following the change stream.
    Streaming,
    /// Lost its upstream; retrying after a backoff.
    Retrying,
    /// Has not reached its upstream yet (see `last_error` for why); retrying after a backoff.
    Failed,
    /// Stopped for good.
    Stopped,
    /// Held at its position by an operator (reported instead of the state it holds in).
    Paused,
}

/// A connector's live status, shared between the connector and the API.
#[derive(Debug)]
pub struct ConnectorStatus {
    name: String,
    kind: &'static str,
    inner: Mutex<Inner>,
    paused: watch::Sender<bool>,
}

#[derive(Debug)]
struct Inner {
    state: ConnectorState,
    /// Whether the upstream was ever reached.
    reached: bool,
    read_position: Option<String>,
    transactions: u64,
    changes: u64,
    rate: Rate,
    errors: u64,
    last_error: Option<String>,
    table_errors: BTreeMap<String, String>,
    snapshots: u64,
    reconnects: u64,
    details: serde_json::Value,
}

/// Transactions and row changes per second over the last second or so.
#[derive(Debug)]
struct Rate {
    mark: Instant,
    at_mark: [u64; 2],
    per_s: [f64; 2],
}

impl Rate {
    const WINDOW: Duration = Duration::from_secs(1);

    /// The rates of `totals` (transactions, changes) read so far.
    fn update(&mut self, totals: [u64; 2]) -> [f64; 2] {
        let elapsed = self.mark.elapsed();
        if elapsed >= Self::WINDOW {
            for ((per_s, at_mark), total) in
                self.per_s.iter_mut().zip(&mut self.at_mark).zip(totals)
            {
                *per_s = (total - *at_mark) as f64 / elapsed.as_secs_f64();
                *at_mark = total;
            }
            self.mark = Instant::now();
        }
        self.per_s
    }
}

/// A connector's status at one moment, as `/v1/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectorReport {
    /// The connector's (and its source's) name.
    pub name: String,
    /// `mysql`, `generator`, ...
    pub kind: &'static str,
    /// What it is doing.
    pub state: ConnectorState,
    /// The upstream position of the last transaction read (not necessarily applied yet).
    pub read_position: Option<String>,
    /// Transactions read.
    pub transactions: u64,
    /// Row changes read.
    pub changes: u64,
    /// Transactions read per second, recently.
    pub transactions_per_s: f64,
    /// Row changes read per second, recently.
    pub changes_per_s: f64,
    /// Errors so far (connection losses, refused requests, ...).
    pub errors: u64,
    /// The most recent error.
    pub last_error: Option<String>,
    /// Tables that cannot be read, with the reason; the other tables keep flowing.
    pub table_errors: BTreeMap<String, String>,
    /// Initial snapshots taken.
    pub snapshots: u64,
    /// Reconnections after an error.
    pub reconnects: u64,
    /// What is particular to the kind of connector (Kafka: per partition the offset read, the
    /// high watermark and the lag).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl ConnectorStatus {
    /// A new status in state [`ConnectorState::Starting`].
    pub fn new(name: impl Into<String>, kind: &'static str) -> Self {
        ConnectorStatus {
            name: name.into(),
            kind,
            inner: Mutex::new(Inner {
                state: ConnectorState::Starting,
                reached: false,
                read_position: None,
                transactions: 0,
                changes: 0,
                rate: Rate {
                    mark: Instant::now(),
                    at_mark: [0; 2],
                    per_s: [0.0; 2],
                },
                errors: 0,
                last_error: None,
                table_errors: BTreeMap::new(),
                snapshots: 0,
                reconnects: 0,
                details: serde_json::Value::Null,
            }),
            paused: watch::Sender::new(false),
        }
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Holds the connector at its position (`true`) or lets it go on (`false`). The connector
    /// stops between two transactions: nothing after its current transaction is read until it
    /// is resumed.
    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    /// Whether an operator holds the connector.
    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Completes once the connector is paused (at once when it is).
    pub async fn paused(&self) {
        let mut paused = self.paused.subscribe();
        let _ = paused.wait_for(|paused| *paused).await;
    }

    /// Completes once the connector is not paused (at once when it is not).
    pub async fn unpaused(&self) {
        let mut paused = self.paused.subscribe();
        // The sender lives as long as `self`: an error cannot happen while it is borrowed.
        let _ = paused.wait_for(|paused| !*paused).await;
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        // A panic elsewhere while holding the lock leaves plain counters behind: keep using them.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    /// Enters `state`.
    pub fn set_state(&self, state: ConnectorState) {
        self.with(|i| {
            if state == ConnectorState::Snapshotting {
                i.snapshots += 1;
            }
            if i.state == ConnectorState::Retrying && state != ConnectorState::Stopped {
                i.reconnects += 1;
            }
            if matches!(
                state,
                ConnectorState::Snapshotting | ConnectorState::Streaming
            ) {
                i.reached = true;
            }
            i.state = match state {
                ConnectorState::Retrying if !i.reached => ConnectorState::Failed,
                state => state,
            };
        });
    }

    /// Records an error (the connector decides whether it retries).
    pub fn error(&self, message: impl Into<String>) {
        let message = message.into();
        self.with(|i| {
            i.errors += 1;
            i.last_error = Some(message);
        });
    }

    /// Marks `table` as unreadable for `reason`, or readable again with `None`.
    pub fn table_error(&self, table: &str, reason: Option<String>) {
        self.with(|i| match reason {
            Some(reason) => {
                i.table_errors.insert(table.to_string(), reason);
            }
            None => {
                i.table_errors.remove(table);
            }
        });
    }

    /// Replaces what is particular to this kind of connector.
    pub fn set_details(&self, details: serde_json::Value) {
        self.with(|i| i.details = details);
    }

    /// Records one transaction of `changes` row changes read up to `position`.
    pub fn read(&self, changes: usize, position: impl ToString) {
        self.with(|i| {
            i.transactions += 1;
            i.changes += changes as u64;
            i.read_position = Some(position.to_string());
            let totals = [i.transactions, i.changes];
            i.rate.update(totals);
        });
    }

    /// The status now.
    pub fn report(&self) -> ConnectorReport {
        self.with(|i| {
            let [transactions_per_s, changes_per_s] = i.rate.update([i.transactions, i.changes]);
            ConnectorReport {
                name: self.name.clone(),
                kind: self.kind,
                state: if self.is_paused() && i.state != ConnectorState::Stopped {
                    ConnectorState::Paused
                } else {
                    i.state
                },
                read_position: i.read_position.clone(),
                transactions: i.transactions,
                changes: i.changes,
                transactions_per_s,
                changes_per_s,
                errors: i.errors,
                last_error: i.last_error.clone(),
                table_errors: i.table_errors.clone(),
                snapshots: i.snapshots,
                reconnects: i.reconnects,
                details: i.details.clone(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_count_reads_errors_and_reconnects() {
        let status = ConnectorStatus::new("db", "mysql");
        status.set_state(ConnectorState::Snapshotting);
        status.read(10, "0-1-5");
        status.set_state(ConnectorState::Retrying);
        status.error("connection reset");
        status.set_state(ConnectorState::Streaming);
        status.table_error("twin_hr.people", Some("no column desk_id".into()));
        let report = status.report();
        assert_eq!(report.state, ConnectorState::Streaming);
        assert_eq!((report.transactions, report.changes), (1, 10));
        assert_eq!(
            (report.errors, report.reconnects, report.snapshots),
            (1, 1, 1)
        );
        assert_eq!(report.read_position.as_deref(), Some("0-1-5"));
        assert_eq!(report.table_errors.len(), 1);
        status.table_error("twin_hr.people", None);
        assert!(status.report().table_errors.is_empty());
    }
}
