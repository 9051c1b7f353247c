//! The engine: timely workers on their own threads, fed through bounded channels, and the
//! publisher thread that turns their output into consistent commits of the served state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use timely::dataflow::operators::capture::{Capture, Event, EventPusher};
use timely::progress::frontier::MutableAntichain;
use timely::WorkerConfig;
use twinflow_ingest::reclock::Seal;
use twinflow_ingest::{now_ms, TimestampedBatch};
use twinflow_views::{Commit, SourceProgress, StateWriter, UserStanding};

use crate::graph::{build_views, Output};
use crate::inputs::{BaseInputs, SavedInputs};
use crate::metrics::EngineMetrics;
use crate::records::{Projector, UserRec};
use crate::{EngineError, Time};

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Timely worker threads.
    pub workers: usize,
    /// Batches buffered per worker before `send` blocks (backpressure to the sources).
    pub queue: usize,
    /// How many timestamps the inputs may run ahead of the published (committed) output:
    /// the backpressure that keeps the publisher's queue, and so memory and latency, bounded.
    pub max_inflight: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: 2,
            queue: 16,
            max_inflight: 4,
        }
    }
}

type Update = (Output, Time, isize);

/// What the publisher thread receives.
enum ToPublisher {
    /// Output of one worker's dataflow.
    Output(Event<Time, Vec<Update>>),
    /// A timestamp was sealed at the given instant.
    Sealed(Seal, Instant),
}

struct OutputPusher(Sender<ToPublisher>);

impl EventPusher<Time, Vec<Update>> for OutputPusher {
    fn push(&mut self, event: Event<Time, Vec<Update>>) {
        // The publisher only goes away when the engine shuts down; nothing to deliver then.
        let _ = self.0.send(ToPublisher::Output(event));
    }
}

/// What a worker receives.
enum ToWorker {
    /// Input for the dataflow.
    Batch(Arc<TimestampedBatch>),
    /// Save the base tables as of the last sealed timestamp and send them here.
    Checkpoint(Sender<CheckpointShard>),
}

/// One worker's part of a checkpoint: a copy of its current records of every base table.
#[derive(Debug)]
pub struct CheckpointShard {
    /// The worker that saved it.
    pub worker: usize,
    /// The records, to be encoded by the receiver (off the worker's thread).
    pub records: SavedInputs,
}

/// The state an engine starts from instead of empty tables: a checkpoint's shards, restored as
/// timestamp `seal.ts` (published with `seal`'s source positions).
#[derive(Debug)]
pub struct Restore {
    /// The timestamp the restored state gets, and the positions it covers.
    pub seal: Seal,
    /// The shards, in worker order, as [`Engine::checkpoint`] produced them.
    pub shards: Vec<Vec<u8>>,
}

/// A running engine.
pub struct Engine {
    workers: Vec<Sender<ToWorker>>,
    /// Each worker's thread, once it runs: woken after each batch, since a worker waiting
    /// for timely events (parked for up to a millisecond) does not see its input channel.
    worker_threads: Arc<[OnceLock<Thread>]>,
    publisher_tx: Sender<ToPublisher>,
    guards: timely::communication::WorkerGuards<()>,
    publisher: JoinHandle<()>,
    metrics: Arc<EngineMetrics>,
}

