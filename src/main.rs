//! The `twinflow` command line.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::sync::watch;
use twinflow::catalog::file::CatalogFile;
use twinflow::catalog::{ConnectorSpec, GeneratorSource, SourceConfig};
use twinflow::config::RunConfig;
use twinflow::durability::DurabilityConfig;
use twinflow::manager::{ConnectorManager, Wiring};
use twinflow::operator_cli;
use twinflow::pipeline::{wait_until_published, Pipeline, PipelineConfig};
use twinflow::sink::run_view_sink;
use twinflow::status::PipelineInfo;
use twinflow::verify::VerifyOptions;
use twinflow_connectors::generator::ChangeMix;
use twinflow_connectors::{
    DebeziumFileConfig, KafkaSink, KafkaSinkConfig, KafkaSourceConfig, MySqlConfig,
};
use twinflow_dataflows::EngineConfig;
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_views::{StateConfig, ViewId};

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
    /// Runs the engine on MySQL/MariaDB, Kafka (Debezium) and Debezium-file sources, and serves
    /// the views.
    Run(RunArgs),
    /// Compares a running engine's views with views.sql evaluated on its MySQL/MariaDB source;
    /// exits 0 only when every view is equal.
    Verify(VerifyArgs),
    /// Operates a running engine's connectors through its REST API (the operator token is
    /// read from TWINFLOW_OPERATOR_TOKEN).
    #[command(subcommand)]
    Connectors(ConnectorsCommand),
}

#[derive(Subcommand, Clone)]
enum ConnectorsCommand {
    /// Lists the connectors: state, changes read, rate, errors, dead letters, position.
    List(OperatorArgs),
    /// Holds a connector at its position: nothing more is read until it is resumed.
    Pause(ConnectorArgs),
    /// Lets a paused connector go on from where it stopped.
    Resume(ConnectorArgs),
    /// Adds a connector: it snapshots its tables into the running views, then streams.
    Add(AddArgs),
    /// Stops a connector and removes every row it contributed, in one transaction.
    Remove(ConnectorArgs),
}

#[derive(Parser, Clone)]
struct AddArgs {
    /// The new connector's name.
    name: String,
    /// What it reads: mysql, kafka or generator.
    #[arg(long)]
    kind: String,
    /// Its configuration, a JSON object: for mysql `{"url": "mysql://USER:PASS@HOST:PORT",
    /// "databases": [...]}`, for kafka `{"brokers": ..., "prefix": ..., "group": ...}`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    config: String,
    #[command(flatten)]
    engine: OperatorArgs,
}

#[derive(Parser, Clone)]
struct ConnectorArgs {
    /// The connector's name (as `connectors list` shows it).
    name: String,
    #[command(flatten)]
    engine: OperatorArgs,
}

/// What every `connectors` subcommand takes: which engine, and how to print its answer.
#[derive(Parser, Clone)]
struct OperatorArgs {
    /// The engine, `http://HOST:PORT`.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    json: bool,
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
    /// Which changes the stream makes: `realistic` (every kind, person moves dominate) or
    /// `person-moves` (only desk and job changes).
    #[arg(long, default_value = "realistic")]
    mix: ChangeMix,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    retention: RetentionArgs,
    #[command(flatten)]
    durability: DurabilityArgs,
}

/// What the served state retains.
#[derive(clap::Args, Clone)]
struct RetentionArgs {
    /// Row changes kept per view for subscribers resuming with `?after=` (older ones get a
    /// reset snapshot) [default: 10000].
    #[arg(long, value_name = "N")]
    change_log_rows: Option<usize>,
}

impl RetentionArgs {
    /// The served state's limits, the flag first, then the configuration file's.
    fn config(&self, file_rows: Option<usize>) -> StateConfig {
        let defaults = StateConfig::default();
        StateConfig {
            log_row_changes: self
                .change_log_rows
                .or(file_rows)
                .unwrap_or(defaults.log_row_changes),
            ..defaults
        }
    }
}

/// Where and how often state is checkpointed.
#[derive(clap::Args, Clone)]
struct DurabilityArgs {
    /// Checkpoint into this directory and, at start, restore from its newest valid checkpoint
    /// and resume every source from its position there [default: no checkpoints].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Seconds between checkpoints [default: 10].
    #[arg(long, value_name = "SECONDS")]
    checkpoint_interval: Option<f64>,
}

