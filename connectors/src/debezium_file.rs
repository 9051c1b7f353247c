//! Replaying newline-delimited Debezium JSON from a file or standard input
//! (`--debezium-file PATH|-`): captured change logs, and identical input for several engines.
//!
//! Lines are decoded by [`twinflow_ingest::decode::debezium`] and grouped into transactions by
//! the [`TransactionAssembler`]; a transaction is complete when the next one starts, at the end
//! of the input, or when standard input has been quiet for [`IDLE`]. A line that cannot be
//! decoded becomes a dead letter with its line number and reason.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use twinflow_ingest::decode::debezium::{decode_line, DecimalMode};
use twinflow_ingest::{
    DeadLetter, DeadLetterLog, Pushed, SourcePosition, TransactionAssembler, DEFAULT_DEDUP_WINDOW,
};

use crate::queue::TransactionSender;
use crate::status::{ConnectorState, ConnectorStatus};

/// A quiet input completes the open transaction after this long.
pub const IDLE: Duration = Duration::from_millis(200);

/// Bytes read from the input at a time. Every read of a `tokio::fs::File` is a round trip to
/// tokio's blocking pool, so reads are large: with the JSON converter's schemas a line is
/// several kilobytes, and the default 8 KiB buffer would make one round trip every two lines.
const READ_BUFFER: usize = 1 << 20;

/// Where to read Debezium JSON from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DebeziumFileConfig {
    /// The file; `-` for standard input.
    pub path: PathBuf,
    /// How DECIMAL values arrive in messages without schemas.
    pub decimals: DecimalMode,
}

impl DebeziumFileConfig {
    /// The source's name: `debezium:PATH` (`debezium:stdin` for `-`).
    pub fn source_name(&self) -> String {
        if self.path.as_os_str() == "-" {
            "debezium:stdin".to_string()
        } else {
            format!("debezium:{}", self.path.display())
        }
    }
}

/// Reads `config`'s input to its end (or until `shutdown`), sending transactions to `tx`.
pub async fn run_debezium_file(
    config: DebeziumFileConfig,
    tx: TransactionSender,
    dead_letters: Arc<DeadLetterLog>,
    status: Arc<ConnectorStatus>,
    shutdown: impl Future<Output = ()>,
) {
    let input: Box<dyn AsyncRead + Unpin + Send> = if config.path.as_os_str() == "-" {
        Box::new(tokio::io::stdin())
    } else {
        match tokio::fs::File::open(&config.path).await {
            Ok(file) => Box::new(file),
            Err(err) => {
                status.error(format!("cannot open {}: {err}", config.path.display()));
                status.set_state(ConnectorState::Stopped);
                return;
            }
        }
    };
    let name: Arc<str> = Arc::from(config.source_name());
    let mut lines = BufReader::with_capacity(READ_BUFFER, input).lines();
    let mut assembler = TransactionAssembler::new(name.clone(), DEFAULT_DEDUP_WINDOW);
    let mut ready = Vec::new();
    let mut line_no = 0u64;
    let mut shutdown = pin!(shutdown);
    status.set_state(ConnectorState::Streaming);
    loop {
        let next = tokio::select! {
            biased;
            () = shutdown.as_mut() => break,
            next = async {
                status.unpaused().await;
                tokio::time::timeout(IDLE, lines.next_line()).await
            } => next,
        };
        let end = match next {
            // Quiet: what is open is complete as far as anyone can tell.
            Err(_) => {
                assembler.flush(&mut ready);
                false
            }
            Ok(Ok(Some(line))) => {
                line_no += 1;
                if !line.trim().is_empty() {
                    match decode_line(&line, config.decimals) {
                        Ok(Some(event)) => {
                            if let Pushed::Forgotten(letter) = assembler.push(event, &mut ready) {
                                dead_letters.record(*letter);
                            }
                        }
                        Ok(None) => {}
                        Err(err) => {
                            let position = SourcePosition::File { line: line_no };
                            dead_letters.record(DeadLetter::new(&name, position, None, None, err));
                        }
                    }
                }
                false
            }
            Ok(Ok(None)) => {
                assembler.flush(&mut ready);
                true
            }
            Ok(Err(err)) => {
                status.error(format!("reading line {}: {err}", line_no + 1));
                assembler.flush(&mut ready);
                true
            }
        };
        for txn in ready.drain(..) {
            status.read(txn.changes.len(), &txn.position);
            if tx.send(txn).await.is_err() {
                status.set_state(ConnectorState::Stopped);
                return;
            }
        }
        if end {
            break;
        }
    }
    if assembler.duplicates() > 0 {
        tracing::info!(source = %name, "skipped {} re-delivered events", assembler.duplicates());
    }
    status.set_state(ConnectorState::Stopped);
}