impl Engine {
    /// Starts the workers and the publisher, which commits to `writer`; with `restore`, from
    /// a checkpoint's state, which is published first.
    pub fn start(
        config: EngineConfig,
        writer: StateWriter,
        restore: Option<Restore>,
    ) -> Result<Engine, EngineError> {
        let projector = Projector::new()?;
        let peers = config.workers.max(1);
        let (publisher_tx, publisher_rx) = crossbeam_channel::unbounded();
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..peers)
            .map(|_| crossbeam_channel::bounded(config.queue.max(1)))
            .unzip();
        let receivers: Mutex<Vec<Option<Receiver<ToWorker>>>> =
            Mutex::new(receivers.into_iter().map(Some).collect());
        let worker_threads: Arc<[OnceLock<Thread>]> = (0..peers).map(|_| OnceLock::new()).collect();
        let threads = worker_threads.clone();
        let baseline = restore.is_some();
        let restore = restore.map(|restore| {
            // The publisher learns of the restored timestamp before any worker output.
            let _ = publisher_tx.send(ToPublisher::Sealed(restore.seal.clone(), Instant::now()));
            Arc::new(restore)
        });
        let output = publisher_tx.clone();
        let max_inflight = config.max_inflight;
        let metrics = Arc::new(EngineMetrics::default());
        let published = metrics.clone();
        let timely_config = timely::Config {
            communication: timely::CommunicationConfig::Process(peers),
            worker: WorkerConfig::default(),
        };
        let guards = timely::execute(timely_config, move |worker| {
            let index = worker.index();
            let input = receivers.lock().unwrap_or_else(|e| e.into_inner())[index].take();
            let Some(input) = input else { return };
            // Registered before the first look at the input: a batch sent earlier is seen
            // there, one sent later wakes the thread.
            let _ = threads[index].set(std::thread::current());
            let output = OutputPusher(output.clone());
            let projector = projector.clone();
            let mut inputs = worker.dataflow::<Time, _, _>(|scope| {
                let (inputs, base) = BaseInputs::new(scope, projector, index, peers);
                build_views(base).inner.capture_into(output);
                inputs
            });
            if let Some(restore) = &restore {
                if let Err(err) = restore_shards(&mut inputs, restore, index, peers) {
                    tracing::error!("worker {index} could not restore the checkpoint: {err}");
                    return;
                }
            }
            loop {
                let mut fed = false;
                // Take input while the published state is not too far behind it.
                while inputs.time().saturating_sub(max_inflight) <= published.as_of() {
                    match input.try_recv() {
                        Ok(ToWorker::Batch(batch)) => {
                            feed(&mut inputs, &batch);
                            fed = true;
                        }
                        Ok(ToWorker::Checkpoint(shards)) => {
                            let _ = shards.send(CheckpointShard {
                                worker: index,
                                records: inputs.save(),
                            });
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return,
                    }
                }
                worker.step_or_park(Some(if fed {
                    Duration::ZERO
                } else {
                    Duration::from_millis(1)
                }));
            }
        })
        .map_err(EngineError::Start)?;

        let publisher = {
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name("twinflow-publisher".into())
                .spawn(move || publish(publisher_rx, writer, peers, baseline, &metrics))
                .map_err(|e| EngineError::Start(e.to_string()))?
        };
        Ok(Engine {
            workers: senders,
            worker_threads,
            publisher_tx,
            guards,
            publisher,
            metrics,
        })
    }

    /// Hands one batch to every worker; blocks while their queues are full.
    pub fn send(&self, batch: TimestampedBatch) -> Result<(), EngineError> {
        if let TimestampedBatch::Seal(seal) = &batch {
            self.publisher_tx
                .send(ToPublisher::Sealed(seal.clone(), Instant::now()))
                .map_err(|_| EngineError::Stopped)?;
        }
        let batch = Arc::new(batch);
        self.to_workers(|| ToWorker::Batch(batch.clone()))
    }

    /// Sends `message()` to every worker and wakes it; blocks while a worker's queue is full.
    fn to_workers(&self, message: impl Fn() -> ToWorker) -> Result<(), EngineError> {
        for (worker, thread) in self.workers.iter().zip(self.worker_threads.iter()) {
            worker.send(message()).map_err(|_| EngineError::Stopped)?;
            if let Some(thread) = thread.get() {
                thread.unpark();
            }
        }
        Ok(())
    }

    /// Asks every worker for its base tables as of the last timestamp sealed before this call;
    /// the shards arrive on the returned channel, one per worker, without stalling the
    /// caller. Call it only between timestamps (after a seal, before the next changes).
    pub fn checkpoint(&self) -> Result<Receiver<CheckpointShard>, EngineError> {
        let (tx, rx) = crossbeam_channel::bounded(self.workers.len());
        self.to_workers(|| ToWorker::Checkpoint(tx.clone()))?;
        Ok(rx)
    }

    /// The number of workers, which is also the number of shards of a checkpoint.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The engine's counters.
    pub fn metrics(&self) -> Arc<EngineMetrics> {
        self.metrics.clone()
    }

    /// Stops taking input, lets the workers finish what they have, and waits for the
    /// publisher to commit it.
    pub fn shutdown(self) {
        let Engine {
            workers,
            publisher_tx,
            guards,
            publisher,
            ..
        } = self;
        drop(workers);
        drop(publisher_tx);
        for result in guards.join() {
            if let Err(e) = result {
                tracing::error!("dataflow worker failed: {e}");
            }
        }
        if publisher.join().is_err() {
            tracing::error!("publisher thread panicked");
        }
    }
}

/// Loads a checkpoint into a fresh worker's inputs as timestamp `restore.seal.ts`: its own
/// shard when the worker layout is unchanged, otherwise the keys it owns from every shard.
fn restore_shards(
    inputs: &mut BaseInputs,
    restore: &Restore,
    index: usize,
    peers: usize,
) -> bincode::Result<()> {
    inputs.advance_to(restore.seal.ts);
    let started = Instant::now();
    let records = if restore.shards.len() == peers {
        inputs.restore(&restore.shards[index], false)?
    } else {
        let mut records = 0;
        for shard in &restore.shards {
            records += inputs.restore(shard, true)?;
        }
        records
    };
    inputs.advance_to(restore.seal.ts + 1);
    tracing::info!(
        "worker {index}: restored {records} records in {:?}",
        started.elapsed()
    );
    Ok(())
}

