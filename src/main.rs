//! The `twinflow` command line.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;
use twinflow::pipeline::{Pipeline, PipelineConfig};
use twinflow::status::PipelineInfo;
use twinflow_connectors::generator::{run_generator, GeneratorConfig, OrgGenerator};
use twinflow_dataflows::EngineConfig;

/// twinflow keeps the live views of an organisation's digital twin.
#[derive(Parser)]
#[command(name = "twinflow", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the engine on the embedded org generator and serves the views (the default).
    Demo(DemoArgs),
}

#[derive(Parser, Clone)]
struct DemoArgs {
    /// Address to serve the HTTP/WebSocket API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// People in the generated org (companies, jobs, desks, rooms, ... in proportion).
    #[arg(long, default_value_t = 100_000)]
    scale: u64,
    /// Row changes per second of the generated change stream (0 = as fast as possible).
    #[arg(long, default_value_t = 1_000.0)]
    rate: f64,
    /// Seed of the generator: the same seed gives the same org and change stream.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // With no subcommand, run the demo with its defaults.
    let command = cli
        .command
        .unwrap_or_else(|| Command::Demo(DemoArgs::parse_from(["twinflow"])));
    match command {
        Command::Demo(args) => runtime.block_on(demo(args)),
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let config = PipelineConfig {
        engine: EngineConfig {
            workers: args.workers,
            ..EngineConfig::default()
        },
        ..PipelineConfig::default()
    };
    let pipeline = Pipeline::start(config)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    println!(
        "twinflow demo: {} people, {} changes/s, seed {}",
        args.scale, args.rate, args.seed
    );
    println!("serving http://{address}/v1/views  (status: http://{address}/v1/status)");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let generator = OrgGenerator::new(
        GeneratorConfig {
            seed: args.seed,
            scale: args.scale,
            ..GeneratorConfig::default()
        },
        Arc::from("generator"),
    );
    let generator = tokio::spawn(run_generator(
        generator,
        args.rate,
        pipeline.sources(),
        stopped(stop_rx.clone()),
    ));
    let summary = tokio::spawn(print_summary(
        pipeline.metrics(),
        pipeline.state(),
        stopped(stop_rx.clone()),
    ));

    let info = Arc::new(PipelineInfo::new(
        pipeline.metrics(),
        pipeline.dead_letters(),
    ));
    let router = twinflow_serve::router(pipeline.state(), info);
    let shutdown = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {err}");
        }
    };
    twinflow_serve::serve(listener, router, shutdown)
        .await
        .context("serving the API")?;

    eprintln!("\nshutting down");
    stop_tx.send_replace(true);
    generator.await.context("generator task")?;
    summary.await.context("summary task")?;
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .context("pipeline shutdown")?;
    Ok(())
}

/// Prints a one-line summary every second: as_of, changes/s, lag, rows.
async fn print_summary(
    metrics: Arc<twinflow_dataflows::EngineMetrics>,
    state: twinflow_views::ServedState,
    stop: impl std::future::Future<Output = ()>,
) {
    let interactive = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_changes = metrics.changes();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticker.tick() => {}
        }
        let changes = metrics.changes();
        let rate = changes - last_changes;
        last_changes = changes;
        let snapshot = state.snapshot();
        let now = twinflow_views::now_ms();
        let lag = snapshot
            .sources()
            .iter()
            .map(|s| s.lag_ms(now))
            .max()
            .unwrap_or(0);
        let rows: usize = twinflow_views::ViewId::ALL
            .iter()
            .map(|&v| snapshot.len(v))
            .sum();
        let line = format!(
            "as_of {:>8}  {:>8} changes/s  lag {:>5} ms  {:>9} view rows  p99 {:>6.1} ms",
            snapshot.as_of,
            rate,
            lag,
            rows,
            metrics.latencies(false).p99_ms
        );
        if interactive {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}
