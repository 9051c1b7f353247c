//! The sequencer thread: it takes the sources' transactions, drops (as dead letters) the changes
//! that do not fit the catalog, gives every transaction its timestamp with the [`Reclocker`],
//! and forwards the batches to the dataflow [`Engine`], checkpointing between timestamps.
//!
//! Timestamps adapt to the load: when the input runs dry the open timestamp is sealed at once
//! if the engine has published everything before it (low latency), and otherwise keeps
//! collecting transactions until the engine catches up or the timestamp is full (high
//! throughput: every timestamp has a fixed cost in the dataflow).
//!
//! When there is nothing to do it waits in one place ([`Inputs::wait`]) for whichever comes
//! first: a transaction, a control request, a newly published timestamp, or the time of the
//! next checkpoint.

use std::collections::VecDeque;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use twinflow_connectors::TransactionReceiver;
use twinflow_dataflows::Engine;
use twinflow_ingest::validate::check_change;
use twinflow_ingest::{DeadLetter, DeadLetterLog, Reclocker, TimestampedBatch, Transaction};

use crate::durability::Durable;
use crate::pipeline::Control;

/// What the sequencer reads: the sources' transactions, control requests, and the published
/// `as_of`.
pub(crate) struct Inputs {
    input: TransactionReceiver,
    requests: mpsc::Receiver<Control>,
    published: watch::Receiver<u64>,
    /// Transactions taken from `input` and not yet handed out, oldest first.
    taken: VecDeque<Transaction>,
}

/// What woke the sequencer up.
enum Wake {
    Transaction(Transaction),
    Control(Control),
    /// The engine published a timestamp.
    Published,
    /// Every source sender is gone.
    Closed,
    /// The deadline asked for has passed.
    Deadline,
}

/// Transactions taken from the sources' queue at a time.
const TAKE_AT_ONCE: usize = 256;

impl Inputs {
    pub(crate) fn new(
        input: TransactionReceiver,
        requests: mpsc::Receiver<Control>,
        published: watch::Receiver<u64>,
    ) -> Self {
        Inputs {
            input,
            requests,
            published,
            taken: VecDeque::with_capacity(TAKE_AT_ONCE),
        }
    }

    /// The next transaction already queued, without waiting; `None` when the queue is empty.
    /// Queued ones are taken up to [`TAKE_AT_ONCE`] at a time, which gives their room in the
    /// queue back at once: taken one by one, each would wake a source waiting for room.
    fn try_next(&mut self, waiter: &tokio::runtime::Runtime) -> Option<Transaction> {
        if self.taken.is_empty() && !self.input.is_empty() {
            let mut taken = Vec::with_capacity(TAKE_AT_ONCE);
            // Returns at once: messages are queued.
            waiter.block_on(self.input.recv_many(&mut taken, TAKE_AT_ONCE));
            self.taken.extend(taken);
        }
        self.taken.pop_front()
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

    /// The last published `as_of`; a publication after this call wakes [`Inputs::wait`].
    fn published(&mut self) -> u64 {
        *self.published.borrow_and_update()
    }

    /// Waits for a transaction, a control request or a publication, or until `deadline`.
    fn wait(&mut self, waiter: &tokio::runtime::Runtime, deadline: Option<Instant>) -> Wake {
        let Inputs {
            input,
            requests,
            published,
            ..
        } = self;
        waiter.block_on(async {
            let expiry = async {
                match deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                    None => std::future::pending().await,
                }
            };
            // A stopped publisher means a stopped engine, which `forward` reports.
            let publication = async {
                if published.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                biased;
                Some(request) = requests.recv() => Wake::Control(request),
                txn = input.recv() => txn.map_or(Wake::Closed, Wake::Transaction),
                () = publication => Wake::Published,
                () = expiry => Wake::Deadline,
            }
        })
    }
}

/// Moves transactions from the sources to the engine until every source sender is gone,
/// checkpointing between timestamps when a data directory is configured.
pub(crate) fn sequence(
    mut inputs: Inputs,
    engine: Engine,
    mut reclocker: Reclocker,
    dead_letters: &DeadLetterLog,
    mut durable: Option<Durable>,
) -> Engine {
    // Waits on the channels and the checkpoint's deadline when idle (a timer, no I/O driver).
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
        if let Some(txn) = inputs.try_next(&waiter) {
            admit(txn, &mut reclocker, &mut batches, dead_letters);
        } else {
            // Input is dry. An open timestamp is sealed if the engine has published everything
            // before it; otherwise it collects more while the engine works. (A transaction
            // still arriving in parts keeps it open either way.)
            if let Some(open) = reclocker.open_timestamp() {
                if inputs.published() + 1 >= open {
                    reclocker.idle(&mut batches);
                }
            }
            if batches.is_empty() && request.is_none() {
                let deadline = durable.as_ref().and_then(Durable::next_due);
                match inputs.wait(&waiter, deadline) {
                    Wake::Transaction(txn) => {
                        admit(txn, &mut reclocker, &mut batches, dead_letters)
                    }
                    Wake::Control(woken_by) => request = Some(woken_by),
                    Wake::Published | Wake::Deadline => {}
                    Wake::Closed => break,
                }
            }
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
        if let Some(durable) = durable {
            durable.finish(&engine, reclocker.open_timestamp().is_none());
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
                change.key(),
                reason,
            ));
            false
        }
    });
    reclocker.push(txn, batches);
}
