//! The pipeline: sources → [`sequencer`](crate::sequencer) → dataflow engine → served state.
//!
//! Sources send [`Transaction`](twinflow_ingest::Transaction)s into one queue, bounded in row
//! changes, so that a dataflow falling behind pushes back on them through the engine's bounded
//! queues. A [`Pipeline`] is the handle of one running engine: where sources send, the served
//! state, the counters, the dead-letter record, and the [`Retractor`] that removes a stopped
//! source's rows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use twinflow_connectors::{transaction_queue, TransactionSender};
use twinflow_dataflows::{Engine, EngineConfig, EngineMetrics};
use twinflow_ingest::{DeadLetterLog, Reclocker, SourceId, TableId};
use twinflow_views::{ServedState, StateConfig};

use crate::durability::{CheckpointStats, DurabilityConfig, Durable, SavedPosition};
use crate::sequencer::{sequence, Inputs};

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The dataflow engine's settings.
    pub engine: EngineConfig,
    /// The served state's retention settings.
    pub state: StateConfig,
    /// Row changes after which a timestamp is sealed even if more input is waiting.
    pub max_changes_per_timestamp: usize,
    /// Row changes queued between the sources and the sequencer (a transaction of more is
    /// queued alone): at least a whole timestamp's worth, so that the sequencer seals full
    /// timestamps while the sources keep up.
    pub source_queue_changes: usize,
    /// Checkpoints and restart from them; `None` keeps everything in memory.
    pub durability: Option<DurabilityConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            engine: EngineConfig::default(),
            state: StateConfig::default(),
            max_changes_per_timestamp: 10_000,
            source_queue_changes: 16_384,
            durability: None,
        }
    }
}

/// What the sequencer is asked to do besides sequencing transactions.
pub(crate) enum Control {
    /// Retract every row of `tables` and forget `source`'s position, in one timestamp after
    /// everything sent before; reply with that timestamp.
    Retract {
        source: SourceId,
        tables: Vec<TableId>,
        done: oneshot::Sender<u64>,
    },
}

/// Removes a stopped source's rows from the views: see [`Pipeline::retractor`].
#[derive(Clone)]
pub struct Retractor {
    control: mpsc::Sender<Control>,
    state: ServedState,
}

impl Retractor {
    /// Retracts every row of `tables` and `source`'s position in one timestamp, after every
    /// transaction sent before the call; returns once the served state shows it, with that
    /// timestamp. The source must have stopped sending, and no other source may feed `tables`.
    pub async fn retract(&self, source: &str, tables: Vec<TableId>) -> anyhow::Result<u64> {
        let (done, ts) = oneshot::channel();
        let request = Control::Retract {
            source: Arc::from(source),
            tables,
            done,
        };
        let stopped = || anyhow::anyhow!("the pipeline has stopped");
        self.control.send(request).await.map_err(|_| stopped())?;
        let ts = ts.await.map_err(|_| stopped())?;
        self.state.published_at(ts).await;
        Ok(ts)
    }
}

/// A running pipeline.
pub struct Pipeline {
    sources: TransactionSender,
    control: mpsc::Sender<Control>,
    state: ServedState,
    metrics: Arc<EngineMetrics>,
    dead_letters: Arc<DeadLetterLog>,
    sequencer: JoinHandle<Engine>,
    restored: BTreeMap<String, SavedPosition>,
    restored_as_of: u64,
    checkpoints: Option<Arc<CheckpointStats>>,
}

impl Pipeline {
    /// Starts the engine and the sequencer; with a data directory, from its newest valid
    /// checkpoint.
    pub fn start(config: PipelineConfig) -> anyhow::Result<Pipeline> {
        let (state, writer) = ServedState::new(config.state.clone(), twinflow_dataflows::catalog());
        let (durable, restore) = match &config.durability {
            Some(durability) => {
                let (durable, restore) = Durable::open(durability)?;
                (Some(durable), restore)
            }
            None => (None, None),
        };
        let restored = durable
            .as_ref()
            .map(|d| d.positions().clone())
            .unwrap_or_default();
        let checkpoints = durable.as_ref().map(Durable::stats);
        // The reclocker goes on after the restored (or last reserved) timestamp.
        let first_ts = durable.as_ref().map_or(1, Durable::first_timestamp);
        let restored_as_of = restore.as_ref().map_or(0, |r| r.seal.ts);
        let engine = Engine::start(config.engine.clone(), writer, restore)
            .context("starting the dataflow engine")?;
        let metrics = engine.metrics();
        let dead_letters = Arc::new(DeadLetterLog::default());
        let (sources, input) = transaction_queue(config.source_queue_changes);
        let (control, requests) = mpsc::channel(8);
        let sequencer = {
            let dead_letters = dead_letters.clone();
            let reclocker = Reclocker::new(first_ts, config.max_changes_per_timestamp);
            let inputs = Inputs::new(input, requests, state.published());
            std::thread::Builder::new()
                .name("twinflow-sequencer".into())
                .spawn(move || sequence(inputs, engine, reclocker, &dead_letters, durable))
                .context("starting the sequencer thread")?
        };
        Ok(Pipeline {
            sources,
            control,
            state,
            metrics,
            dead_letters,
            sequencer,
            restored,
            restored_as_of,
            checkpoints,
        })
    }

    /// The position of every source in the checkpoint this pipeline started from (empty
    /// without one): where each source resumes instead of taking a snapshot.
    pub fn restored_positions(&self) -> &BTreeMap<String, SavedPosition> {
        &self.restored
    }

    /// The `as_of` the restored checkpoint is published at (0 without one): the served state
    /// is the restored one once it reaches this.
    pub fn restored_as_of(&self) -> u64 {
        self.restored_as_of
    }

    /// Checkpoint statistics, when the pipeline has a data directory.
    pub fn checkpoint_stats(&self) -> Option<Arc<CheckpointStats>> {
        self.checkpoints.clone()
    }

    /// Where sources send their transactions.
    pub fn sources(&self) -> TransactionSender {
        self.sources.clone()
    }

    /// What removes a source's rows from the views.
    pub fn retractor(&self) -> Retractor {
        Retractor {
            control: self.control.clone(),
            state: self.state.clone(),
        }
    }

    /// The served state.
    pub fn state(&self) -> ServedState {
        self.state.clone()
    }

    /// The engine's counters.
    pub fn metrics(&self) -> Arc<EngineMetrics> {
        self.metrics.clone()
    }

    /// The dead-letter record.
    pub fn dead_letters(&self) -> Arc<DeadLetterLog> {
        self.dead_letters.clone()
    }

    /// Stops after everything sent so far is applied and published. Sources must have
    /// dropped their senders (or stopped) for this to return.
    pub fn shutdown(self) {
        let Pipeline {
            sources, sequencer, ..
        } = self;
        drop(sources);
        match sequencer.join() {
            Ok(engine) => engine.shutdown(),
            Err(_) => tracing::error!("sequencer thread panicked"),
        }
    }
}
