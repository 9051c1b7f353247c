//! WebSocket fan-out benchmark: many tenants' subscribers, each with its own token and its own
//! building's desks, while the org changes at a steady rate. The README's table holds the
//! current figures, docs/benchmarks.md their history; nothing here asserts a time.
//!
//! `cargo bench --bench subscribers -- [--scale N] [--subscribers N] [--rate CHANGES/S]
//! [--seconds S] [--encoding objects|compact]`
//!
//! 1. An org of `--scale` people is hydrated; the change stream (person moves) runs at `--rate`
//!    for `--seconds` with no subscriber: the engine's seal→visible latency, the baseline.
//! 2. `--subscribers` WebSocket clients subscribe to `desk_occupancy`, each with a tenant token
//!    of a building's company and that building's id as filter (spread over every building);
//!    the stream runs again: commit→delivery latency over every changes message, the bytes
//!    received (per desk change, also by how many desk changes a message holds), and the
//!    engine's latency with them.

#[path = "../src/allocator.rs"]
mod allocator;
#[path = "support/org.rs"]
mod org;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use twinflow_connectors::generator::OrgGenerator;
use twinflow_connectors::TransactionSender;
use twinflow_serve::{Limits, ServeConfig};
use twinflow_views::{Filter, ServedState, ViewId};

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 1_000_000)]
    scale: u64,
    /// WebSocket subscribers.
    #[arg(long, default_value_t = 1_000)]
    subscribers: usize,
    /// Row changes per second of the change stream.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The subscriptions' encoding: objects or compact.
    #[arg(long, default_value = "objects")]
    encoding: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

