//! Durability benchmark: what checkpoints cost while the engine works, and how long a restart
//! from one takes. The README's table holds the current figures, docs/benchmarks.md their
//! history; nothing here asserts a time.
//!
//! `cargo bench --bench recovery -- [--scale N] [--workers N] [--seconds S]`
//!
//! 1. An org of `--scale` people is hydrated into a pipeline with a data directory.
//! 2. A closed loop of 1000-change timestamps (person moves) runs for `--seconds`, once without
//!    checkpoints and once with one every second: the per-timestamp latency of both.
//! 3. The pipeline shuts down (writing a last checkpoint) and a new one starts from the data
//!    directory: the time until the restored state is served.

#[path = "../src/allocator.rs"]
mod allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use twinflow_connectors::generator::{ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_controller::durability::DurabilityConfig;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_dataflows::EngineConfig;
use twinflow_views::ServedState;

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 1_000_000)]
    scale: u64,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Seconds of each latency phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn wait_for(state: &ServedState, as_of: u64) {
    while state.snapshot().as_of < as_of {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn start(options: &Options, dir: &std::path::Path, interval: Duration) -> anyhow::Result<Pipeline> {
    Pipeline::start(PipelineConfig {
        engine: EngineConfig {
            workers: options.workers,
            ..EngineConfig::default()
        },
        max_changes_per_timestamp: 1_000,
        durability: Some(DurabilityConfig {
            dir: dir.to_path_buf(),
            interval,
        }),
        ..PipelineConfig::default()
    })
}

/// Closed loop of 1000-change timestamps for `seconds`: sorted send → visible latencies (ms).
fn closed_loop(
    pipeline: &Pipeline,
    generator: &mut OrgGenerator,
    seconds: u64,
) -> anyhow::Result<Vec<f64>> {
    let state = pipeline.state();
    let sources = pipeline.sources();
    let mut latencies = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let target = state.snapshot().as_of + 1;
        let start = Instant::now();
        let mut sent = 0;
        while sent < 1_000 {
            let txn = generator.next_transaction();
            sent += txn.changes.len();
            sources.blocking_send(txn).context("pipeline stopped")?;
        }
        wait_for(&state, target);
        latencies.push(start.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// Prints the quantiles of sorted latencies (ms).
fn report(label: &str, sorted: &[f64]) {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q) as usize];
    println!(
        "1000 changes/timestamp, {label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} timestamps)",
        at(0.5),
        at(0.99),
        at(1.0),
        sorted.len()
    );
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let dir = tempfile::tempdir()?;
    println!(
        "twinflow recovery benchmark: {} people, {} workers, data directory {}",
        options.scale,
        options.workers,
        dir.path().display()
    );
    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale: options.scale,
            mix: ChangeMix::PersonMoves,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );

    // Hydration, without checkpoints yet (an interval longer than the benchmark).
    let quiet = Duration::from_secs(24 * 3600);
    let pipeline = start(&options, dir.path(), quiet)?;
    let sources = pipeline.sources();
    for part in generator.snapshot() {
        sources.blocking_send(part).context("pipeline stopped")?;
    }
    while pipeline.metrics().transactions() < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let without = closed_loop(&pipeline, &mut generator, options.seconds)?;
    report("no checkpoints", &without);
    drop(sources);
    pipeline.shutdown();

    // The same loop with a checkpoint every second (restarting from the last checkpoint).
    let started = Instant::now();
    let pipeline = start(&options, dir.path(), Duration::from_secs(1))?;
    let stats = pipeline.checkpoint_stats().context("durable")?;
    wait_for(&pipeline.state(), pipeline.restored_as_of());
    let restart = started.elapsed();
    generator.resume_after(
        match pipeline
            .restored_positions()
            .get("generator")
            .map(|s| &s.position)
        {
            Some(&twinflow_ingest::SourcePosition::Generator { seq }) => seq,
            _ => bail!("the checkpoint has no generator position"),
        },
    );
    println!(
        "restart from the checkpoint to serving: {:.2} s ({})",
        restart.as_secs_f64(),
        stats.to_json()["restored"]
    );
    let with = closed_loop(&pipeline, &mut generator, options.seconds)?;
    report("a checkpoint every 1 s", &with);
    println!("checkpoints: {}", stats.to_json());
    pipeline.shutdown();
    Ok(())
}
