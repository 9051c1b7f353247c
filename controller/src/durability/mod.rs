//! Durability: the data directory, checkpoints of the base tables with every source's position,
//! and the reservation of timestamps across restarts.
//!
//! A checkpoint is taken by the sequencer between two timestamps (the workers save their
//! shards in input order, so the state is exactly that of the last sealed timestamp) when the
//! [`policy`] says it is due, and written by the [`checkpointer`] thread, so neither the
//! sequencer nor the dataflow waits for the disk; [`file`] is the format. At start-up the
//! newest checkpoint that passes its checks is restored; corrupt ones are logged and skipped.
//!
//! Timestamps are reserved ahead in the data directory: an engine never publishes an `as_of`
//! beyond its reservation, and a restarted engine starts above it. So no `as_of` is ever given
//! to two different states, and a subscriber resuming across a restart is reset rather than
//! sent changes relative to a state that no longer exists.

mod checkpointer;
pub(crate) mod file;
mod policy;
mod stats;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use twinflow_ingest::SourcePosition;

use file::CorruptCheckpoint;
pub(crate) use policy::Durable;
pub use stats::{CheckpointStats, RestoredCheckpoint, WrittenCheckpoint};

/// Checkpoint files kept in the data directory (older ones are deleted).
const KEEP_CHECKPOINTS: usize = 3;
/// Timestamps reserved per write of the reservation file.
const RESERVE_AHEAD: u64 = 1_000_000;
/// The file holding the reserved timestamps.
const RESERVATION_FILE: &str = "timestamps";

/// Where and how often to checkpoint.
#[derive(Clone, Debug)]
pub struct DurabilityConfig {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// Time between checkpoints.
    pub interval: Duration,
}

/// One source's position in a checkpoint, with the commit time of its last transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedPosition {
    /// Where the source resumes.
    pub position: SourcePosition,
    /// Commit time (ms since the epoch) of the last transaction the checkpoint includes.
    pub commit_ms: u64,
}

/// A checkpoint: the base tables at `ts` and every source's position there.
#[derive(Debug)]
pub struct Checkpoint {
    /// The last timestamp included.
    pub ts: u64,
    /// When it was taken (ms since the epoch).
    pub created_ms: u64,
    /// Per source name.
    pub positions: BTreeMap<String, SavedPosition>,
    /// The dataflow workers' shards.
    pub shards: Vec<Vec<u8>>,
}

/// The data directory, held exclusively by this process while any clone of it lives.
#[derive(Clone, Debug)]
pub struct DataDir {
    dir: PathBuf,
    /// The lock file, locked: two engines writing one directory would overwrite each other's
    /// checkpoints and catalog.
    _lock: Arc<fs::File>,
}

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "LOCK";

