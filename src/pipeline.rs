//! The pipeline: sources → sequencer → dataflow engine → served state.
//!
//! Sources send [`Transaction`]s into one bounded channel. The sequencer thread validates every
//! change against the catalog (a bad one goes to the dead-letter record with its reason and
//! the rest of its transaction goes on), gives every transaction its timestamp with the
//! [`Reclocker`], and hands the batches to the [`Engine`], whose bounded queues push back on
//! the sources when the dataflow falls behind.
//!
//! Timestamps adapt to the load: when the input runs dry the open timestamp is sealed at once
//! if the engine has published everything before it (low latency), and otherwise keeps
//! collecting transactions until the engine catches up or the timestamp is full (high
//! throughput: every timestamp has a fixed cost in the dataflow).

use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::mpsc;
use twinflow_dataflows::{Engine, EngineConfig, EngineMetrics};
use twinflow_ingest::validate::check_change;
use twinflow_ingest::{DeadLetter, DeadLetterLog, Reclocker, Transaction};
use twinflow_views::{ServedState, StateConfig};

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// The dataflow engine's settings.
    pub engine: EngineConfig,
    /// The served state's retention settings.
    pub state: StateConfig,
    /// Row changes after which a timestamp is sealed even if more input is waiting.
    pub max_changes_per_timestamp: usize,
    /// Transactions buffered between the sources and the sequencer.
    pub source_queue: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            engine: EngineConfig::default(),
            state: StateConfig::default(),
            max_changes_per_timestamp: 10_000,
            source_queue: 64,
        }
    }
}

/// A running pipeline.
pub struct Pipeline {
    sources: mpsc::Sender<Transaction>,
    state: ServedState,
    metrics: Arc<EngineMetrics>,
    dead_letters: Arc<DeadLetterLog>,
    sequencer: JoinHandle<Engine>,
}

impl Pipeline {
    /// Starts the engine and the sequencer.
    pub fn start(config: PipelineConfig) -> anyhow::Result<Pipeline> {
        let (state, writer) = ServedState::new(config.state.clone());
        let engine = Engine::start(config.engine.clone(), writer, None)
            .context("starting the dataflow engine")?;
        let metrics = engine.metrics();
        let dead_letters = Arc::new(DeadLetterLog::default());
        let (sources, input) = mpsc::channel(config.source_queue.max(1));
        let sequencer = {
            let dead_letters = dead_letters.clone();
            let max_changes = config.max_changes_per_timestamp;
            let published = metrics.clone();
            std::thread::Builder::new()
                .name("twinflow-sequencer".into())
                .spawn(move || sequence(input, engine, max_changes, &published, &dead_letters))
                .context("starting the sequencer thread")?
        };
        Ok(Pipeline {
            sources,
            state,
            metrics,
            dead_letters,
            sequencer,
        })
    }

    /// Where sources send their transactions.
    pub fn sources(&self) -> mpsc::Sender<Transaction> {
        self.sources.clone()
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

/// Moves transactions from the sources to the engine until every source sender is gone.
fn sequence(
    mut input: mpsc::Receiver<Transaction>,
    engine: Engine,
    max_changes_per_timestamp: usize,
    published: &EngineMetrics,
    dead_letters: &DeadLetterLog,
) -> Engine {
    use mpsc::error::TryRecvError;
    let mut reclocker = Reclocker::new(1, max_changes_per_timestamp);
    let mut batches = Vec::new();
    loop {
        let received = match input.try_recv() {
            Ok(txn) => Some(txn),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if reclocker.open_timestamp().is_none() => {
                match input.blocking_recv() {
                    Some(txn) => Some(txn),
                    None => break,
                }
            }
            Err(TryRecvError::Empty) => {
                // Input is dry with a timestamp open: seal it if the engine has caught up with
                // everything before it, otherwise let it collect more while the engine works.
                // (A transaction still arriving in parts keeps it open either way.)
                let open = reclocker.open_timestamp().unwrap_or_default();
                if published.as_of() + 1 >= open {
                    reclocker.idle(&mut batches);
                }
                if reclocker.open_timestamp().is_some() {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                None
            }
        };
        if let Some(mut txn) = received {
            reject_invalid(&mut txn, dead_letters);
            reclocker.push(txn, &mut batches);
        }
        if !forward(&engine, &mut batches) {
            return engine;
        }
    }
    reclocker.idle(&mut batches);
    forward(&engine, &mut batches);
    engine
}

fn forward(engine: &Engine, batches: &mut Vec<twinflow_ingest::TimestampedBatch>) -> bool {
    for batch in batches.drain(..) {
        if engine.send(batch).is_err() {
            tracing::error!("the dataflow engine stopped; the sequencer stops too");
            return false;
        }
    }
    true
}

/// Removes the changes that do not fit the catalog, recording each as a dead letter.
fn reject_invalid(txn: &mut Transaction, dead_letters: &DeadLetterLog) {
    txn.changes.retain(|change| match check_change(change) {
        Ok(()) => true,
        Err(reason) => {
            dead_letters.record(DeadLetter::new(
                &txn.source,
                txn.position.clone(),
                Some(change.table.to_string()),
                reason,
                format!("{change:?}"),
            ));
            false
        }
    });
}
