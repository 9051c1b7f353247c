//! The on-disk form of a checkpoint, and writing files so that a crash leaves either the old
//! file or the new one, never a mixture.
//!
//! A checkpoint file is `MAGIC`, the body's length (u64, little-endian), the body's CRC-32
//! (u32, little-endian), then the body: a bincode-encoded [`Body`]. A file that is shorter or
//! longer than its header says, or whose body does not match its checksum, is rejected.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The first bytes of every checkpoint file (the digit is the format's version: 3 since the
/// inputs keep `twin_auth.user`'s standing for token checks; 2 when the inputs' keys became
/// 32-bit, people's records packed and key ownership a fixed function; an older file is not
/// read).
const MAGIC: &[u8; 8] = b"TWFCKPT3";
/// Magic, body length, body checksum.
const HEADER_LEN: usize = 8 + 8 + 4;

/// What a checkpoint file holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct Body {
    /// The last timestamp the state includes.
    pub ts: u64,
    /// When the checkpoint was taken (ms since the epoch).
    pub created_ms: u64,
    /// Per source: its name, its position after the last transaction the state includes (as
    /// JSON: positions are source-specific), and that transaction's commit time.
    pub positions: Vec<(String, String, u64)>,
    /// The dataflow workers' shards of the base tables.
    pub shards: Vec<Vec<u8>>,
}

/// Why a checkpoint file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum CorruptCheckpoint {
    /// Shorter than its header, or than the body length the header gives.
    #[error("truncated: {actual} bytes where {expected} were expected")]
    Truncated {
        /// Bytes the header promises (or the header's own length).
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// Longer than the header says.
    #[error("{0} bytes of trailing garbage")]
    Trailing(u64),
    /// Not a checkpoint of this format.
    #[error("not a twinflow checkpoint of this version (magic {0:?})")]
    Magic(String),
    /// The body does not match its checksum.
    #[error("checksum mismatch: header says {expected:08x}, body has {actual:08x}")]
    Checksum {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the body as read.
        actual: u32,
    },
    /// The body matches its checksum but does not decode.
    #[error("undecodable body: {0}")]
    Body(String),
}

/// Encodes `body` as a checkpoint file's bytes.
pub fn encode(body: &Body) -> bincode::Result<Vec<u8>> {
    // The body is encoded in place after room for the header, which is filled in last: a
    // checkpoint is tens of megabytes, not worth copying again.
    let mut bytes = Vec::with_capacity(HEADER_LEN + bincode::serialized_size(body)? as usize);
    bytes.resize(HEADER_LEN, 0);
    bincode::serialize_into(&mut bytes, body)?;
    let encoded = &bytes[HEADER_LEN..];
    let (length, checksum) = (encoded.len() as u64, crc32fast::hash(encoded));
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&length.to_le_bytes());
    bytes[16..HEADER_LEN].copy_from_slice(&checksum.to_le_bytes());
    Ok(bytes)
}

/// Decodes a checkpoint file's bytes, checking length and checksum first.
pub fn decode(bytes: &[u8]) -> Result<Body, CorruptCheckpoint> {
    let truncated = |expected: u64| CorruptCheckpoint::Truncated {
        expected,
        actual: bytes.len() as u64,
    };
    let header = bytes
        .get(..HEADER_LEN)
        .ok_or_else(|| truncated(HEADER_LEN as u64))?;
    let (magic, rest) = header.split_at(8);
    if magic != MAGIC {
        return Err(CorruptCheckpoint::Magic(
            String::from_utf8_lossy(magic).into_owned(),
        ));
    }
    let (length, checksum) = rest.split_at(8);
    let length = u64::from_le_bytes(length.try_into().unwrap_or_default());
    let expected = u32::from_le_bytes(checksum.try_into().unwrap_or_default());
    let body = &bytes[HEADER_LEN..];
    let body_len = body.len() as u64;
    if body_len < length {
        return Err(truncated(HEADER_LEN as u64 + length));
    }
    if body_len > length {
        return Err(CorruptCheckpoint::Trailing(body_len - length));
    }
    let actual = crc32fast::hash(body);
    if actual != expected {
        return Err(CorruptCheckpoint::Checksum { expected, actual });
    }
    bincode::deserialize(body).map_err(|e| CorruptCheckpoint::Body(e.to_string()))
}

/// Writes `bytes` to `dir/name` atomically: a temporary file in `dir`, fsynced, renamed over
/// the target, and the directory fsynced so that the rename itself survives a crash. The file
/// is readable by its owner only (state and the sources' credentials).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(name))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(&Body {
            ts: 42,
            created_ms: 1_700_000_000_000,
            positions: vec![(
                "generator".into(),
                r#"{"kind":"generator","seq":7}"#.into(),
                9,
            )],
            shards: vec![vec![1, 2, 3], vec![4, 5]],
        })
        .expect("encodes")
    }

    #[test]
    fn a_checkpoint_round_trips() {
        let body = decode(&sample()).expect("decodes");
        assert_eq!(body.ts, 42);
        assert_eq!(body.positions[0].0, "generator");
        assert_eq!(body.shards, vec![vec![1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn every_truncation_is_detected() {
        let bytes = sample();
        for len in 0..bytes.len() {
            let err = decode(&bytes[..len]).expect_err("truncated");
            assert!(
                matches!(err, CorruptCheckpoint::Truncated { .. }),
                "{len}: {err}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer),
            Err(CorruptCheckpoint::Trailing(1))
        ));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sample();
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x20;
            assert!(
                decode(&flipped).is_err(),
                "byte {at} flipped went unnoticed"
            );
        }
    }

    #[test]
    fn an_atomic_write_leaves_only_the_file() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_atomically(dir.path(), "x.ckpt", b"first").expect("writes");
        write_atomically(dir.path(), "x.ckpt", b"second").expect("overwrites");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("lists")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["x.ckpt"]);
        assert_eq!(
            fs::read(dir.path().join("x.ckpt")).expect("reads"),
            b"second"
        );
    }
}
