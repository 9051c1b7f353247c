//! MySQL source benchmark against a private MariaDB on this machine (server, engine and
//! benchmark share the 2 cores): binlog catch-up through the whole pipeline, and freshness —
//! commit in MariaDB → change visible over HTTP and pushed on a WebSocket — under a steady
//! write load. The README's table holds the current figures, docs/benchmarks.md their
//! history; nothing here asserts a time.
//!
//! `cargo bench --bench mysql -- [--people N] [--backlog ROWS] [--rows-per-txn N]
//!  [--rate TXN_PER_S] [--seconds S]`

#[path = "../src/allocator.rs"]
mod allocator;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::sync::watch;
use twinflow_connectors::generator::{GeneratorConfig, OrgGenerator};
use twinflow_connectors::mysql::GtidPosition;
use twinflow_connectors::{run_mysql_source, transaction_queue, ConnectorStatus, MySqlConfig};
use twinflow_controller::status::PipelineInfo;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_ingest::{RowChange, SourcePosition, TableId};
use twinflow_oracle::mariadb::PrivateMariaDb;
use twinflow_oracle::sql;
use twinflow_views::ServedState;

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 100_000)]
    people: u64,
    /// Rows written before the engine starts (the catch-up phase).
    #[arg(long, default_value_t = 1_000_000)]
    backlog: u64,
    /// Rows per transaction.
    #[arg(long, default_value_t = 20)]
    rows_per_txn: u64,
    /// Transactions per second of the freshness phase.
    #[arg(long, default_value_t = 5_000)]
    rate: u64,
    /// Seconds of the freshness phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

/// The GTID position the pipeline has published for `source`.
fn applied(state: &ServedState, source: &str) -> Option<GtidPosition> {
    let snapshot = state.snapshot();
    let progress = snapshot.sources().iter().find(|s| s.source == source)?;
    progress.position["gtid"].as_str()?.parse().ok()
}