impl DurabilityArgs {
    /// The durability settings, flags first, then the configuration file's.
    fn config(
        &self,
        file_dir: Option<PathBuf>,
        file_interval: Option<f64>,
    ) -> anyhow::Result<Option<DurabilityConfig>> {
        let Some(dir) = self.data_dir.clone().or(file_dir) else {
            return Ok(None);
        };
        let seconds = self.checkpoint_interval.or(file_interval).unwrap_or(10.0);
        let interval = Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .with_context(|| {
                format!("checkpoint interval {seconds} s is not a positive duration")
            })?;
        Ok(Some(DurabilityConfig { dir, interval }))
    }
}

#[derive(Parser, Clone)]
struct RunArgs {
    /// A TOML configuration file (see twinflow.example.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A MySQL/MariaDB server to read, `mysql://USER:PASS@HOST:PORT` (repeatable).
    #[arg(long = "mysql", value_name = "URL")]
    mysql: Vec<String>,
    /// Newline-delimited Debezium JSON to replay, a file or `-` for standard input (repeatable).
    #[arg(long = "debezium-file", value_name = "PATH|-")]
    debezium_file: Vec<PathBuf>,
    /// How DECIMAL values arrive in Debezium messages without schemas (Debezium's
    /// decimal.handling.mode): precise, string or double.
    #[arg(long, default_value = "precise")]
    debezium_decimals: DecimalMode,
    /// Kafka brokers to read Debezium change events from (with --kafka-prefix), and to write
    /// view changes to (with --kafka-sink).
    #[arg(long, value_name = "BROKERS")]
    kafka: Option<String>,
    /// Debezium's topic prefix: topics `<prefix>.<database>.<table>` are read.
    #[arg(long, value_name = "PREFIX", requires = "kafka")]
    kafka_prefix: Option<String>,
    /// The consumer group recording the applied offsets [default: twinflow-<prefix>].
    #[arg(long, value_name = "GROUP", requires = "kafka_prefix")]
    kafka_group: Option<String>,
    /// Write every view's changes to the topics `<PREFIX>.views.<view>` of the --kafka brokers.
    #[arg(long, value_name = "PREFIX", requires = "kafka")]
    kafka_sink: Option<String>,
    /// Address to serve the HTTP/WebSocket API on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Timely worker threads [default: 2].
    #[arg(long)]
    workers: Option<usize>,
    #[command(flatten)]
    retention: RetentionArgs,
    #[command(flatten)]
    durability: DurabilityArgs,
}

#[derive(Parser, Clone)]
struct VerifyArgs {
    /// The source server, `mysql://USER:PASS@HOST:PORT`.
    #[arg(long, value_name = "URL")]
    mysql: String,
    /// The engine, `http://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    url: String,
    /// Seconds to wait for the engine to catch up with the server.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// The engine's name for the source [default: as `twinflow run` names the URL].
    #[arg(long)]
    source: Option<String>,
    /// The views' SQL [default: the contract's views.sql built into this binary].
    #[arg(long)]
    views: Option<PathBuf>,
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
        Command::Run(args) => runtime.block_on(run(args)),
        Command::Verify(args) => {
            let equal = runtime.block_on(verify(args))?;
            std::process::exit(if equal { 0 } else { 1 });
        }
        Command::Connectors(command) => match connectors(command) {
            Ok(output) => {
                print!("{output}");
                Ok(())
            }
            // An operator's refusal is a message, not a crash: no backtrace.
            Err(err) => {
                eprintln!("error: {err:#}");
                std::process::exit(1);
            }
        },
    }
}

