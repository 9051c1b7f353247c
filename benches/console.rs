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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use fantoccini::Locator;
use twinflow_connectors::generator::{ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_controller::status::PipelineInfo;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_serve::auth::{JwtConfig, TokenVerifier};
use twinflow_serve::ServeConfig;
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
    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let mut generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale: options.scale,
            mix: ChangeMix::PersonMoves,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let sources = pipeline.sources();
    for part in generator.snapshot() {
        sources.blocking_send(part).context("pipeline stopped")?;
    }
    let state = pipeline.state();
    while state.snapshot().as_of < 1 {
        std::thread::sleep(Duration::from_millis(10));
    }
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
    let verifier = TokenVerifier::new(JwtConfig {
        secret: Some(SECRET.to_vec()),
        ..JwtConfig::default()
    })?;
    let mut config = ServeConfig::anonymous(None);
    config.auth.anonymous_reads = false;
    config.auth.jwt = Some(Arc::new(verifier));
    let info = Arc::new(PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
        None,
    ));
    let router = twinflow_serve::router(state.clone(), info, config);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(twinflow_serve::serve(
        listener,
        router,
        std::future::pending(),
    ));
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "bench-staff", "role": "admin", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET)?,
    )?;

    // The change stream, in 10 ms steps, until stopped.
    let stop = Arc::new(AtomicBool::new(false));
    let feeder = {
        let (stop, sources, per_step) =
            (stop.clone(), sources.clone(), (options.rate / 100).max(1));
        std::thread::spawn(move || {
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let mut sent = 0;
                while sent < per_step {
                    let txn = generator.next_transaction();
                    sent += txn.changes.len() as u64;
                    if sources.blocking_send(txn).is_err() {
                        return;
                    }
                }
                next += Duration::from_millis(10);
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
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
    let _ = feeder.join();
    drop(sources);
    pipeline.shutdown();
    Ok(())
}