/// The HS256 secret of the benchmark's tokens.
const SECRET: &[u8] = b"the subscriber benchmark's secret, 32 bytes or more";

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    println!(
        "twinflow subscriber benchmark: {} people, {} subscribers, {} changes/s for {} s",
        options.scale, options.subscribers, options.rate, options.seconds
    );
    let (pipeline, mut generator) = org::hydrated(options.scale)?;
    let sources = pipeline.sources();
    let state = pipeline.state();
    let metrics = pipeline.metrics();

    // 1. No subscribers.
    metrics.latencies(true);
    let sent = feed_for(&mut generator, &sources, &options)?;
    let baseline = metrics.latencies(true);
    println!(
        "without subscribers: {sent} changes; engine seal→visible p50 {:.1} ms, p99 {:.1} ms",
        baseline.p50_ms, baseline.p99_ms
    );

    // 2. With subscribers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let address = org::serve(&runtime, &pipeline, serve_config(&options)?)?;
    let published = record_publications(&runtime, &state);
    let received = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let buildings = buildings(&state);
    let connected = Instant::now();
    let clients: Vec<_> = (0..options.subscribers)
        .map(|i| {
            let (company, building) = buildings[i % buildings.len()];
            let url = format!(
                "ws://{address}/v1/views/desk_occupancy/subscribe?building_id={building}&encoding={}&access_token={}",
                options.encoding,
                org::token(SECRET, serde_json::json!({"sub": format!("bench-{company}"), "company_id": company}))
                    .unwrap_or_default()
            );
            let counts = Counts {
                received: received.clone(),
                tally: tally.clone(),
            };
            runtime.spawn(subscriber(url, counts, stop.clone()))
        })
        .collect();
    // Every subscriber has its snapshot before the stream starts.
    while received.lock().map_or(0, |r| r.len()) < options.subscribers {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "{} subscribers of {} buildings connected with their snapshots in {:.2} s",
        options.subscribers,
        buildings.len().min(options.subscribers),
        connected.elapsed().as_secs_f64()
    );
    received
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clear();
    *tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Tally::default();
    metrics.latencies(true);
    let sent = feed_for(&mut generator, &sources, &options)?;
    // The last messages on their way.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let with = metrics.latencies(true);
    let published = published.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut delays: Vec<f64> = received
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .iter()
        .filter_map(|(as_of, at)| {
            let committed = published.get(as_of)?;
            Some(at.saturating_duration_since(*committed).as_secs_f64() * 1e3)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| {
        delays
            .get(((delays.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let tally = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    tally.report(&options.encoding);
    let total_bytes = tally.bytes;
    println!(
        "with subscribers: {sent} changes; {} changes messages delivered, commit→delivery p50 \
         {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} bytes/s to all subscribers ({:.0} per \
         subscriber); engine seal→visible p50 {:.1} ms, p99 {:.1} ms",
        delays.len(),
        at(0.5),
        at(0.99),
        at(1.0),
        total_bytes as f64 / options.seconds as f64,
        total_bytes as f64 / options.seconds as f64 / options.subscribers as f64,
        with.p50_ms,
        with.p99_ms
    );
    for client in clients {
        client.abort();
    }
    drop(sources);
    pipeline.shutdown();
    Ok(())
}

/// An engine taking HS256 tenant tokens, its limits raised to the benchmark's subscribers.
fn serve_config(options: &Options) -> anyhow::Result<ServeConfig> {
    let mut config = org::token_config(SECRET)?;
    config.limits = Limits {
        subscriptions_per_tenant: options.subscribers,
        subscriptions: options.subscribers,
        ..config.limits
    };
    Ok(config)
}

/// Every building served, with its company.
fn buildings(state: &ServedState) -> Vec<(i64, i64)> {
    let snapshot = state.snapshot();
    let all = Filter::default();
    snapshot
        .scan(ViewId::OccupancyByBuilding, &all, None)
        .filter_map(|(_, row)| Some((row.first()?.as_int()?, row.get(1)?.as_int()?)))
        .collect()
}

/// When each `as_of` that changed desks was published: the time its delta of
/// `desk_occupancy` was broadcast to the subscribers, received here as by any subscriber.
fn record_publications(
    runtime: &tokio::runtime::Runtime,
    state: &ServedState,
) -> Arc<Mutex<HashMap<u64, Instant>>> {
    let published = Arc::new(Mutex::new(HashMap::new()));
    let mut deltas = state.subscribe(ViewId::DeskOccupancy, None).receiver;
    let record = published.clone();
    runtime.spawn(async move {
        loop {
            match deltas.recv().await {
                Ok(delta) => {
                    if let Ok(mut times) = record.lock() {
                        times.insert(delta.as_of, Instant::now());
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    published
}

/// What the subscribers count together.
struct Counts {
    /// The `as_of` and arrival time of every snapshot and changes message.
    received: Arc<Mutex<Vec<(u64, Instant)>>>,
    /// Their bytes.
    tally: Arc<Mutex<Tally>>,
}

/// What a message is, for the [`Tally`].
#[derive(Clone, Copy)]
enum Kind {
    Snapshot,
    /// Changes message of this many desk changes.
    Changes(u64),
    Progress,
}

/// The bytes the subscribers received, and of the changes messages by how many desk changes
/// each holds: the envelope of a message is shared by its changes, so the bytes per desk
/// change depend on how the changes fall into messages.
#[derive(Default)]
struct Tally {
    /// Every message's.
    bytes: u64,
    /// The progress messages'.
    progress_bytes: u64,
    /// By desk changes in the message (the last bucket: that many or more): messages, desk
    /// changes, bytes.
    changes: [(u64, u64, u64); 4],
}

impl Tally {
    /// Counts a message of `len` bytes: progress, or changes of `desks` desk changes, or else.
    fn count(&mut self, len: usize, kind: Kind) {
        let len = len as u64;
        self.bytes += len;
        match kind {
            Kind::Progress => self.progress_bytes += len,
            Kind::Changes(desks) => {
                let bucket = &mut self.changes[(desks as usize).clamp(1, 4) - 1];
                bucket.0 += 1;
                bucket.1 += desks;
                bucket.2 += len;
            }
            Kind::Snapshot => {}
        }
    }

    fn report(&self, encoding: &str) {
        let sum = |f: fn(&(u64, u64, u64)) -> u64| self.changes.iter().map(f).sum::<u64>();
        let (messages, desks) = (sum(|b| b.0), sum(|b| b.1));
        println!(
            "{encoding} encoding: {desks} desk changes in {messages} changes messages ({:.2} per \
             message): {:.0} bytes per desk change ({:.0} of them in progress messages)",
            desks as f64 / messages.max(1) as f64,
            self.bytes as f64 / desks.max(1) as f64,
            self.progress_bytes as f64 / desks.max(1) as f64,
        );
        for (i, (messages, desks, bytes)) in self.changes.iter().enumerate() {
            let size = if i == 3 {
                "4+".to_owned()
            } else {
                (i + 1).to_string()
            };
            println!(
                "  messages of {size} desk changes: {messages}, {:.0} bytes per desk change",
                *bytes as f64 / (*desks).max(1) as f64
            );
        }
    }
}

/// One subscriber: counts its messages into `counts` until `stop`.
async fn subscriber(url: String, counts: Counts, stop: Arc<AtomicBool>) {
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
        eprintln!("a subscriber could not connect");
        return;
    };
    while let Some(Ok(message)) = socket.next().await {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Message::Text(text) = message else {
            continue;
        };
        let at = Instant::now();
        let kind = if text.starts_with("{\"type\":\"progress\"") {
            Kind::Progress
        } else if text.starts_with("{\"type\":\"changes\"") {
            Kind::Changes(desk_changes(&text))
        } else {
            Kind::Snapshot
        };
        if let Ok(mut tally) = counts.tally.lock() {
            tally.count(text.len(), kind);
        }
        if matches!(kind, Kind::Progress) {
            continue;
        }
        if let Some(as_of) = as_of_of(&text) {
            if let Ok(mut received) = counts.received.lock() {
                received.push((as_of, at));
            }
        }
    }
}

/// The desk changes of a changes message, counted without parsing it: every upserted row
/// and every deleted key names the desk's `table_id` in the object encoding, and is one
/// array inside the `upserts` or `deletes` list in the compact one.
fn desk_changes(text: &str) -> u64 {
    let count = |needle: &str| text.matches(needle).count() as u64;
    if text.contains("\"view\"") {
        count("\"table_id\":")
    } else {
        count("[") - count("\":[")
    }
}

/// The `as_of` of a message, read without parsing the rest.
fn as_of_of(text: &str) -> Option<u64> {
    let start = text.find("\"as_of\":")? + "\"as_of\":".len();
    let digits = &text[start..];
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    digits[..end].parse().ok()
}

/// Sends person moves at `options.rate` for `options.seconds`; returns the changes sent.
fn feed_for(
    generator: &mut OrgGenerator,
    sources: &TransactionSender,
    options: &Options,
) -> anyhow::Result<u64> {
    let start = Instant::now();
    let seconds = Duration::from_secs(options.seconds);
    org::feed_at_rate(generator, sources, options.rate, || {
        start.elapsed() >= seconds
    })
}
