//! Feeding the served views' changes to a Kafka sink: every view's current rows when the sink
//! starts, then every change, keyed by the view key (a deleted key as a tombstone).

use std::future::Future;

use tokio::sync::broadcast::error::RecvError;
use twinflow_connectors::{KafkaSink, ViewChange};
use twinflow_views::{ServedState, Snapshot, ViewId};

/// Writes `view`'s changes to `sink` until `shutdown`. A sink that falls behind the view's
/// broadcast starts over with the view's current rows (upserts of every key; keys deleted
/// meanwhile are not tombstoned).
pub async fn run_view_sink(
    state: ServedState,
    sink: &KafkaSink,
    view: ViewId,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let mut subscription = state.subscribe(view, None);
        let snapshot = subscription.snapshot.clone();
        if let Err(err) = sink
            .send(view.name(), snapshot.as_of, &all_rows(&snapshot, view))
            .await
        {
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
                    let schema = view.schema();
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
                    if let Err(err) = sink.send(view.name(), delta.as_of, &changes).await {
                        tracing::error!("Kafka sink {view}: {err}");
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return,
            }
        }
        tracing::warn!("Kafka sink {view} fell behind; writing the current rows again");
    }
}

fn all_rows(snapshot: &Snapshot, view: ViewId) -> Vec<ViewChange> {
    let schema = view.schema();
    snapshot
        .scan(view, &twinflow_views::Filter::default(), None)
        .map(|(_, row)| ViewChange {
            key: schema.key_json(&schema.key_of(row)).to_string(),
            row: Some(schema.row_json(row).to_string()),
        })
        .collect()
}
