//! Feeding the served views' changes to a Kafka sink: first whatever makes the view's topic
//! equal to the view's current rows, then every change, keyed by the view key (a deleted key
//! as a tombstone).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};

use tokio::sync::broadcast::error::RecvError;
use twinflow_connectors::{KafkaSink, ViewChange};
use twinflow_views::{Filter, ServedState, Snapshot, ViewId};

/// Writes `view`'s changes to `sink` until `shutdown`. It starts from what the topic already
/// holds (an earlier run's rows): keys the view no longer has are tombstoned, rows that differ
/// are written. A sink that falls behind the view's broadcast does the same against the keys
/// it has written.
pub async fn run_view_sink(
    state: ServedState,
    sink: &KafkaSink,
    view: ViewId,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut written: Written = match sink.current_rows(view.name()).await {
        Ok(rows) => rows
            .into_iter()
            .map(|(key, row)| (key, fingerprint(&row)))
            .collect(),
        Err(err) => {
            tracing::error!("Kafka sink {view}: reading what the topic holds: {err}");
            Written::new()
        }
    };
    let schema = twinflow_dataflows::schema(view);
    loop {
        let mut subscription = state.subscribe(view, None);
        let snapshot = subscription.snapshot.clone();
        let changes = catch_up(&written, &snapshot, view);
        record(&mut written, &changes);
        if let Err(err) = sink.send(view.name(), snapshot.as_of, &changes).await {
            tracing::error!("Kafka sink {view}: {err}");
        }
        loop {
            let delta = tokio::select! {
                biased;
                () = &mut shutdown => return,
                delta = subscription.receiver.recv() => delta,
            };
            match delta {
                Ok(delta) if delta.as_of > snapshot.as_of => {
                    let changes: Vec<ViewChange> = delta
                        .changes
                        .iter()
                        .map(|change| ViewChange {
                            key: schema.key_json(&change.key).to_string(),
                            row: change
                                .new
                                .as_ref()
                                .map(|row| schema.row_json(row).to_string()),
                        })
                        .collect();
                    record(&mut written, &changes);
                    if let Err(err) = sink.send(view.name(), delta.as_of, &changes).await {
                        tracing::error!("Kafka sink {view}: {err}");
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        tracing::warn!("Kafka sink {view} fell behind; catching up from the current rows");
    }
}

/// What a view's topic holds: every live key with the fingerprint of its latest row.
type Written = HashMap<String, u64>;

/// The changes that turn a topic holding `written` into `snapshot`'s rows of `view`: rows new
/// or different, and tombstones for keys gone.
fn catch_up(written: &Written, snapshot: &Snapshot, view: ViewId) -> Vec<ViewChange> {
    let schema = twinflow_dataflows::schema(view);
    let mut current = HashSet::new();
    let mut changes = Vec::new();
    for (_, row) in snapshot.scan(view, &Filter::default(), None) {
        let key = schema.key_json(&schema.key_of(&row)).to_string();
        let row = schema.row_json(&row).to_string();
        if written.get(&key) != Some(&fingerprint(&row)) {
            changes.push(ViewChange {
                key: key.clone(),
                row: Some(row),
            });
        }
        current.insert(key);
    }
    changes.extend(
        written
            .keys()
            .filter(|key| !current.contains(*key))
            .map(|key| ViewChange {
                key: key.clone(),
                row: None,
            }),
    );
    changes
}

/// Updates `written` with `changes` as the topic will hold them.
fn record(written: &mut Written, changes: &[ViewChange]) {
    for change in changes {
        match &change.row {
            Some(row) => written.insert(change.key.clone(), fingerprint(row)),
            None => written.remove(&change.key),
        };
    }
}

/// A row's fingerprint: rows are compared by it rather than kept.
fn fingerprint(row: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    row.hash(&mut hasher);
    hasher.finish()
}
