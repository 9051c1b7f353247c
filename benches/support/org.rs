//! What the benchmarks that serve a changing org share: the hydrated pipeline, an engine taking
//! HS256 reader tokens, its tokens, and the change stream at a steady rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use twinflow_connectors::generator::{ChangeMix, GeneratorConfig, OrgGenerator};
use twinflow_connectors::TransactionSender;
use twinflow_controller::status::PipelineInfo;
use twinflow_controller::{Pipeline, PipelineConfig};
use twinflow_serve::auth::{JwtConfig, TokenVerifier};
use twinflow_serve::ServeConfig;

/// A pipeline with an org of `scale` people published, and its generator of person moves.
pub fn hydrated(scale: u64) -> anyhow::Result<(Pipeline, OrgGenerator)> {
    let pipeline = Pipeline::start(PipelineConfig::default())?;
    let generator = OrgGenerator::new(
        GeneratorConfig {
            seed: 1,
            scale,
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
    Ok((pipeline, generator))
}

/// An engine that takes HS256 reader tokens signed with `secret`, and no anonymous reads.
pub fn token_config(secret: &[u8]) -> anyhow::Result<ServeConfig> {
    let verifier = TokenVerifier::new(JwtConfig {
        secret: Some(secret.to_vec()),
        ..JwtConfig::default()
    })?;
    let mut config = ServeConfig::anonymous(None);
    config.auth.anonymous_reads = false;
    config.auth.jwt = Some(Arc::new(verifier));
    Ok(config)
}

/// Serves `pipeline`'s views with `config` on a free loopback port, on `runtime`.
pub fn serve(
    runtime: &tokio::runtime::Runtime,
    pipeline: &Pipeline,
    config: ServeConfig,
) -> anyhow::Result<SocketAddr> {
    let info = Arc::new(PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
        None,
    ));
    let router = twinflow_serve::router(pipeline.state(), info, config);
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    runtime.spawn(twinflow_serve::serve(
        listener,
        router,
        std::future::pending(),
    ));
    Ok(address)
}

/// A token of `claims` signed with `secret`, valid for an hour.
pub fn token(secret: &[u8], mut claims: serde_json::Value) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    claims["exp"] = exp.into();
    let key = jsonwebtoken::EncodingKey::from_secret(secret)?;
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &key,
    )?)
}

/// Sends person moves at `rate` changes per second (in 10 ms steps) until `done`; returns the
/// changes sent.
pub fn feed_at_rate(
    generator: &mut OrgGenerator,
    sources: &TransactionSender,
    rate: u64,
    done: impl Fn() -> bool,
) -> anyhow::Result<u64> {
    let step = Duration::from_millis(10);
    let per_step = (rate / 100).max(1);
    let mut sent = 0;
    let mut next = Instant::now();
    while !done() {
        let target = sent + per_step;
        while sent < target {
            let txn = generator.next_transaction();
            sent += txn.changes.len() as u64;
            sources.blocking_send(txn).context("pipeline stopped")?;
        }
        next += step;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(sent)
}
