//! The queue every source feeds and the sequencer drains, bounded in row changes.
//!
//! A source waits while the transactions queued hold as many row changes as the queue's
//! limit, so the queue holds about as much memory whatever the sources' transactions are like:
//! a snapshot's parts of thousands of rows and a binlog's single-row transactions alike. (A
//! bound on the number of transactions holds either too few small ones — the sequencer then
//! finds the queue empty, seals a small timestamp and waits for the source to be scheduled
//! again — or too many large ones.) A transaction of more changes than the limit is taken
//! alone: it waits until the queue is empty.

use std::sync::Arc;

use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, Semaphore, TryAcquireError};
use twinflow_ingest::Transaction;

/// A queue holding at most about `limit` row changes (at least 1).
pub fn transaction_queue(limit: usize) -> (TransactionSender, TransactionReceiver) {
    let limit = limit.clamp(1, u32::MAX as usize) as u32;
    let room = Arc::new(Semaphore::new(limit as usize));
    let (tx, rx) = mpsc::unbounded_channel();
    (
        TransactionSender {
            tx,
            room: room.clone(),
            limit,
        },
        TransactionReceiver { rx, room, limit },
    )
}

/// The queue is closed: its receiver is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the transaction queue is closed")]
pub struct QueueClosed;

/// The places a transaction takes in a queue of `limit`: one per row change, at least one
/// (a heartbeat without changes) and at most the whole queue.
fn places(txn: &Transaction, limit: u32) -> u32 {
    txn.changes.len().clamp(1, limit as usize) as u32
}

/// Where a source sends its transactions. Cloned for each source.
#[derive(Debug, Clone)]
pub struct TransactionSender {
    tx: mpsc::UnboundedSender<Transaction>,
    /// Free places, one per row change.
    room: Arc<Semaphore>,
    limit: u32,
}

impl TransactionSender {
    /// Queues `txn`, waiting for room. Cancel-safe: a send dropped while it waits queues
    /// nothing and takes no room.
    pub async fn send(&self, txn: Transaction) -> Result<(), QueueClosed> {
        let taken = self
            .room
            .acquire_many(places(&txn, self.limit))
            .await
            .map_err(|_| QueueClosed)?;
        // The receiver gives the places back as it takes the transaction.
        taken.forget();
        self.tx.send(txn).map_err(|_| QueueClosed)
    }

    /// Queues `txn` if there is room now.
    pub fn try_send(&self, txn: Transaction) -> Result<(), TrySendError<Transaction>> {
        match self.room.try_acquire_many(places(&txn, self.limit)) {
            Ok(taken) => {
                taken.forget();
                self.tx.send(txn).map_err(|e| TrySendError::Closed(e.0))
            }
            Err(TryAcquireError::NoPermits) => Err(TrySendError::Full(txn)),
            Err(TryAcquireError::Closed) => Err(TrySendError::Closed(txn)),
        }
    }

    /// [`send`](Self::send) from a thread outside any async runtime.
    pub fn blocking_send(&self, txn: Transaction) -> Result<(), QueueClosed> {
        futures_executor::block_on(self.send(txn))
    }
}

/// The sequencer's end of the queue.
#[derive(Debug)]
pub struct TransactionReceiver {
    rx: mpsc::UnboundedReceiver<Transaction>,
    room: Arc<Semaphore>,
    limit: u32,
}

impl TransactionReceiver {
    /// Gives back the places `txn` took.
    fn taken(&self, txn: Transaction) -> Transaction {
        self.room.add_permits(places(&txn, self.limit) as usize);
        txn
    }

    /// The next transaction, waiting for one; `None` once every sender is gone and the
    /// queue is empty.
    pub async fn recv(&mut self) -> Option<Transaction> {
        let txn = self.rx.recv().await?;
        Some(self.taken(txn))
    }

    /// Appends up to `max` transactions to `into`, waiting for at least one; 0 once every
    /// sender is gone and the queue is empty.
    pub async fn recv_many(&mut self, into: &mut Vec<Transaction>, max: usize) -> usize {
        let from = into.len();
        let received = self.rx.recv_many(into, max).await;
        let places: usize = into[from..]
            .iter()
            .map(|txn| places(txn, self.limit) as usize)
            .sum();
        self.room.add_permits(places);
        received
    }

    /// The next transaction if one is queued.
    pub fn try_recv(&mut self) -> Result<Transaction, TryRecvError> {
        let txn = self.rx.try_recv()?;
        Ok(self.taken(txn))
    }

    /// Whether no transaction is queued.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The transactions queued.
    pub fn len(&self) -> usize {
        self.rx.len()
    }
}

impl Drop for TransactionReceiver {
    /// Sources waiting for room learn that the queue is closed.
    fn drop(&mut self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use twinflow_ingest::{RowChange, SourcePosition, TableId};

    use super::*;

    fn txn(changes: usize) -> Transaction {
        let change = RowChange::delete(TableId::People, Arc::from(Vec::new()));
        Transaction {
            source: Arc::from("test"),
            position: SourcePosition::Generator { seq: 1 },
            commit_time_ms: 0,
            changes: vec![change; changes],
            more_follows: false,
        }
    }

    /// Whether `send` is still waiting after a while.
    async fn waits(send: impl std::future::Future<Output = Result<(), QueueClosed>>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), send)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_source_waits_while_the_queued_changes_fill_the_queue() {
        let (tx, mut rx) = transaction_queue(10);
        tx.send(txn(6)).await.unwrap();
        tx.send(txn(4)).await.unwrap();
        assert!(waits(tx.send(txn(1))).await, "the queue holds 10 changes");
        assert_eq!(rx.recv().await.map(|t| t.changes.len()), Some(6));
        tx.send(txn(5)).await.unwrap();
        assert!(waits(tx.send(txn(2))).await, "4 + 5 of 10 are taken");
        let mut taken = Vec::new();
        assert_eq!(rx.recv_many(&mut taken, 8).await, 2);
        tx.try_send(txn(8)).unwrap();
        assert!(matches!(tx.try_send(txn(3)), Err(TrySendError::Full(_))));
        assert_eq!(rx.try_recv().map(|t| t.changes.len()), Ok(8));
        tx.try_send(txn(3)).unwrap();
        assert_eq!(rx.try_recv().map(|t| t.changes.len()), Ok(3));
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn a_transaction_larger_than_the_queue_is_taken_alone() {
        let (tx, mut rx) = transaction_queue(10);
        tx.send(txn(0)).await.unwrap();
        assert!(waits(tx.send(txn(25))).await, "a heartbeat takes one place");
        assert_eq!(rx.recv().await.map(|t| t.changes.len()), Some(0));
        tx.send(txn(25)).await.unwrap();
        assert_eq!(rx.len(), 1);
        assert!(waits(tx.send(txn(1))).await);
        assert_eq!(rx.recv().await.map(|t| t.changes.len()), Some(25));
        tx.send(txn(1)).await.unwrap();
    }

    #[test]
    fn a_waiting_source_learns_that_the_receiver_is_gone() {
        let (tx, rx) = transaction_queue(3);
        tx.blocking_send(txn(3)).unwrap();
        let waiting = std::thread::spawn(move || tx.blocking_send(txn(1)));
        std::thread::sleep(Duration::from_millis(50));
        drop(rx);
        assert_eq!(waiting.join().unwrap(), Err(QueueClosed));
    }
}