fn feed(inputs: &mut BaseInputs, batch: &TimestampedBatch) {
    match batch {
        TimestampedBatch::Changes { ts, changes } => {
            if inputs.time() < *ts {
                inputs.advance_to(*ts);
            }
            for change in changes {
                inputs.apply(change);
            }
        }
        TimestampedBatch::Retract { ts, tables } => {
            if inputs.time() < *ts {
                inputs.advance_to(*ts);
            }
            inputs.clear(tables);
        }
        TimestampedBatch::Seal(seal) => inputs.advance_to(seal.ts + 1),
    }
}

/// Collects the workers' output and commits every timestamp once all workers are past it.
/// `baseline`: the first commit is a restored checkpoint (see `twinflow_views::Commit::baseline`).
fn publish(
    input: Receiver<ToPublisher>,
    mut writer: StateWriter,
    peers: usize,
    mut baseline: bool,
    metrics: &EngineMetrics,
) {
    let mut frontier = MutableAntichain::new();
    frontier.update_iter([(0, peers as i64)]);
    let mut pending: Vec<Update> = Vec::new();
    let mut seals: BTreeMap<Time, (Seal, Instant)> = BTreeMap::new();
    while let Ok(first) = input.recv() {
        for message in std::iter::once(first).chain(input.try_iter()) {
            match message {
                ToPublisher::Output(Event::Messages(_, updates)) => pending.extend(updates),
                ToPublisher::Output(Event::Progress(changes)) => {
                    frontier.update_iter(changes);
                }
                ToPublisher::Sealed(seal, at) => {
                    seals.insert(seal.ts, (seal, at));
                }
            }
        }
        // Every sealed timestamp before the frontier is complete (times are totally ordered).
        let later = match frontier.frontier().first() {
            Some(first_incomplete) => seals.split_off(first_incomplete),
            None => BTreeMap::new(),
        };
        let complete: Vec<(Seal, Instant)> =
            std::mem::replace(&mut seals, later).into_values().collect();
        let Some(as_of) = complete.last().map(|(seal, _)| seal.ts) else {
            continue;
        };
        let mut ready = if pending.iter().all(|(_, t, _)| *t <= as_of) {
            std::mem::take(&mut pending)
        } else {
            let (ready, later) = pending.drain(..).partition(|(_, t, _)| *t <= as_of);
            pending = later;
            ready
        };
        if complete.len() > 1 {
            // A key's updates must come in time order (each worker sends them so; stable).
            ready.sort_by_key(|(_, t, _)| *t);
        }
        let applied_ms = now_ms();
        let mut sources: BTreeMap<String, SourceProgress> = BTreeMap::new();
        let mut removed_sources = Vec::new();
        for (seal, _) in &complete {
            for source in &seal.removed {
                sources.remove(&**source);
                removed_sources.push(source.to_string());
            }
            for (source, position, commit_ms) in &seal.positions {
                removed_sources.retain(|removed| **removed != **source);
                sources.insert(
                    source.to_string(),
                    SourceProgress {
                        source: source.to_string(),
                        position: serde_json::to_value(position).unwrap_or(serde_json::Value::Null),
                        last_commit_ms: *commit_ms,
                        applied_ms,
                    },
                );
            }
        }
        let mut updates = Vec::with_capacity(ready.len());
        let mut users = Vec::new();
        for (output, _, diff) in ready {
            match output {
                Output::View(view, update) => updates.push((view, update)),
                Output::User(user) => users.push((standing(user), diff)),
            }
        }
        let view_updates = updates.len() as u64;
        let visible = writer.commit(Commit {
            as_of,
            updates,
            sources: sources.into_values().collect(),
            removed_sources,
            baseline: std::mem::take(&mut baseline),
            users,
        });
        let latencies: Vec<Duration> = complete
            .iter()
            .map(|(_, at)| visible.duration_since(*at))
            .collect();
        let transactions = complete.iter().map(|(s, _)| s.transactions).sum();
        let changes = complete.iter().map(|(s, _)| s.changes).sum();
        metrics.record_commit(as_of, transactions, changes, view_updates, &latencies);
    }
}

/// A user's standing as the served state keeps it.
fn standing(user: UserRec) -> UserStanding {
    UserStanding {
        id: user.id.into(),
        company_id: user.company_id.map(i64::from),
        active: user.is_active,
    }
}
