//! End-to-end benchmark: org generator → sequencer → dataflows → served view state, then the
//! HTTP read path. The README's table holds the current figures, docs/benchmarks.md their
//! history; nothing here asserts a time.
//!
//! `cargo bench --bench pipeline -- [--scale N] [--workers N] [--mix person-moves|realistic]
//! [--moves N] [--http-seconds S]`

#[path = "../src/allocator.rs"]
mod allocator;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use twinflow_connectors::generator::{ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_connectors::TransactionSender;
use twinflow_controller::status::PipelineInfo;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_dataflows::EngineConfig;
use twinflow_views::{ServedState, ViewId};

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 1_000_000)]
    scale: u64,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The change stream: person-moves or realistic.
    #[arg(long, default_value = "person-moves")]
    mix: ChangeMix,
    /// Changes of the throughput phase.
    #[arg(long, default_value_t = 2_000_000)]
    moves: u64,
    /// Timestamps of the latency phase.
    #[arg(long, default_value_t = 1_000)]
    latency_batches: u64,
    /// Changes per timestamp of the latency phase.
    #[arg(long, default_value_t = 1_000)]
    latency_changes: u64,
    /// Seconds of the HTTP phase.
    #[arg(long, default_value_t = 10)]
    http_seconds: u64,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 4)]
    http_connections: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

/// Starts a new peak-RSS measurement: the kernel's high-water mark is reset to the current
/// RSS (Linux `clear_refs` value 5), so that a phase's peak does not include an earlier one's.
fn reset_peak_rss() {
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS ({e}); peaks include earlier phases");
    }
}

/// A memory figure of this process from `/proc/self/status` (`VmHWM`, `VmRSS`), in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Waits until the allocator has returned what the process freed: jemalloc's background thread
/// purges freed pages over about a second (`dirty_decay_ms`), so right after one pipeline
/// stops, its freed memory would still count towards the next one's peak. Returns once the RSS
/// has not fallen for half a second, or after five seconds.
fn settle_rss() {
    let start = Instant::now();
    let mut low = status_mb("VmRSS");
    let mut low_since = Instant::now();
    while low_since.elapsed() < Duration::from_millis(500)
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
        let rss = status_mb("VmRSS");
        if rss < low - 1.0 {
            low = rss;
            low_since = Instant::now();
        }
    }
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