/// Runs a `connectors` subcommand against the engine's REST API; what to print.
fn connectors(command: ConnectorsCommand) -> anyhow::Result<String> {
    let token = std::env::var("TWINFLOW_OPERATOR_TOKEN")
        .context("set TWINFLOW_OPERATOR_TOKEN to the engine's operator token")?;
    match command {
        ConnectorsCommand::List(args) => operator_cli::list(&args.url, &token, args.json),
        ConnectorsCommand::Pause(ConnectorArgs { name, engine }) => {
            operator_cli::set_paused(&engine.url, &token, &name, true, engine.json)
        }
        ConnectorsCommand::Resume(ConnectorArgs { name, engine }) => {
            operator_cli::set_paused(&engine.url, &token, &name, false, engine.json)
        }
        ConnectorsCommand::Add(AddArgs {
            name,
            kind,
            config,
            engine,
        }) => {
            let config = serde_json::from_str(&config).context("--config must be a JSON object")?;
            operator_cli::add(&engine.url, &token, &name, &kind, config, engine.json)
        }
        ConnectorsCommand::Remove(ConnectorArgs { name, engine }) => {
            operator_cli::remove(&engine.url, &token, &name, engine.json)
        }
    }
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let banner = format!(
        "twinflow demo: {} people, {} changes/s, seed {}",
        args.scale, args.rate, args.seed
    );
    let generator = ConnectorSpec::from_source(SourceConfig::Generator(GeneratorSource {
        seed: args.seed,
        scale: args.scale,
        rate: args.rate,
        mix: args.mix,
    }))?;
    let durability = args.durability.config(None, None)?;
    run_engine(EngineSpec {
        listen: args.listen,
        workers: args.workers,
        state: args.retention.config(None),
        sources: vec![generator],
        sink: None,
        durability,
        operator_token: operator_token(None),
        banner,
    })
    .await
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => RunConfig::load(path)?,
        None => RunConfig::default(),
    };
    config.mysql.extend(args.mysql.iter().map(MySqlConfig::new));
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let workers = args.workers.or(config.workers).unwrap_or(2);
    if let (Some(brokers), Some(prefix)) = (&args.kafka, &args.kafka_prefix) {
        config.kafka.push(KafkaSourceConfig {
            group: args.kafka_group.clone(),
            decimals: args.debezium_decimals,
            ..KafkaSourceConfig::new(brokers, prefix)
        });
    }
    if let (Some(brokers), Some(prefix)) = (&args.kafka, &args.kafka_sink) {
        config.kafka_sink = Some(KafkaSinkConfig {
            brokers: brokers.clone(),
            prefix: prefix.clone(),
        });
    }
    let banner = format!(
        "twinflow run: {} MySQL source(s), {} Kafka source(s), {} Debezium file(s)",
        config.mysql.len(),
        config.kafka.len(),
        args.debezium_file.len()
    );
    let files = args.debezium_file.iter().map(|path| {
        SourceConfig::DebeziumFile(DebeziumFileConfig {
            path: path.clone(),
            decimals: args.debezium_decimals,
        })
    });
    let durability = args
        .durability
        .config(config.data_dir.clone(), config.checkpoint_interval_s)?;
    if durability.is_some() && !args.debezium_file.is_empty() {
        anyhow::bail!(
            "--debezium-file cannot be combined with a data directory: a replayed file has no \
             position to resume from, so a restart would apply its old row images again"
        );
    }
    let sources = config
        .mysql
        .into_iter()
        .map(SourceConfig::MySql)
        .chain(config.kafka.into_iter().map(SourceConfig::Kafka))
        .chain(files)
        .map(ConnectorSpec::from_source)
        .collect::<anyhow::Result<_>>()?;
    run_engine(EngineSpec {
        listen,
        workers,
        state: args.retention.config(config.change_log_rows),
        sources,
        sink: config.kafka_sink,
        durability,
        operator_token: operator_token(config.operator_token),
        banner,
    })
    .await
}

async fn verify(args: VerifyArgs) -> anyhow::Result<bool> {
    let views_sql = match &args.views {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => twinflow::verify::VIEWS_SQL.to_string(),
    };
    let options = VerifyOptions {
        mysql_url: args.mysql,
        engine_url: args.url.trim_end_matches('/').to_string(),
        source: args.source,
        timeout: Duration::from_secs(args.timeout),
        views_sql,
    };
    let outcome = twinflow::verify::verify(&options).await?;
    println!("compared at GTID position {:?}", outcome.position);
    for view in &outcome.views {
        let verdict = if view.is_equal() {
            "equal"
        } else {
            "DIFFERENT"
        };
        println!(
            "{:<22} {:>8} rows in SQL {:>8} served  {verdict}",
            view.view.name(),
            view.expected,
            view.served
        );
        let shown = 20;
        for (label, lines) in [
            ("missing", &view.missing),
            ("extra", &view.extra),
            ("differs", &view.differing),
        ] {
            for line in lines.iter().take(shown) {
                println!("  {label}: {line}");
            }
            if lines.len() > shown {
                println!("  ... and {} more {label}", lines.len() - shown);
            }
        }
    }
    Ok(outcome.is_equal())
}

/// What `run_engine` starts.
struct EngineSpec {
    listen: SocketAddr,
    workers: usize,
    /// What the served state retains.
    state: StateConfig,
    /// The configuration's connectors: the initial catalog.
    sources: Vec<ConnectorSpec>,
    sink: Option<KafkaSinkConfig>,
    durability: Option<DurabilityConfig>,
    /// The bearer token of the operator endpoints; `None` keeps them closed.
    operator_token: Option<String>,
    banner: String,
}

