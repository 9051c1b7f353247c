//! The checkpoint thread: it collects the workers' shards of a requested checkpoint and writes
//! the file, so that neither the sequencer nor the dataflow waits for the disk.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::Context;
use crossbeam_channel::Receiver;
use twinflow_dataflows::CheckpointShard;
use twinflow_ingest::now_ms;

use super::stats::{CheckpointStats, WrittenCheckpoint};
use super::{Checkpoint, DataDir, SavedPosition};

/// A checkpoint the sequencer has asked the workers for.
pub struct Pending {
    /// Its timestamp.
    pub ts: u64,
    /// Every source's position at `ts`.
    pub positions: BTreeMap<String, SavedPosition>,
    /// Where the workers' shards arrive.
    pub shards: Receiver<CheckpointShard>,
    /// How many shards to expect.
    pub workers: usize,
    /// When the workers were asked.
    pub requested: Instant,
}

/// The thread that collects the workers' shards and writes checkpoint files.
pub struct Checkpointer {
    jobs: Option<crossbeam_channel::Sender<Pending>>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<CheckpointStats>,
}

impl Checkpointer {
    /// Starts the thread writing into `dir`.
    pub fn start(dir: DataDir, stats: Arc<CheckpointStats>) -> anyhow::Result<Checkpointer> {
        // One checkpoint in flight at a time: a slow disk delays the next one, not the engine.
        let (jobs, rx) = crossbeam_channel::bounded::<Pending>(1);
        let thread = {
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("twinflow-checkpointer".into())
                .spawn(move || {
                    lower_priority();
                    for pending in rx {
                        let ts = pending.ts;
                        match write_checkpoint(&dir, pending) {
                            Ok((written, positions)) => {
                                tracing::info!(
                                    "checkpoint at {ts}: {} bytes in {} ms",
                                    written.bytes,
                                    written.duration_ms
                                );
                                stats.record_written(written, positions);
                            }
                            Err(err) => {
                                tracing::error!("checkpoint at {ts} failed: {err:#}");
                                stats.record_failure();
                            }
                        }
                    }
                })
                .context("starting the checkpoint thread")?
        };
        Ok(Checkpointer {
            jobs: Some(jobs),
            thread: Some(thread),
            stats,
        })
    }

    /// Whether a new checkpoint can be handed over now (the previous one is written).
    pub fn is_idle(&self) -> bool {
        self.jobs.as_ref().is_some_and(|jobs| jobs.is_empty())
    }

    /// Hands a requested checkpoint to the thread; waits if one is still queued.
    pub fn submit(&self, pending: Pending) {
        if let Some(jobs) = &self.jobs {
            if jobs.send(pending).is_err() {
                self.stats.record_failure();
            }
        }
    }

    /// Writes what was submitted, then stops.
    pub fn finish(mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the checkpoint thread panicked");
            }
        }
    }
}

/// Gives the calling thread the lowest scheduling priority: encoding and writing a checkpoint
/// uses whatever CPU the dataflow workers leave, instead of competing with them.
fn lower_priority() {
    // SAFETY: gettid and setpriority only read their arguments; on Linux a thread id names
    // just this thread for PRIO_PROCESS.
    let result = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19)
    };
    if result != 0 {
        tracing::debug!(
            "could not lower the checkpoint thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn write_checkpoint(
    dir: &DataDir,
    pending: Pending,
) -> anyhow::Result<(WrittenCheckpoint, BTreeMap<String, SavedPosition>)> {
    let mut shards: Vec<Option<Vec<u8>>> = vec![None; pending.workers];
    for _ in 0..pending.workers {
        let shard = pending
            .shards
            .recv()
            .context("a dataflow worker stopped before saving its shard")?;
        let bytes = shard
            .records
            .encode()
            .context("encoding a worker's shard")?;
        if let Some(slot) = shards.get_mut(shard.worker) {
            *slot = Some(bytes);
        }
    }
    let shards = shards
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .context("a worker's shard is missing")?;
    let checkpoint = Checkpoint {
        ts: pending.ts,
        created_ms: now_ms(),
        positions: pending.positions,
        shards,
    };
    let (ts, created_ms) = (checkpoint.ts, checkpoint.created_ms);
    let positions = checkpoint.positions.clone();
    let bytes = dir.write(checkpoint)?;
    let written = WrittenCheckpoint {
        ts,
        created_ms,
        bytes,
        duration_ms: pending.requested.elapsed().as_millis() as u64,
    };
    Ok((written, positions))
}