fn wait_for(state: &ServedState, as_of: u64) {
    while state.snapshot().as_of < as_of {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Sends transactions until `changes` row changes have gone in; returns the changes sent.
fn feed(
    generator: &mut OrgGenerator,
    sources: &TransactionSender,
    changes: u64,
) -> anyhow::Result<u64> {
    let mut sent = 0;
    while sent < changes {
        let txn = generator.next_transaction();
        sent += txn.changes.len() as u64;
        sources.blocking_send(txn).context("pipeline stopped")?;
    }
    Ok(sent)
}

/// A pipeline with the generated org loaded and published, and the generator to continue from.
fn hydrated(
    options: &Options,
    config: PipelineConfig,
) -> anyhow::Result<(Pipeline, OrgGenerator, usize)> {
    let pipeline = Pipeline::start(config)?;
    let generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale: options.scale,
            mix: options.mix,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let sources = pipeline.sources();
    let mut rows = 0;
    for part in generator.snapshot() {
        rows += part.changes.len();
        sources.blocking_send(part).context("pipeline stopped")?;
    }
    wait_for(&pipeline.state(), 1);
    Ok((pipeline, generator, rows))
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    println!(
        "twinflow pipeline benchmark: {} people, {} workers, {:?} changes",
        options.scale, options.workers, options.mix
    );
    let config = |max_changes_per_timestamp| PipelineConfig {
        engine: EngineConfig {
            workers: options.workers,
            ..EngineConfig::default()
        },
        max_changes_per_timestamp,
        ..PipelineConfig::default()
    };

    // Hydration: the whole org as one transaction.
    reset_peak_rss();
    let start = Instant::now();
    let (pipeline, mut generator, snapshot_rows) = hydrated(&options, config(10_000))?;
    let state = pipeline.state();
    let sources = pipeline.sources();
    let hydration = start.elapsed();
    let snapshot = state.snapshot();
    println!(
        "hydration: {snapshot_rows} rows in {:.2} s, peak RSS {:.0} MB, RSS when served {:.0} MB",
        hydration.as_secs_f64(),
        peak_rss_mb(),
        status_mb("VmRSS")
    );
    for view in ViewId::ALL {
        println!("  {:<22} {:>9} rows", view.name(), snapshot.len(view));
    }
    drop(snapshot);

    // Throughput: the generated change stream, up to 10k changes per timestamp.
    let metrics = pipeline.metrics();
    if options.moves == 0 {
        println!("throughput: skipped");
    }
    let before = metrics.changes();
    let updates_before = metrics.view_updates();
    let start = Instant::now();
    let sent = feed(&mut generator, &sources, options.moves)?;
    while metrics.changes() < before + sent {
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = start.elapsed();
    let latency = metrics.latencies(true);
    if sent > 0 {
        println!(
        "throughput: {sent} changes in {:.2} s = {:.0} changes/s over {} timestamps (p50 {:.1} ms, p99 {:.1} ms per timestamp), peak RSS {:.0} MB",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        latency.samples,
        latency.p50_ms,
        latency.p99_ms,
        peak_rss_mb()
    );
        println!(
            "  {:.2} view row updates per change",
            (metrics.view_updates() - updates_before) as f64 / sent as f64
        );
    }
    // Everything of this pipeline goes before the next one starts, so that each phase's peak
    // RSS is that of one pipeline (with its generator).
    drop((sources, state, generator));
    pipeline.shutdown();
    settle_rss();
    println!(
        "RSS once the first pipeline's memory is returned: {:.0} MB",
        status_mb("VmRSS")
    );

    // Latency: closed loop of 1000-change timestamps on a fresh, hydrated pipeline.
    reset_peak_rss();
    let (pipeline, mut generator, _) =
        hydrated(&options, config(options.latency_changes as usize))?;
    let state = pipeline.state();
    let sources = pipeline.sources();
    let metrics = pipeline.metrics();
    metrics.latencies(true);
    let mut round_trips = Vec::new();
    for _ in 0..options.latency_batches {
        let target = state.snapshot().as_of + 1;
        let start = Instant::now();
        feed(&mut generator, &sources, options.latency_changes)?;
        wait_for(&state, target);
        round_trips.push(start.elapsed());
    }
    round_trips.sort();
    let at = |q: f64| {
        let last = round_trips.len().saturating_sub(1);
        round_trips
            .get((last as f64 * q) as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let latency = metrics.latencies(true);
    println!(
        "latency at {} changes/timestamp: send→visible p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; seal→visible p50 {:.2} ms, p99 {:.2} ms ({} timestamps)",
        options.latency_changes,
        at(0.5),
        at(0.99),
        at(1.0),
        latency.p50_ms,
        latency.p99_ms,
        latency.samples
    );
    println!("peak RSS of the latency pipeline: {:.0} MB", peak_rss_mb());

    // HTTP: one company's occupancy, keep-alive clients on loopback; first without auth, then
    // with a tenant token (HS256) verified on every request.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // The company with the most rooms (the generator may have soft-deleted any company just now).
    let snapshot = state.snapshot();
    let mut rooms_per_company = std::collections::BTreeMap::new();
    for ((company, _), _) in
        snapshot.scan(ViewId::Occupancy, &twinflow_views::Filter::default(), None)
    {
        *rooms_per_company.entry(company).or_insert(0usize) += 1;
    }
    let (company, rows) = rooms_per_company
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .context("no rooms served")?;
    let info = Arc::new(PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
        None,
    ));
    let path = format!("/v1/views/occupancy?company_id={company}&limit=1000");
    let open = http_phase(
        &runtime,
        twinflow_serve::router(
            pipeline.state(),
            info.clone(),
            twinflow_serve::ServeConfig::anonymous(None),
        ),
        &path,
        "",
        &options,
    )?;
    println!(
        "http: GET {path} ({rows} rows): {open:.0} requests/s over {} s with {} keep-alive connections",
        options.http_seconds, options.http_connections
    );
    let (tenant_config, token) = tenant_auth(company)?;
    let with_token = http_phase(
        &runtime,
        twinflow_serve::router(pipeline.state(), info, tenant_config),
        &path,
        &format!("Authorization: Bearer {token}\r\n"),
        &options,
    )?;
    println!(
        "http with a tenant token checked on every request: {with_token:.0} requests/s ({:.0} % of \
         the requests/s without auth)",
        100.0 * with_token / open
    );
    drop(sources);
    pipeline.shutdown();
    println!("peak RSS with the HTTP phase: {:.0} MB", peak_rss_mb());
    Ok(())
}

/// Serves `router` on loopback and measures the requests per second of
/// `options.http_connections` keep-alive clients sending `GET path` with `headers` (each
/// ending in CRLF) for `options.http_seconds`.
fn http_phase(
    runtime: &tokio::runtime::Runtime,
    router: axum::Router,
    path: &str,
    headers: &str,
    options: &Options,
) -> anyhow::Result<f64> {
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(twinflow_serve::serve(listener, router, async {
        let _ = stop_rx.await;
    }));
    let request: Arc<str> = Arc::from(format!(
        "GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n"
    ));
    let done = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..options.http_connections)
        .map(|_| {
            let (done, requests, request) = (done.clone(), requests.clone(), request.clone());
            std::thread::spawn(move || http_client(address, &request, &done, &requests))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(options.http_seconds));
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client
            .join()
            .map_err(|_| anyhow::anyhow!("client panicked"))??;
    }
    let _ = stop_tx.send(());
    runtime.block_on(server)??;
    Ok(requests.load(Ordering::Relaxed) as f64 / options.http_seconds as f64)
}

/// An engine that takes HS256 reader tokens (with no request-rate limit, which is not what is
/// measured), and a token of `company` for it.
fn tenant_auth(company: i64) -> anyhow::Result<(twinflow_serve::ServeConfig, String)> {
    use twinflow_serve::auth::{JwtConfig, TokenVerifier};
    let secret = b"the benchmark's HS256 secret, 32 bytes or more".to_vec();
    let key = jsonwebtoken::EncodingKey::from_secret(&secret)?;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"sub": "bench-reader", "company_id": company, "exp": exp});
    let token = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)?;
    let verifier = TokenVerifier::new(JwtConfig {
        secret: Some(secret),
        ..JwtConfig::default()
    })?;
    let mut config = twinflow_serve::ServeConfig::anonymous(None);
    config.auth.anonymous_reads = false;
    config.auth.jwt = Some(Arc::new(verifier));
    Ok((config, token))
}

