//! The `twinflow` command line: the embedded demo, `run` over real sources, the `verify` audit
//! and the operator's `connectors` commands. The engine itself is the controller library.

mod allocator;
mod auth;
mod cli;
mod config;
mod operator_cli;
mod verify;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use twinflow_connectors::{DebeziumFileConfig, KafkaSinkConfig, KafkaSourceConfig, MySqlConfig};
use twinflow_controller::catalog::{ConnectorSpec, GeneratorSource, SourceConfig};
use twinflow_controller::durability::DurabilityConfig;
use twinflow_controller::{Controller, ControllerConfig, PipelineConfig};
use twinflow_dataflows::{EngineConfig, EngineMetrics};
use twinflow_serve::{Limits, ServeConfig};
use twinflow_views::{ServedState, StateConfig, ViewId};

use auth::{AuthSection, DemoAuth};
use cli::{AddArgs, Cli, Command, ConnectorArgs, ConnectorsCommand, DemoArgs, RunArgs, VerifyArgs};
use config::RunConfig;
use verify::VerifyOptions;

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
    let token = auth::env(auth::OPERATOR_TOKEN_ENV)
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
    let operator_token = operator_token(None);
    let (serve, notes) = if args.auth {
        let demo = DemoAuth::new(operator_token)?;
        let notes = vec![
            format!("a token for company 1:  {}", demo.tenant_token),
            format!("a platform token:       {}", demo.platform_token),
            "send one as `Authorization: Bearer <token>` or `?access_token=<token>`".to_owned(),
        ];
        (demo.config, notes)
    } else if args.listen.ip().is_loopback() || args.allow_anonymous_reads {
        let serve = auth::serve_config(
            &AuthSection::default(),
            Limits::default(),
            operator_token,
            true,
        )?;
        let note = "open: every request reads every company (a demo on this machine;                     `--auth` hands out tokens instead)";
        (serve, vec![note.to_owned()])
    } else {
        anyhow::bail!(
            "the demo would serve {} beyond this machine with no tokens: pass --auth, or              --allow-anonymous-reads to let anyone read every company",
            args.listen
        );
    };
    run_engine(EngineSpec {
        listen: args.listen,
        workers: args.workers,
        state: args.retention.config(None),
        sources: vec![generator],
        sink: None,
        durability,
        serve,
        banner,
        notes,
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
    let serve = auth::serve_config(
        &config.auth,
        config.limits.limits(),
        operator_token(config.operator_token),
        args.allow_anonymous_reads,
    )?;
    run_engine(EngineSpec {
        listen,
        workers,
        state: args.retention.config(config.change_log_rows),
        sources,
        sink: config.kafka_sink,
        durability,
        serve,
        banner,
        notes: Vec::new(),
    })
    .await
}

async fn verify(args: VerifyArgs) -> anyhow::Result<bool> {
    let views_sql = match &args.views {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => verify::VIEWS_SQL.to_string(),
    };
    let options = VerifyOptions {
        mysql_url: args.mysql,
        engine_url: args.url.trim_end_matches('/').to_string(),
        source: args.source,
        timeout: Duration::from_secs(args.timeout),
        views_sql,
        token: args.token.or_else(|| auth::env(auth::OPERATOR_TOKEN_ENV)),
    };
    let outcome = verify::verify(&options).await?;
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

/// What `run_engine` starts and serves.
struct EngineSpec {
    listen: SocketAddr,
    workers: usize,
    /// What the served state retains.
    state: StateConfig,
    /// The configuration's connectors: the initial catalog.
    sources: Vec<ConnectorSpec>,
    sink: Option<KafkaSinkConfig>,
    durability: Option<DurabilityConfig>,
    /// Who may read, and the limits.
    serve: ServeConfig,
    banner: String,
    /// Lines printed after the address (how to read it).
    notes: Vec<String>,
}

/// The operator token: `TWINFLOW_OPERATOR_TOKEN` if set and not empty, else the config's.
fn operator_token(configured: Option<String>) -> Option<String> {
    auth::env(auth::OPERATOR_TOKEN_ENV).or(configured.filter(|token| !token.is_empty()))
}

/// Starts the engine, serves the API, and shuts everything down cleanly on Ctrl-C or SIGTERM.
async fn run_engine(spec: EngineSpec) -> anyhow::Result<()> {
    let EngineSpec {
        listen,
        workers,
        state,
        sources,
        sink,
        durability,
        serve,
        banner,
        notes,
    } = spec;
    let config = ControllerConfig {
        pipeline: PipelineConfig {
            engine: EngineConfig {
                workers,
                ..EngineConfig::default()
            },
            state,
            durability,
            ..PipelineConfig::default()
        },
        connectors: sources,
        kafka_sink: sink,
    };
    let controller = Controller::start(config).await?;
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            controller.shutdown().await?;
            return Err(err).with_context(|| format!("binding {listen}"));
        }
    };
    let address = listener.local_addr().context("reading the bound address")?;
    println!("{banner}");
    println!("serving http://{address}/  (the console; the API under http://{address}/v1/)");
    for note in notes {
        println!("{note}");
    }

    let summary = tokio::spawn(print_summary(controller.metrics(), controller.state()));
    let router = twinflow_serve::router(controller.state(), controller.status(), serve);
    twinflow_serve::serve(listener, router, termination())
        .await
        .context("serving the API")?;

    eprintln!("\nshutting down");
    summary.abort();
    controller.shutdown().await
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
async fn print_summary(metrics: Arc<EngineMetrics>, state: ServedState) {
    let interactive = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last_changes = metrics.changes();
    loop {
        ticker.tick().await;
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
        let rows: usize = ViewId::ALL.iter().map(|&v| snapshot.len(v)).sum();
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