impl DataDir {
    /// Opens (creating) the data directory and locks it; refused while another process
    /// holds it.
    pub fn open(dir: &Path) -> anyhow::Result<DataDir> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => anyhow::bail!(
                "the data directory {} is in use by another twinflow process (it holds {})",
                dir.display(),
                path.display()
            ),
            Err(fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("locking {}", path.display()))
            }
        }
        Ok(DataDir {
            dir: dir.to_path_buf(),
            _lock: Arc::new(lock),
        })
    }

    fn checkpoint_name(ts: u64) -> String {
        format!("checkpoint-{ts:020}.ckpt")
    }

    /// The checkpoint files, newest first.
    fn checkpoint_files(&self) -> anyhow::Result<Vec<(u64, PathBuf)>> {
        let mut files = Vec::new();
        let entries =
            fs::read_dir(&self.dir).with_context(|| format!("listing {}", self.dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let ts = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("checkpoint-"))
                .and_then(|n| n.strip_suffix(".ckpt"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(ts) = ts {
                files.push((ts, path));
            }
        }
        files.sort_by_key(|(ts, _)| std::cmp::Reverse(*ts));
        Ok(files)
    }

    /// The newest checkpoint that is whole and matches its checksum; each rejected one is
    /// logged with its reason. `None` when there is no valid checkpoint.
    pub fn load_newest(&self) -> anyhow::Result<Option<Checkpoint>> {
        for (_, path) in self.checkpoint_files()? {
            let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            match file::decode(&bytes)
                .map_err(Rejected::Corrupt)
                .and_then(|body| {
                    let positions = body
                        .positions
                        .into_iter()
                        .map(|(source, json, commit_ms)| {
                            let position = serde_json::from_str(&json)
                                .map_err(|e| Rejected::Position(source.clone(), e))?;
                            Ok((
                                source,
                                SavedPosition {
                                    position,
                                    commit_ms,
                                },
                            ))
                        })
                        .collect::<Result<_, Rejected>>()?;
                    Ok(Checkpoint {
                        ts: body.ts,
                        created_ms: body.created_ms,
                        positions,
                        shards: body.shards,
                    })
                }) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(reason) => {
                    tracing::error!(
                        "skipping checkpoint {}: {reason}; trying the previous one",
                        path.display()
                    );
                }
            }
        }
        Ok(None)
    }

    /// Writes `checkpoint` atomically and deletes all but the newest few; returns its size.
    pub fn write(&self, checkpoint: Checkpoint) -> anyhow::Result<u64> {
        let body = file::Body {
            ts: checkpoint.ts,
            created_ms: checkpoint.created_ms,
            positions: checkpoint
                .positions
                .iter()
                .map(|(source, saved)| {
                    let json = serde_json::to_string(&saved.position)?;
                    Ok((source.clone(), json, saved.commit_ms))
                })
                .collect::<Result<_, serde_json::Error>>()?,
            shards: checkpoint.shards,
        };
        let bytes = file::encode(&body).context("encoding a checkpoint")?;
        let name = Self::checkpoint_name(checkpoint.ts);
        file::write_atomically(&self.dir, &name, &bytes)
            .with_context(|| format!("writing {name} in {}", self.dir.display()))?;
        for (_, old) in self.checkpoint_files()?.into_iter().skip(KEEP_CHECKPOINTS) {
            if let Err(err) = fs::remove_file(&old) {
                tracing::warn!("could not delete old checkpoint {}: {err}", old.display());
            }
        }
        Ok(bytes.len() as u64)
    }

    /// The highest timestamp reserved by any earlier run (0 if none).
    pub fn reserved_timestamps(&self) -> anyhow::Result<u64> {
        let path = self.dir.join(RESERVATION_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().with_context(|| {
                format!(
                    "{} does not hold a timestamp: {text:?}; it is written atomically, so \
                     something else changed it",
                    path.display()
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Reserves every timestamp up to `through`, durably.
    fn reserve_timestamps(&self, through: u64) -> anyhow::Result<()> {
        file::write_atomically(&self.dir, RESERVATION_FILE, through.to_string().as_bytes())
            .with_context(|| format!("reserving timestamps in {}", self.dir.display()))
    }
}

/// Why a checkpoint file was skipped.
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("{0}")]
    Corrupt(#[from] CorruptCheckpoint),
    #[error("the position of source {0:?} does not decode: {1}")]
    Position(String, serde_json::Error),
}

/// Timestamps handed out so far and reserved on disk.
#[derive(Debug)]
pub struct Reservation {
    dir: DataDir,
    through: u64,
}

impl Reservation {
    /// Reserves timestamps from `first` on.
    pub fn new(dir: DataDir, first: u64) -> anyhow::Result<Reservation> {
        let through = first + RESERVE_AHEAD;
        dir.reserve_timestamps(through)?;
        Ok(Reservation { dir, through })
    }

    /// Makes sure `ts` is reserved before it is used (a write once per many timestamps).
    pub fn cover(&mut self, ts: u64) -> anyhow::Result<()> {
        if ts > self.through {
            let through = ts + RESERVE_AHEAD;
            self.dir.reserve_timestamps(through)?;
            self.through = through;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_is_held_by_one_process_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = DataDir::open(dir.path()).expect("opens");
        let clone = held.clone();
        drop(held);
        // Another open file description of the lock (as another process would have) is refused
        // while a clone lives.
        let refused = DataDir::open(dir.path()).expect_err("in use");
        assert!(
            refused.to_string().contains("in use by another"),
            "{refused}"
        );
        drop(clone);
        DataDir::open(dir.path()).expect("free again");
    }

    fn checkpoint(ts: u64) -> Checkpoint {
        let mut positions = BTreeMap::new();
        positions.insert(
            "mysql://127.0.0.1:3306".to_string(),
            SavedPosition {
                position: SourcePosition::Binlog {
                    gtid: Some("0-1-57".into()),
                    file: "bin.000002".into(),
                    pos: 1234,
                },
                commit_ms: 5,
            },
        );
        Checkpoint {
            ts,
            created_ms: 1,
            positions,
            shards: vec![vec![ts as u8; 100], vec![7; 50]],
        }
    }

    #[test]
    fn the_newest_valid_checkpoint_is_loaded_and_corrupt_ones_are_skipped() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = DataDir::open(tmp.path()).expect("opens");
        assert!(dir.load_newest().expect("lists").is_none());
        for ts in [10, 20, 30, 40] {
            dir.write(checkpoint(ts)).expect("writes");
        }
        assert_eq!(
            dir.checkpoint_files().expect("lists").len(),
            KEEP_CHECKPOINTS
        );
        let newest = dir.load_newest().expect("loads").expect("one is valid");
        assert_eq!(newest.ts, 40);
        assert_eq!(newest.positions, checkpoint(40).positions);
        assert_eq!(newest.shards, checkpoint(40).shards);

        // Truncate the newest, flip a byte in the next: the oldest kept one is loaded.
        let path = |ts| tmp.path().join(DataDir::checkpoint_name(ts));
        let bytes = fs::read(path(40)).expect("reads");
        fs::write(path(40), &bytes[..bytes.len() / 2]).expect("truncates");
        let mut bytes = fs::read(path(30)).expect("reads");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        fs::write(path(30), bytes).expect("flips");
        let loaded = dir.load_newest().expect("loads").expect("one is valid");
        assert_eq!(loaded.ts, 20);

        fs::write(path(20), b"TWFCKPT3").expect("truncates");
        assert!(dir.load_newest().expect("loads").is_none(), "none valid");
    }

    #[test]
    fn timestamps_are_reserved_ahead_and_survive() {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = DataDir::open(tmp.path()).expect("opens");
        assert_eq!(dir.reserved_timestamps().expect("reads"), 0);
        let mut reservation = Reservation::new(dir.clone(), 1).expect("reserves");
        assert_eq!(dir.reserved_timestamps().expect("reads"), 1 + RESERVE_AHEAD);
        reservation.cover(RESERVE_AHEAD).expect("covered already");
        assert_eq!(dir.reserved_timestamps().expect("reads"), 1 + RESERVE_AHEAD);
        reservation.cover(RESERVE_AHEAD + 5).expect("reserves more");
        assert_eq!(
            dir.reserved_timestamps().expect("reads"),
            2 * RESERVE_AHEAD + 5
        );
    }
}
