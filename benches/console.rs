//! Console benchmark: the floor page in headless Chromium while the org changes. The README's
//! table holds the current figures, docs/benchmarks.md their history; nothing here asserts a
//! time.
//!
//! `cargo bench --bench console -- [--scale N] [--rate CHANGES/S] [--seconds S]`
//!
//! An org of `--scale` people is hydrated and changes at `--rate` (person moves). The console,
//! signed in with a platform token, opens the floor with the most desks: the time from the
//! page's request to every desk drawn, then the bytes per second its floor subscription
//! receives over `--seconds`.

#[path = "../src/allocator.rs"]
mod allocator;
#[path = "../tests/support/browser.rs"]
mod browser;
#[path = "support/org.rs"]
mod org;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use fantoccini::Locator;
use twinflow_views::{Filter, ViewId};

/// The benchmark's options.
#[derive(Parser)]
struct Options {
    /// People in the generated org.
    #[arg(long, default_value_t = 1_000_000)]
    scale: u64,
    /// Row changes per second of the change stream.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Seconds the floor's subscription is measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Passed by `cargo bench`; ignored.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

const SECRET: &[u8] = b"the console benchmark's secret, 32 bytes";

fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let (pipeline, mut generator) = org::hydrated(options.scale)?;
    let sources = pipeline.sources();
    let state = pipeline.state();
    // The floor with the most desks.
    let snapshot = state.snapshot();
    let mut desks: HashMap<(i64, i64, i64), usize> = HashMap::new();
    for (_, row) in snapshot.scan(ViewId::DeskOccupancy, &Filter::default(), None) {
        let id = |i: usize| row[i].as_int().unwrap_or_default();
        *desks.entry((id(0), id(1), id(2))).or_default() += 1;
    }
    let ((company, building, floor), count) = desks
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .context("no desks")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let address = org::serve(&runtime, &pipeline, org::token_config(SECRET)?)?;
    let token = org::token(
        SECRET,
        serde_json::json!({"sub": "bench-staff", "role": "admin"}),
    )?;

    // The change stream, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (stop, sources, rate) = (stop.clone(), sources.clone(), options.rate);
        std::thread::spawn(move || {
            org::feed_at_rate(&mut generator, &sources, rate, || {
                stop.load(Ordering::Relaxed)
            })
        })
    };

    let driver = browser::Driver::start();
    let profile = tempfile::tempdir()?;
    let measured = runtime.block_on(async {
        let client = browser::browser(&driver, profile.path()).await;
        client.goto(&format!("http://{address}/#overview")).await?;
        client
            .find(Locator::Css("#token"))
            .await?
            .send_keys(&token)
            .await?;
        client
            .find(Locator::Css("#sign-in-button"))
            .await?
            .click()
            .await?;
        let started = Instant::now();
        client
            .goto(&format!(
                "http://{address}/#occupancy?company={company}&building={building}&floor={floor}"
            ))
            .await?;
        let drawn = format!(
            "return document.querySelectorAll('#floor-map rect[data-table-id]').length >= {count}"
        );
        browser::until(&client, &drawn, Duration::from_secs(60)).await;
        let loaded = started.elapsed();
        let reset = "window.__twinflowFloor.bytes = 0; window.__twinflowFloor.since = Date.now(); \
                     return true;";
        client.execute(reset, Vec::new()).await?;
        tokio::time::sleep(Duration::from_secs(options.seconds)).await;
        let bytes = client
            .execute("return window.__twinflowFloor.bytes", Vec::new())
            .await?
            .as_f64()
            .unwrap_or_default();
        client.close().await?;
        anyhow::Ok((loaded, bytes))
    })?;
    let (loaded, bytes) = measured;
    println!(
        "console at {} people, {} changes/s: the floor of {count} desks drawn {:.0} ms after \
         the page was asked for; its subscription received {:.0} bytes/s over {} s",
        options.scale,
        options.rate,
        loaded.as_secs_f64() * 1e3,
        bytes / options.seconds as f64,
        options.seconds
    );
    stop.store(true, Ordering::Relaxed);
    feeder
        .join()
        .map_err(|_| anyhow::anyhow!("the feeder panicked"))??;
    drop(sources);
    pipeline.shutdown();
    Ok(())
}