/// The operator token: `TWINFLOW_OPERATOR_TOKEN` if set and not empty, else the config's.
fn operator_token(configured: Option<String>) -> Option<String> {
    std::env::var("TWINFLOW_OPERATOR_TOKEN")
        .ok()
        .or(configured)
        .filter(|token| !token.is_empty())
}

/// Starts the pipeline and the catalog's connectors (each resuming from the restored
/// checkpoint's position when there is one), serves the API, and shuts everything down cleanly
/// on Ctrl-C or SIGTERM.
async fn run_engine(spec: EngineSpec) -> anyhow::Result<()> {
    let EngineSpec {
        listen,
        workers,
        state,
        sources,
        sink,
        durability,
        operator_token,
        banner,
    } = spec;
    let catalog_file = durability.as_ref().map(|d| CatalogFile::new(&d.dir));
    let config = PipelineConfig {
        engine: EngineConfig {
            workers,
            ..EngineConfig::default()
        },
        state,
        durability,
        ..PipelineConfig::default()
    };
    let pipeline = tokio::task::spawn_blocking(move || Pipeline::start(config))
        .await
        .context("starting the pipeline")??;
    // A restored checkpoint is served once published: never the empty state before it.
    wait_until_published(&pipeline.state(), pipeline.restored_as_of()).await;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let address = listener.local_addr().context("reading the bound address")?;
    println!("{banner}");
    println!("serving http://{address}/v1/views  (status: http://{address}/v1/status)");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone, which also means stop.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let wiring = Wiring {
        dead_letters: pipeline.dead_letters(),
        state: pipeline.state(),
        checkpoints: pipeline.checkpoint_stats(),
        retractor: pipeline.retractor(),
    };
    let connectors = ConnectorManager::start(
        wiring,
        pipeline.sources(),
        catalog_file,
        sources,
        pipeline.restored_positions(),
    )
    .await?;
    let mut tasks = Vec::new();
    if let Some(config) = sink {
        let views: Vec<&str> = ViewId::ALL.iter().map(|v| v.name()).collect();
        let sink = Arc::new(
            KafkaSink::new(config, &views)
                .await
                .context("starting the Kafka sink")?,
        );
        for view in ViewId::ALL {
            let (sink, state, stop) = (sink.clone(), pipeline.state(), stopped(stop_rx.clone()));
            tasks.push(tokio::spawn(async move {
                run_view_sink(state, &sink, view, stop).await;
            }));
        }
    }
    let summary = tokio::spawn(print_summary(
        pipeline.metrics(),
        pipeline.state(),
        stopped(stop_rx.clone()),
    ));

    let info = Arc::new(
        PipelineInfo::new(
            pipeline.metrics(),
            pipeline.dead_letters(),
            pipeline.checkpoint_stats(),
        )
        .with_connectors(connectors.clone()),
    );
    let router = twinflow_serve::router(pipeline.state(), info, operator_token);
    twinflow_serve::serve(listener, router, termination())
        .await
        .context("serving the API")?;

    eprintln!("\nshutting down");
    connectors.shutdown().await;
    stop_tx.send_replace(true);
    for task in tasks {
        task.await.context("source task")?;
    }
    summary.await.context("summary task")?;
    tokio::task::spawn_blocking(move || pipeline.shutdown())
        .await
        .context("pipeline shutdown")?;
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn termination() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!("cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        result = tokio::signal::ctrl_c() => {
            if let Err(err) = result {
                tracing::error!("cannot listen for Ctrl-C: {err}");
                std::future::pending::<()>().await;
            }
        }
        () = terminate => {}
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The retention the command line `args` asks for, with `file_rows` from a config file.
    fn retention(args: &[&str], file_rows: Option<usize>) -> usize {
        let cli = Cli::try_parse_from(args).expect("valid arguments");
        let retention = match cli.command {
            Some(Command::Demo(demo)) => demo.retention,
            Some(Command::Run(run)) => run.retention,
            _ => panic!("not demo or run"),
        };
        retention.config(file_rows).log_row_changes
    }

    #[test]
    fn the_change_log_size_comes_from_the_flag_then_the_file_then_the_default() {
        let default = StateConfig::default().log_row_changes;
        assert_eq!(retention(&["twinflow", "demo"], None), default);
        assert_eq!(
            retention(&["twinflow", "demo", "--change-log-rows", "500"], None),
            500
        );
        assert_eq!(retention(&["twinflow", "run"], Some(700)), 700);
        assert_eq!(
            retention(&["twinflow", "run", "--change-log-rows", "9"], Some(700)),
            9
        );
    }
}
