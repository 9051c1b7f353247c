//! Driving a generator into a channel at a given rate.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TrySendError;
use twinflow_ingest::{now_ms, Transaction};

use super::OrgGenerator;
use crate::queue::TransactionSender;
use crate::status::{ConnectorState, ConnectorStatus};

/// The shortest sleep: bursts gather what falls due meanwhile (timers are millisecond-grained).
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// A rate-limited generator that fell behind (a full channel) catches up at most this much.
const MAX_CATCH_UP_S: f64 = 0.25;
/// Yield to the runtime (and look at `shutdown`) every this many transactions sent without
/// waiting.
const YIELD_EVERY: u32 = 256;

/// Emits `gen`'s snapshot (or, with `resume_after`, continues after that transaction without
/// one), then its change stream at `rate` row changes per second (`0`, or
/// anything not positive and finite, means as fast as the channel takes them). Stops when
/// `shutdown` resolves or the receiver is dropped.
///
/// Every transaction's `commit_time_ms` is set to the wall clock when it is sent (the row images
/// keep the generator's logical times), so that lag can be measured downstream.
///
/// The rate is kept on average: changes due since the start are sent in bursts between short
/// sleeps. After a stall (full channel), at most a quarter second's worth is caught up.
///
/// `status` shows the state (snapshotting, streaming, stopped) and what was sent.
pub async fn run_generator(
    gen: OrgGenerator,
    resume_after: Option<u64>,
    rate: f64,
    tx: TransactionSender,
    status: Arc<ConnectorStatus>,
    shutdown: impl Future<Output = ()>,
) {
    stream(gen, resume_after, rate, tx, &status, shutdown).await;
    status.set_state(ConnectorState::Stopped);
}

async fn stream(
    mut gen: OrgGenerator,
    resume_after: Option<u64>,
    rate: f64,
    tx: TransactionSender,
    status: &ConnectorStatus,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = pin!(shutdown);
    match resume_after {
        Some(seq) => gen.resume_after(seq),
        None => {
            status.set_state(ConnectorState::Snapshotting);
            for part in gen.snapshot() {
                status.read(part.changes.len(), &part.position);
                if !send(&tx, part, shutdown.as_mut()).await {
                    return;
                }
            }
        }
    }
    status.set_state(ConnectorState::Streaming);
    let mut pacer = Pacer::new(rate);
    let mut since_yield = 0;
    loop {
        if let Some(wait) = pacer.wait() {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return,
                () = tokio::time::sleep(wait) => continue,
            }
        }
        if status.is_paused() {
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return,
                () = status.unpaused() => pacer = Pacer::new(rate),
            }
        }
        let mut txn = gen.next_transaction();
        pacer.sent += txn.changes.len() as u64;
        status.read(txn.changes.len(), &txn.position);
        txn.commit_time_ms = now_ms();
        match tx.try_send(txn) {
            Ok(()) => {}
            Err(TrySendError::Full(txn)) => {
                if !send(&tx, txn, shutdown.as_mut()).await {
                    return;
                }
            }
            Err(TrySendError::Closed(_)) => return,
        }
        since_yield += 1;
        if since_yield >= YIELD_EVERY {
            since_yield = 0;
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return,
                () = tokio::task::yield_now() => {}
            }
        }
    }
}

/// Sends with the wall-clock commit time; `false` when it is time to stop.
async fn send<S: Future<Output = ()>>(
    tx: &TransactionSender,
    mut txn: Transaction,
    shutdown: Pin<&mut S>,
) -> bool {
    txn.commit_time_ms = now_ms();
    tokio::select! {
        biased;
        () = shutdown => false,
        sent = tx.send(txn) => sent.is_ok(),
    }
}

/// Keeps the changes sent at `rate` per second on average since the start.
#[derive(Debug)]
struct Pacer {
    rate: Option<f64>,
    start: Instant,
    sent: u64,
    /// Changes that fell due during stalls and are not caught up.
    forgiven: f64,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        let rate = (rate.is_finite() && rate > 0.0).then_some(rate);
        Pacer {
            rate,
            start: Instant::now(),
            sent: 0,
            forgiven: 0.0,
        }
    }

    /// How long to wait before the next transaction, or `None` to send it now.
    fn wait(&mut self) -> Option<Duration> {
        let rate = self.rate?;
        let elapsed = self.start.elapsed().as_secs_f64();
        let sent = self.sent as f64;
        let due = elapsed * rate - self.forgiven;
        let cap = (rate * MAX_CATCH_UP_S).max(1.0);
        if due - sent > cap {
            self.forgiven += due - sent - cap;
        }
        if sent < elapsed * rate - self.forgiven {
            return None;
        }
        let next_due_at = (sent + 1.0 + self.forgiven) / rate;
        Some(Duration::from_secs_f64((next_due_at - elapsed).max(0.0)).max(MIN_SLEEP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_forgives_long_stalls() {
        let mut p = Pacer::new(1000.0);
        p.start -= Duration::from_secs(10);
        assert_eq!(p.wait(), None);
        // At most a quarter second (250 changes) is owed.
        p.sent = 251;
        assert!(p.wait().is_some());
    }

    #[test]
    fn unlimited_never_waits() {
        assert_eq!(Pacer::new(0.0).wait(), None);
        assert_eq!(Pacer::new(f64::NAN).wait(), None);
    }
}
