//! What the engine reports to the API beyond the served state.

use std::sync::Arc;

use twinflow_dataflows::EngineMetrics;
use twinflow_ingest::DeadLetterLog;
use twinflow_ingest::SourcePosition;
use twinflow_serve::{ControlError, ControlFuture, EngineInfo};

use crate::durability::CheckpointStats;
use crate::manager::ConnectorManager;

/// The engine's counters, connectors and dead-letter record, as `/v1/status`, `/metrics` and
/// `/v1/deadletters` show them.
pub struct PipelineInfo {
    metrics: Arc<EngineMetrics>,
    dead_letters: Arc<DeadLetterLog>,
    connectors: Option<Arc<ConnectorManager>>,
    checkpoints: Option<Arc<CheckpointStats>>,
}

impl PipelineInfo {
    /// Reports `metrics`, `dead_letters` and, with a data directory, `checkpoints`; no
    /// connectors.
    pub fn new(
        metrics: Arc<EngineMetrics>,
        dead_letters: Arc<DeadLetterLog>,
        checkpoints: Option<Arc<CheckpointStats>>,
    ) -> Self {
        PipelineInfo {
            metrics,
            dead_letters,
            connectors: None,
            checkpoints,
        }
    }

    /// Also reports `connectors`, which operators change through it.
    pub fn with_connectors(self, connectors: Arc<ConnectorManager>) -> Self {
        PipelineInfo {
            connectors: Some(connectors),
            ..self
        }
    }

    /// The connector manager, or the refusal of an engine without one.
    fn manager(&self, name: &str) -> Result<&ConnectorManager, ControlError> {
        self.connectors
            .as_deref()
            .ok_or_else(|| ControlError::Unknown(name.to_string()))
    }
}

impl EngineInfo for PipelineInfo {
    fn dead_letter_count(&self) -> u64 {
        self.dead_letters.total()
    }

    fn connectors(&self) -> Vec<serde_json::Value> {
        self.connectors
            .as_ref()
            .map(|m| m.reports())
            .unwrap_or_default()
    }

    fn connector(&self, name: &str) -> Option<serde_json::Value> {
        self.connectors.as_ref()?.describe(name)
    }

    fn set_connector_paused(&self, name: String, paused: bool) -> ControlFuture<'_> {
        Box::pin(async move { self.manager(&name)?.set_paused(&name, paused).await })
    }

    fn add_connector(&self, request: serde_json::Value) -> ControlFuture<'_> {
        Box::pin(async move {
            let manager = self.connectors.as_deref().ok_or_else(|| {
                ControlError::Failed("this engine does not take connectors".into())
            })?;
            manager.add(&request).await
        })
    }

    fn remove_connector(&self, name: String) -> ControlFuture<'_> {
        Box::pin(async move { self.manager(&name)?.remove(&name).await })
    }

    fn dead_letters(&self) -> Vec<serde_json::Value> {
        self.dead_letters
            .recent()
            .iter()
            .map(|letter| serde_json::to_value(letter).unwrap_or_default())
            .collect()
    }

    fn checkpoints(&self) -> Option<serde_json::Value> {
        self.checkpoints.as_ref().map(|stats| stats.to_json())
    }

    fn counters(&self) -> Vec<(&'static str, &'static str, f64)> {
        let m = &self.metrics;
        let latency = m.latencies(false);
        let checkpoints = self
            .checkpoints
            .as_ref()
            .map(|stats| stats.counters())
            .unwrap_or_default();
        let mut counters = vec![
            (
                "timestamps_published_total",
                "Timestamps published to the served state.",
                m.timestamps() as f64,
            ),
            (
                "transactions_applied_total",
                "Source transactions applied.",
                m.transactions() as f64,
            ),
            (
                "changes_applied_total",
                "Source row changes applied.",
                m.changes() as f64,
            ),
            (
                "view_updates_total",
                "View row updates published.",
                m.view_updates() as f64,
            ),
            (
                "timestamp_latency_p50_ms",
                "Median time from sealing a timestamp to publishing it (recent window).",
                latency.p50_ms,
            ),
            (
                "timestamp_latency_p99_ms",
                "99th percentile time from sealing a timestamp to publishing it (recent window).",
                latency.p99_ms,
            ),
        ];
        counters.extend(checkpoints);
        counters
    }
}

/// The position the served state has applied for `source`, kept up to date (every 200 ms) in
/// a watch channel: what a source may acknowledge upstream.
pub fn applied_positions(
    state: twinflow_views::ServedState,
    source: String,
) -> tokio::sync::watch::Receiver<Option<SourcePosition>> {
    watch_position(move || {
        state
            .snapshot()
            .sources()
            .iter()
            .find(|p| p.source == source)
            .and_then(|p| serde_json::from_value(p.position.clone()).ok())
    })
}

/// The position of `source` in the last checkpoint written, kept up to date (every 200 ms)
/// in a watch channel: what a source may acknowledge upstream when the engine is durable.
pub fn checkpointed_positions(
    stats: Arc<CheckpointStats>,
    source: String,
) -> tokio::sync::watch::Receiver<Option<SourcePosition>> {
    watch_position(move || stats.durable_position(&source))
}

/// A watch channel of what `position` returns, polled every 200 ms while anyone watches.
fn watch_position(
    position: impl Fn() -> Option<SourcePosition> + Send + 'static,
) -> tokio::sync::watch::Receiver<Option<SourcePosition>> {
    let (tx, rx) = tokio::sync::watch::channel(None);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            ticker.tick().await;
            if tx.is_closed() {
                return;
            }
            let position = position();
            tx.send_if_modified(|old| {
                let changed = *old != position;
                *old = position;
                changed
            });
        }
    });
    rx
}
