//! The pipeline: sources → sequencer → dataflow engine → served state.
//!
//! Sources send [`Transaction`]s into one queue, bounded in row changes. The sequencer thread
//! validates every change against the catalog (a bad one goes to the dead-letter record with
//! its reason and the rest of its transaction goes on), gives every transaction its timestamp
//! with the [`Reclocker`], and hands the batches to the [`Engine`], whose bounded queues push
//! back on the sources when the dataflow falls behind.
//!
//! Timestamps adapt to the load: when the input runs dry the open timestamp is sealed at once
//! if the engine has published everything before it (low latency), and otherwise keeps
//! collecting transactions until the engine catches up or the timestamp is full (high
//! throughput: every timestamp has a fixed cost in the dataflow).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use twinflow_connectors::{transaction_queue, TransactionReceiver, TransactionSender};
use twinflow_dataflows::{Engine, EngineConfig, EngineMetrics, Restore};
use twinflow_ingest::reclock::Seal;
use twinflow_ingest::validate::check_change;
use twinflow_ingest::{
    DeadLetter, DeadLetterLog, Reclocker, SourceId, TableId, TimestampedBatch, Transaction,
};
use twinflow_views::{ServedState, StateConfig};

use crate::durability::{
    CheckpointStats, Checkpointer, DataDir, DurabilityConfig, Pending, Reservation,
    RestoredCheckpoint, SavedPosition,
};

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
enum Control {
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
        wait_until_published(&self.state, ts).await;
        Ok(ts)
    }
}