/// A minimal HTTP/1.1 keep-alive client: sends the same `request` until told to stop.
fn http_client(
    address: std::net::SocketAddr,
    request: &str,
    done: &AtomicBool,
    requests: &AtomicU64,
) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let mut buffer = vec![0u8; 1 << 20];
    while !done.load(Ordering::Relaxed) {
        stream.write_all(request.as_bytes())?;
        let mut filled = 0;
        let body_end = loop {
            let n = stream.read(&mut buffer[filled..])?;
            if n == 0 {
                bail!("server closed the connection");
            }
            filled += n;
            if let Some(end) = response_end(&buffer[..filled])? {
                break end;
            }
            if filled == buffer.len() {
                buffer.resize(buffer.len() * 2, 0);
            }
        };
        if body_end != filled {
            bail!("unexpected bytes after the response");
        }
        if !buffer.starts_with(b"HTTP/1.1 200") {
            bail!(
                "unexpected response: {}",
                String::from_utf8_lossy(&buffer[..filled.min(200)])
            );
        }
        requests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Where the response in `data` ends, once its headers and `content-length` body are in.
fn response_end(data: &[u8]) -> anyhow::Result<Option<usize>> {
    let Some(headers_end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let headers = String::from_utf8_lossy(&data[..headers_end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .context("response without content-length")?
        .trim()
        .parse()?;
    let end = headers_end + 4 + length;
    Ok((data.len() >= end).then_some(end))
}
