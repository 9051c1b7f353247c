//! Measures the org generator: building the initial state, producing the snapshot and the
//! change stream, and the process's peak memory.
//!
//! `cargo run --release -p twinflow-connectors --example generator_speed -- [people] [transactions]`

use std::sync::Arc;
use std::time::Instant;

use twinflow_connectors::{GeneratorConfig, OrgGenerator};

fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let scale = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    let transactions = args.next().and_then(Result::ok).unwrap_or(1_000_000);
    println!("before: peak {}", peak_memory());

    let t = Instant::now();
    let mut gen = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale,
            snapshot_chunk: 20_000,
            ..GeneratorConfig::default()
        },
        Arc::from("gen"),
    );
    let state = gen.state_bytes() >> 20;
    println!(
        "initial state of {scale} people: {:?}, state {state} MiB, peak {}",
        t.elapsed(),
        peak_memory()
    );

    let t = Instant::now();
    let (mut parts, mut rows) = (0, 0);
    for part in gen.snapshot() {
        parts += 1;
        rows += part.changes.len();
    }
    let took = t.elapsed();
    println!(
        "snapshot: {rows} rows in {parts} parts, {took:?} ({:.0} ns/row), peak {}",
        took.as_nanos() as f64 / rows as f64,
        peak_memory()
    );

    let t = Instant::now();
    let mut changes = 0;
    let mut sizes = [0u64; 16];
    for i in 0..transactions {
        let n = gen.next_transaction().changes.len();
        changes += n;
        sizes[n.min(15)] += 1;
        if (i + 1) % 1_000_000 == 0 {
            let people = gen.row_count(twinflow_ingest::TableId::People);
            let desks = gen.row_count(twinflow_ingest::TableId::Desk);
            let state = gen.state_bytes() >> 20;
            println!("  after {} transactions: {people} people, {desks} desks, state {state} MiB, peak {}", i + 1, peak_memory());
        }
    }
    let took = t.elapsed();
    println!(
        "stream: {transactions} transactions, {changes} changes in {took:?} ({:.0} ns/change, {:.2} M changes/s), peak {}",
        took.as_nanos() as f64 / changes as f64,
        changes as f64 / took.as_secs_f64() / 1e6,
        peak_memory()
    );
    let histogram: Vec<String> = sizes
        .iter()
        .enumerate()
        .filter(|(_, &k)| k > 0)
        .map(|(n, k)| format!("{n}: {k}"))
        .collect();
    println!("changes per transaction: {}", histogram.join(", "));
}