/// Completes once `state` shows `as_of` (or a later timestamp).
pub async fn wait_until_published(state: &ServedState, as_of: u64) {
    while state.snapshot().as_of < as_of {
        tokio::time::sleep(Duration::from_millis(5)).await;
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
        let (state, writer) = ServedState::new(config.state.clone());
        let (durable, restore) = match &config.durability {
            Some(durability) => {
                let (durable, restore) = Durable::open(durability)?;
                (Some(durable), restore)
            }
            None => (None, None),
        };
        let restored = durable
            .as_ref()
            .map(|d| d.positions.clone())
            .unwrap_or_default();
        let checkpoints = durable.as_ref().map(|d| d.stats.clone());
        // The reclocker goes on after the restored (or last reserved) timestamp.
        let first_ts = durable.as_ref().map_or(1, |d| d.sealed_ts + 1);
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
            let published = metrics.clone();
            std::thread::Builder::new()
                .name("twinflow-sequencer".into())
                .spawn(move || {
                    let inputs = Inputs::new(input, requests);
                    sequence(
                        inputs,
                        engine,
                        reclocker,
                        &published,
                        &dead_letters,
                        durable,
                    )
                })
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

/// The sequencer's side of durability: where timestamps are reserved, what the sources'
/// positions are at the last sealed timestamp, and when to checkpoint next.
struct Durable {
    reservation: Reservation,
    checkpointer: Checkpointer,
    stats: Arc<CheckpointStats>,
    interval: Duration,
    /// Every source's position at `sealed_ts`.
    positions: BTreeMap<String, SavedPosition>,
    sealed_ts: u64,
    checkpointed_ts: u64,
    last_checkpoint: Instant,
}

impl Durable {
    /// Opens the data directory and loads its newest valid checkpoint, which the engine
    /// restores as the first timestamp above every timestamp an earlier run reserved.
    fn open(config: &DurabilityConfig) -> anyhow::Result<(Durable, Option<Restore>)> {
        let dir = DataDir::open(&config.dir)?;
        let stats = Arc::new(CheckpointStats::default());
        let loading = Instant::now();
        let reserved = dir.reserved_timestamps()?;
        let (restore, positions) = match dir.load_newest()? {
            Some(checkpoint) => {
                let as_of = reserved.max(checkpoint.ts) + 1;
                stats.restored(
                    RestoredCheckpoint {
                        ts: checkpoint.ts,
                        as_of,
                        created_ms: checkpoint.created_ms,
                        load_ms: loading.elapsed().as_millis() as u64,
                    },
                    &checkpoint.positions,
                );
                tracing::info!(
                    "restoring the checkpoint at {} (taken at {} ms) as {as_of}",
                    checkpoint.ts,
                    checkpoint.created_ms
                );
                let seal = Seal {
                    ts: as_of,
                    positions: checkpoint
                        .positions
                        .iter()
                        .map(|(source, saved)| {
                            (
                                Arc::from(source.as_str()),
                                saved.position.clone(),
                                saved.commit_ms,
                            )
                        })
                        .collect(),
                    ..Seal::default()
                };
                let restore = Restore {
                    seal,
                    shards: checkpoint.shards,
                };
                (Some(restore), checkpoint.positions)
            }
            // No checkpoint, but an earlier run published timestamps: the empty state is
            // restored as the next one, so that `as_of` never goes back (subscribers resuming
            // across the restart get a reset).
            None if reserved > 0 => {
                let seal = Seal {
                    ts: reserved + 1,
                    ..Seal::default()
                };
                let restore = Restore {
                    seal,
                    shards: Vec::new(),
                };
                (Some(restore), BTreeMap::new())
            }
            None => (None, BTreeMap::new()),
        };
        let sealed_ts = restore.as_ref().map_or(reserved, |r| r.seal.ts);
        let durable = Durable {
            reservation: Reservation::new(dir.clone(), sealed_ts + 1)?,
            checkpointer: Checkpointer::start(dir, stats.clone())?,
            stats,
            interval: config.interval,
            positions,
            sealed_ts,
            checkpointed_ts: sealed_ts,
            last_checkpoint: Instant::now(),
        };
        Ok((durable, restore))
    }

    /// Notes a batch on its way to the engine: reserves its timestamp, and tracks positions.
    fn before_sending(&mut self, batch: &TimestampedBatch) -> anyhow::Result<()> {
        match batch {
            TimestampedBatch::Changes { ts, .. } | TimestampedBatch::Retract { ts, .. } => {
                self.reservation.cover(*ts)
            }
            TimestampedBatch::Seal(seal) => {
                self.reservation.cover(seal.ts)?;
                for source in &seal.removed {
                    self.positions.remove(&**source);
                }
                for (source, position, commit_ms) in &seal.positions {
                    self.positions.insert(
                        source.to_string(),
                        SavedPosition {
                            position: position.clone(),
                            commit_ms: *commit_ms,
                        },
                    );
                }
                self.sealed_ts = seal.ts;
                Ok(())
            }
        }
    }

    /// Whether sealed timestamps are not yet in a checkpoint.
    fn behind(&self) -> bool {
        self.sealed_ts > self.checkpointed_ts
    }

    /// Whether it is time for a checkpoint.
    fn due(&self) -> bool {
        self.behind()
            && self.last_checkpoint.elapsed() >= self.interval
            && self.checkpointer.is_idle()
    }

    /// Asks the workers for the state at the last sealed timestamp (the caller has just sent
    /// a seal and no changes after it) and hands it to the checkpoint thread.
    fn checkpoint(&mut self, engine: &Engine) {
        match engine.checkpoint() {
            Ok(shards) => {
                self.checkpointer.submit(Pending {
                    ts: self.sealed_ts,
                    positions: self.positions.clone(),
                    shards,
                    workers: engine.workers(),
                    requested: Instant::now(),
                });
                self.checkpointed_ts = self.sealed_ts;
            }
            Err(err) => tracing::error!("could not request a checkpoint: {err}"),
        }
        self.last_checkpoint = Instant::now();
    }
}

/// What the sequencer reads: the sources' transactions and control requests.
struct Inputs {
    input: TransactionReceiver,
    requests: mpsc::Receiver<Control>,
    /// Transactions taken from `input` and not yet handed out, oldest first.
    taken: VecDeque<Transaction>,
}

/// What woke the sequencer up.
enum Wake {
    Transaction(Transaction),
    Control(Control),
    /// Every source sender is gone.
    Closed,
    /// Nothing came within the time asked for.
    TimedOut,
}

/// Transactions taken from the sources' queue at a time.
const TAKE_AT_ONCE: usize = 256;

impl Inputs {
    fn new(input: TransactionReceiver, requests: mpsc::Receiver<Control>) -> Self {
        Inputs {
            input,
            requests,
            taken: VecDeque::with_capacity(TAKE_AT_ONCE),
        }
    }

    /// The next transaction already queued, without waiting. Queued ones are taken up to
    /// [`TAKE_AT_ONCE`] at a time, which gives their room in the queue back at once: taken one
    /// by one, each would wake a source waiting for room.
    fn try_next(
        &mut self,
        waiter: &tokio::runtime::Runtime,
    ) -> Result<Transaction, mpsc::error::TryRecvError> {
        if self.taken.is_empty() && !self.input.is_empty() {
            let mut taken = Vec::with_capacity(TAKE_AT_ONCE);
            // Returns at once: messages are queued.
            waiter.block_on(self.input.recv_many(&mut taken, TAKE_AT_ONCE));
            self.taken.extend(taken);
        }
        match self.taken.pop_front() {
            Some(txn) => Ok(txn),
            None => self.input.try_recv(),
        }
    }

    /// Every transaction queued now, oldest first.
    fn drain_queued(&mut self) -> Vec<Transaction> {
        let mut queued: Vec<Transaction> = self.taken.drain(..).collect();
        for _ in 0..self.input.len() {
            let Ok(txn) = self.input.try_recv() else {
                break;
            };
            queued.push(txn);
        }
        queued
    }

    /// Waits for a transaction or a control request, for at most `timeout` if given.
    fn wait(&mut self, waiter: &tokio::runtime::Runtime, timeout: Option<Duration>) -> Wake {
        let Inputs {
            input, requests, ..
        } = self;
        waiter.block_on(async {
            let expiry = async {
                match timeout {
                    Some(timeout) => tokio::time::sleep(timeout).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                Some(request) = requests.recv() => Wake::Control(request),
                txn = input.recv() => txn.map_or(Wake::Closed, Wake::Transaction),
                () = expiry => Wake::TimedOut,
            }
        })
    }
}

/// Moves transactions from the sources to the engine until every source sender is gone,
/// checkpointing between timestamps when a data directory is configured.
fn sequence(
    mut inputs: Inputs,
    engine: Engine,
    mut reclocker: Reclocker,
    published: &EngineMetrics,
    dead_letters: &DeadLetterLog,
    mut durable: Option<Durable>,
) -> Engine {
    use mpsc::error::TryRecvError;
    // Waits on both channels when idle (with a timer for the checkpoint's poll; no I/O driver).
    let waiter = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(waiter) => waiter,
        Err(err) => {
            tracing::error!("cannot build the sequencer's waiter: {err}; the sequencer stops");
            return engine;
        }
    };
    let mut batches = Vec::new();
    loop {
        let mut request = inputs.requests.try_recv().ok();
        let received = match inputs.try_next(&waiter) {
            Ok(txn) => Some(txn),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) if reclocker.open_timestamp().is_none() => {
                // Idle with state not yet checkpointed: look again within 10 ms, so that the
                // checkpoint comes when it is due. (Input wakes the sequencer at once either
                // way: sleeping instead cost a closed loop up to 10 ms per timestamp.)
                let poll = durable
                    .as_ref()
                    .is_some_and(Durable::behind)
                    .then_some(Duration::from_millis(10));
                match inputs.wait(&waiter, poll) {
                    Wake::Transaction(txn) => Some(txn),
                    Wake::Control(woken_by) => {
                        request = Some(woken_by);
                        None
                    }
                    Wake::TimedOut => None,
                    Wake::Closed => break,
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
        if let Some(txn) = received {
            admit(txn, &mut reclocker, &mut batches, dead_letters);
        }
        // After the transaction in hand: it was queued before the request.
        if let Some(request) = request {
            if !control(
                request,
                &mut inputs,
                &engine,
                &mut reclocker,
                &mut batches,
                dead_letters,
                durable.as_mut(),
            ) {
                return engine;
            }
        }
        if !forward(&engine, &mut batches, durable.as_mut()) {
            return engine;
        }
        if let Some(durable) = durable.as_mut().filter(|d| d.due()) {
            // Close the open timestamp (unless a transaction is partly in) to checkpoint at it.
            reclocker.idle(&mut batches);
            if !forward(&engine, &mut batches, Some(&mut *durable)) {
                return engine;
            }
            if reclocker.open_timestamp().is_none() {
                durable.checkpoint(&engine);
            }
        }
    }
    reclocker.idle(&mut batches);
    if forward(&engine, &mut batches, durable.as_mut()) {
        if let Some(mut durable) = durable {
            // A last checkpoint on the way out makes the next start quick.
            if durable.behind() && reclocker.open_timestamp().is_none() {
                durable.checkpoint(&engine);
            }
            durable.checkpointer.finish();
        }
    }
    engine
}

/// Carries out a control request; false when the pipeline must stop.
fn control(
    request: Control,
    inputs: &mut Inputs,
    engine: &Engine,
    reclocker: &mut Reclocker,
    batches: &mut Vec<TimestampedBatch>,
    dead_letters: &DeadLetterLog,
    durable: Option<&mut Durable>,
) -> bool {
    match request {
        Control::Retract {
            source,
            tables,
            done,
        } => {
            // What was queued before the request (all the removed source sent among it) goes
            // first.
            for txn in inputs.drain_queued() {
                admit(txn, reclocker, batches, dead_letters);
            }
            let ts = reclocker.retract(&source, tables, batches);
            reclocker.idle(batches);
            tracing::info!(source = %source, "retracting the source's rows at {ts}");
            let forwarded = forward(engine, batches, durable);
            // The requester may have given up waiting; nothing to tell it then.
            let _ = done.send(ts);
            forwarded
        }
    }
}

/// Sends `batches` to the engine; false (after logging why) when the pipeline must stop.
fn forward(
    engine: &Engine,
    batches: &mut Vec<TimestampedBatch>,
    mut durable: Option<&mut Durable>,
) -> bool {
    for batch in batches.drain(..) {
        if let Some(durable) = durable.as_deref_mut() {
            if let Err(err) = durable.before_sending(&batch) {
                tracing::error!("{err:#}; the sequencer stops");
                return false;
            }
        }
        if engine.send(batch).is_err() {
            tracing::error!("the dataflow engine stopped; the sequencer stops too");
            return false;
        }
    }
    true
}

/// Hands `txn` to the reclocker without the changes that do not fit the catalog, each recorded
/// as a dead letter.
fn admit(
    mut txn: Transaction,
    reclocker: &mut Reclocker,
    batches: &mut Vec<TimestampedBatch>,
    dead_letters: &DeadLetterLog,
) {
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
    reclocker.push(txn, batches);
}