async fn wait_applied(state: &ServedState, source: &str, target: &GtidPosition) {
    while !applied(state, source).is_some_and(|p| p.covers(target)) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th, in clock ticks (100 per second on Linux).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Where the gate sends what the source reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Gate {
    Closed,
    Forward,
    Discard,
}

/// Writes `options.backlog` row changes (desk moves of `options.rows_per_txn` people per
/// transaction); returns the transactions written.
async fn write_backlog(
    conn: &mut Conn,
    options: &Options,
    round: u64,
    people: u64,
    desks: u64,
) -> anyhow::Result<u64> {
    let txns = options.backlog / options.rows_per_txn.max(1);
    for i in 0..txns {
        let first = 1 + (i * options.rows_per_txn) % people.max(1);
        conn.exec_drop(
            "UPDATE twin_hr.people SET table_id = (COALESCE(table_id, 0) + ?) % ? + 1 \
             WHERE id BETWEEN ? AND ?",
            (
                1 + (i + round) % 7,
                desks.max(1),
                first,
                first + options.rows_per_txn - 1,
            ),
        )
        .await?;
    }
    Ok(txns)
}

async fn server_position(conn: &mut Conn) -> anyhow::Result<GtidPosition> {
    let text: Option<String> = conn.query_first("SELECT @@gtid_binlog_pos").await?;
    Ok(text.unwrap_or_default().parse()?)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(label: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{label}: {} samples, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        samples.last().copied().unwrap_or(0.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let db = PrivateMariaDb::start().context("starting a private MariaDB")?;
    db.source(twinflow_oracle::contract::schema_sql())
        .context("loading schema.sql")?;
    let generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 3,
            scale: options.people,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let rows: Vec<RowChange> = generator.snapshot().flat_map(|t| t.changes).collect();
    let mut conn = Conn::from_url(db.url()).await?;
    let start = Instant::now();
    sql::load_rows(&mut conn, &rows).await?;
    let people = rows.iter().filter(|c| c.table == TableId::People).count() as u64;
    let desks = rows.iter().filter(|c| c.table == TableId::Desk).count() as u64;
    println!(
        "twinflow MySQL benchmark: {} rows loaded ({people} people, {desks} desks) in {:.1} s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );

    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let state = pipeline.state();
    let config = MySqlConfig::new(db.url());
    let source = config.source_name()?;
    let status = Arc::new(ConnectorStatus::new(source.clone(), "mysql"));
    // A gate between the source and the pipeline: closed, it lets a binlog backlog build up;
    // discarding, it measures the source alone.
    let (gate_in, mut gate_out) = transaction_queue(PipelineConfig::default().source_queue_changes);
    let (gate, gate_rx) = watch::channel(Gate::Forward);
    let discarded: Arc<Mutex<(u64, Option<GtidPosition>)>> = Arc::default();
    let sources = pipeline.sources();
    {
        let discarded = discarded.clone();
        tokio::spawn(async move {
            let mut gate = gate_rx;
            while let Some(txn) = gate_out.recv().await {
                let Ok(mode) = gate.wait_for(|g| *g != Gate::Closed).await.map(|g| *g) else {
                    return;
                };
                if mode == Gate::Discard {
                    let gtid = match &txn.position {
                        SourcePosition::Binlog { gtid: Some(g), .. } => g.parse().ok(),
                        _ => None,
                    };
                    if let Ok(mut d) = discarded.lock() {
                        d.0 += txn.changes.len() as u64;
                        d.1 = gtid.or(d.1.take());
                    }
                } else if sources.send(txn).await.is_err() {
                    return;
                }
            }
        });
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let source_task = tokio::spawn(run_mysql_source(
        config,
        None,
        gate_in,
        pipeline.dead_letters(),
        status.clone(),
        async move {
            let mut stop = stop_rx;
            let _ = stop.wait_for(|s| *s).await;
        },
    ));
    let start = Instant::now();
    let target = server_position(&mut conn).await?;
    wait_applied(&state, &source, &target).await;
    println!(
        "snapshot through the pipeline: {} rows in {:.2} s",
        rows.len(),
        start.elapsed().as_secs_f64()
    );

    // Catch-up: a backlog of desk moves written while the gate is closed, then let through:
    // first to be discarded (the source alone), then into the pipeline.
    for (round, mode) in [Gate::Discard, Gate::Forward].into_iter().enumerate() {
        gate.send_replace(Gate::Closed);
        let start = Instant::now();
        let txns = write_backlog(&mut conn, &options, round as u64, people, desks).await?;
        let target = server_position(&mut conn).await?;
        let written = start.elapsed();
        let changes_before = pipeline.metrics().changes();
        *discarded.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = (0, None);
        let start = Instant::now();
        let cpu_before = cpu_seconds();
        gate.send_replace(mode);
        let changes = if mode == Gate::Discard {
            loop {
                let (changes, at) = discarded
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .clone();
                if at.is_some_and(|p| p.covers(&target)) {
                    break changes;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        } else {
            wait_applied(&state, &source, &target).await;
            pipeline.metrics().changes() - changes_before
        };
        let caught_up = start.elapsed();
        let cpu = cpu_seconds() - cpu_before;
        let what = if mode == Gate::Discard {
            "source alone (read + decode)"
        } else {
            "source -> dataflows -> served views"
        };
        println!(
            "catch-up, {what}: {changes} row changes in {txns} transactions (the server wrote \
             them in {:.1} s) in {:.2} s = {:.0} row changes/s, {:.2} cores busy in twinflow",
            written.as_secs_f64(),
            caught_up.as_secs_f64(),
            changes as f64 / caught_up.as_secs_f64(),
            cpu / caught_up.as_secs_f64()
        );
    }

    freshness(&options, &db, &pipeline, people, desks).await?;

    stop_tx.send_replace(true);
    source_task.await?;
    tokio::task::spawn_blocking(move || pipeline.shutdown()).await?;
    Ok(())
}

/// Commit → visible, over HTTP and on a WebSocket, with `options.rate` transactions per second
/// of single-row desk moves going on.
async fn freshness(
    options: &Options,
    db: &PrivateMariaDb,
    pipeline: &Pipeline,
    people: u64,
    desks: u64,
) -> anyhow::Result<()> {
    let info = Arc::new(PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
        None,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = twinflow_serve::router(
        pipeline.state(),
        info,
        twinflow_serve::ServeConfig::anonymous(None),
    );
    tokio::spawn(twinflow_serve::serve(
        listener,
        router,
        std::future::pending(),
    ));

    // The probe: a desk that is in desk_occupancy; its label is what the probes change.
    let probe: i64 = {
        let page = ureq_get(&format!("http://{addr}/v1/views/desk_occupancy?limit=1")).await?;
        page["rows"][0]["table_id"]
            .as_i64()
            .context("no desk in desk_occupancy")?
    };
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://{addr}/v1/views/desk_occupancy/subscribe?table_id={probe}"
    ))
    .await?;
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = ws.next().await {
                let now = Instant::now();
                if let Ok(text) = message.to_text() {
                    const KEY: &str = "\"label\":\"";
                    if let Some(start) = text.find(KEY) {
                        let rest = &text[start + KEY.len()..];
                        if let Some(end) = rest.find('"') {
                            let label = rest[..end].to_string();
                            arrivals.lock().map(|mut a| a.insert(label, now)).ok();
                        }
                    }
                }
            }
        });
    }

    // The load: single-row desk moves at the given rate, over 4 connections.
    let (stop_tx, stop_rx) = watch::channel(false);
    let writers = 4u64;
    let mut load = Vec::new();
    for w in 0..writers {
        let url = db.url();
        let stop = stop_rx.clone();
        let per_writer = (options.rate / writers).max(1);
        load.push(tokio::spawn(async move {
            let mut conn = Conn::from_url(url).await?;
            let mut sent = 0u64;
            let start = Instant::now();
            let mut i = w;
            while !*stop.borrow() {
                let due = (start.elapsed().as_secs_f64() * per_writer as f64) as u64;
                if sent >= due {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                i = i
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                conn.exec_drop(
                    "UPDATE twin_hr.people SET table_id = ? WHERE id = ?",
                    (1 + (i >> 20) % desks.max(1), 1 + (i >> 40) % people.max(1)),
                )
                .await?;
                sent += 1;
            }
            anyhow::Ok(sent)
        }));
    }

    let mut conn = Conn::from_url(db.url()).await?;
    let (mut http, mut pushed) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(options.seconds) {
        n += 1;
        let label = format!("probe-{n}");
        conn.exec_drop(
            "UPDATE twin_infra.`table` SET label = ? WHERE id = ?",
            (label.clone(), probe),
        )
        .await?;
        let committed = Instant::now();
        let url = format!("http://{addr}/v1/views/desk_occupancy?table_id={probe}");
        loop {
            let page = ureq_get(&url).await?;
            if page["rows"][0]["label"] == label.as_str() {
                http.push(committed.elapsed().as_secs_f64() * 1000.0);
                break;
            }
            if committed.elapsed() > Duration::from_secs(10) {
                bail!("{label} not visible after 10 s");
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let arrived = arrivals.lock().ok().and_then(|a| a.get(&label).copied());
        if let Some(at) = arrived {
            pushed.push(at.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop_tx.send_replace(true);
    let mut moves = 0;
    for writer in load {
        moves += writer.await??;
    }
    println!(
        "freshness under {:.0} transactions/s of desk moves ({} probes):",
        (moves + n) as f64 / elapsed,
        n
    );
    summary("  commit -> visible in GET /v1/views", http);
    summary("  commit -> pushed on the WebSocket", pushed);
    Ok(())
}

async fn ureq_get(url: &str) -> anyhow::Result<serde_json::Value> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url).call()?;
        anyhow::Ok(response.body_mut().read_json()?)
    })
    .await?
}
