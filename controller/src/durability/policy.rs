//! The sequencer's durability policy: timestamps are reserved before they are used, every
//! source's position is tracked at the last sealed timestamp, and a checkpoint is taken
//! between two timestamps once the interval has passed and the previous one is written.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinflow_dataflows::{Engine, Restore};
use twinflow_ingest::reclock::Seal;
use twinflow_ingest::TimestampedBatch;

use super::checkpointer::{Checkpointer, Pending};
use super::stats::{CheckpointStats, RestoredCheckpoint};
use super::{DataDir, DurabilityConfig, Reservation, SavedPosition};

/// The sequencer's side of durability: where timestamps are reserved, what the sources'
/// positions are at the last sealed timestamp, and when to checkpoint next.
pub(crate) struct Durable {
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
    pub(crate) fn open(config: &DurabilityConfig) -> anyhow::Result<(Durable, Option<Restore>)> {
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
    pub(crate) fn before_sending(&mut self, batch: &TimestampedBatch) -> anyhow::Result<()> {
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

    /// Every source's position in the restored checkpoint (empty without one).
    pub(crate) fn positions(&self) -> &BTreeMap<String, SavedPosition> {
        &self.positions
    }

    /// The checkpoint statistics that `/v1/status` and `/metrics` show.
    pub(crate) fn stats(&self) -> Arc<CheckpointStats> {
        self.stats.clone()
    }

    /// The first timestamp this run may give out: above everything restored or reserved.
    pub(crate) fn first_timestamp(&self) -> u64 {
        self.sealed_ts + 1
    }

    /// Whether sealed timestamps are not yet in a checkpoint.
    fn behind(&self) -> bool {
        self.sealed_ts > self.checkpointed_ts
    }

    /// When the sequencer should look again for a checkpoint to take: never while every
    /// sealed timestamp is in one; otherwise when the interval is up, and no sooner than
    /// [`RETRY`] from now (a due checkpoint that could not be taken, because the previous one
    /// is still being written or a transaction is partly in, is looked at again then).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.behind()
            .then(|| (self.last_checkpoint + self.interval).max(Instant::now() + RETRY))
    }

    /// Whether it is time for a checkpoint.
    pub(crate) fn due(&self) -> bool {
        self.behind()
            && self.last_checkpoint.elapsed() >= self.interval
            && self.checkpointer.is_idle()
    }

    /// Asks the workers for the state at the last sealed timestamp (the caller has just sent
    /// a seal and no changes after it) and hands it to the checkpoint thread.
    pub(crate) fn checkpoint(&mut self, engine: &Engine) {
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

    /// Takes a last checkpoint if sealed timestamps are not in one (`sealed`: no timestamp is
    /// open, so the state is that of the last seal), which makes the next start quick; then
    /// waits for the checkpoint thread to write what it was given.
    pub(crate) fn finish(mut self, engine: &Engine, sealed: bool) {
        if self.behind() && sealed {
            self.checkpoint(engine);
        }
        self.checkpointer.finish();
    }
}

/// The shortest wait for a checkpoint's deadline.
const RETRY: Duration = Duration::from_millis(10);
