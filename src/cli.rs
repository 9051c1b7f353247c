//! The command line's arguments (clap): what each subcommand takes, and how its flags combine
//! with a configuration file's settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use twinflow_connectors::generator::ChangeMix;
use twinflow_controller::durability::DurabilityConfig;
use twinflow_ingest::decode::debezium::DecimalMode;
use twinflow_views::StateConfig;

/// twinflow keeps the live views of an organisation's digital twin.
#[derive(Parser)]
#[command(name = "twinflow", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
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
pub enum ConnectorsCommand {
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
pub struct AddArgs {
    /// The new connector's name.
    pub name: String,
    /// What it reads: mysql, kafka or generator.
    #[arg(long)]
    pub kind: String,
    /// Its configuration, a JSON object: for mysql `{"url": "mysql://USER:PASS@HOST:PORT",
    /// "databases": [...]}`, for kafka `{"brokers": ..., "prefix": ..., "group": ...}`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub config: String,
    #[command(flatten)]
    pub engine: OperatorArgs,
}

#[derive(Parser, Clone)]
pub struct ConnectorArgs {
    /// The connector's name (as `connectors list` shows it).
    pub name: String,
    #[command(flatten)]
    pub engine: OperatorArgs,
}

/// What every `connectors` subcommand takes: which engine, and how to print its answer.
#[derive(Parser, Clone)]
pub struct OperatorArgs {
    /// The engine, `http://HOST:PORT`.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Parser, Clone)]
pub struct DemoArgs {
    /// Address to serve the HTTP/WebSocket API on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// People in the generated org (companies, jobs, desks, rooms, ... in proportion).
    #[arg(long, default_value_t = 100_000)]
    pub scale: u64,
    /// Row changes per second of the generated change stream (0 = as fast as possible).
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Seed of the generator: the same seed gives the same org and change stream.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Which changes the stream makes: `realistic` (every kind, person moves dominate) or
    /// `person-moves` (only desk and job changes).
    #[arg(long, default_value = "realistic")]
    pub mix: ChangeMix,
    /// Timely worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Require tokens: a per-run secret signs a token for company 1 and a platform token,
    /// both printed at start.
    #[arg(long)]
    pub auth: bool,
    /// Serve every company to requests without a token even beyond loopback.
    #[arg(long, conflicts_with = "auth")]
    pub allow_anonymous_reads: bool,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub durability: DurabilityArgs,
}

/// What the served state retains.
#[derive(clap::Args, Clone)]
pub struct RetentionArgs {
    /// Row changes kept per view for subscribers resuming with `?after=` (older ones get a
    /// reset snapshot) [default: 10000].
    #[arg(long, value_name = "N")]
    pub change_log_rows: Option<usize>,
}

impl RetentionArgs {
    /// The served state's limits, the flag first, then the configuration file's.
    pub fn config(&self, file_rows: Option<usize>) -> StateConfig {
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
pub struct DurabilityArgs {
    /// Checkpoint into this directory and, at start, restore from its newest valid checkpoint
    /// and resume every source from its position there [default: no checkpoints].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds between checkpoints [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub checkpoint_interval: Option<f64>,
}

impl DurabilityArgs {
    /// The durability settings, flags first, then the configuration file's.
    pub fn config(
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
pub struct RunArgs {
    /// A TOML configuration file (see twinflow.example.toml); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A MySQL/MariaDB server to read, `mysql://USER:PASS@HOST:PORT` (repeatable).
    #[arg(long = "mysql", value_name = "URL")]
    pub mysql: Vec<String>,
    /// Newline-delimited Debezium JSON to replay, a file or `-` for standard input (repeatable).
    #[arg(long = "debezium-file", value_name = "PATH|-")]
    pub debezium_file: Vec<PathBuf>,
    /// How DECIMAL values arrive in Debezium messages without schemas (Debezium's
    /// decimal.handling.mode): precise, string or double.
    #[arg(long, default_value = "precise")]
    pub debezium_decimals: DecimalMode,
    /// Kafka brokers to read Debezium change events from (with --kafka-prefix), and to write
    /// view changes to (with --kafka-sink).
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// Debezium's topic prefix: topics `<prefix>.<database>.<table>` are read.
    #[arg(long, value_name = "PREFIX", requires = "kafka")]
    pub kafka_prefix: Option<String>,
    /// The consumer group recording the applied offsets [default: twinflow-<prefix>].
    #[arg(long, value_name = "GROUP", requires = "kafka_prefix")]
    pub kafka_group: Option<String>,
    /// Write every view's changes to the topics `<PREFIX>.views.<view>` of the --kafka brokers.
    #[arg(long, value_name = "PREFIX", requires = "kafka")]
    pub kafka_sink: Option<String>,
    /// Address to serve the HTTP/WebSocket API on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Timely worker threads [default: 2].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Let requests without a token read every company (without it, `run` needs a way for
    /// readers to authenticate: TWINFLOW_JWT_SECRET, `[auth] jwks` or TWINFLOW_OPERATOR_TOKEN).
    #[arg(long)]
    pub allow_anonymous_reads: bool,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub durability: DurabilityArgs,
}

#[derive(Parser, Clone)]
pub struct VerifyArgs {
    /// The source server, `mysql://USER:PASS@HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub mysql: String,
    /// The engine, `http://HOST:PORT`.
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Seconds to wait for the engine to catch up with the server.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// The engine's name for the source [default: as `twinflow run` names the URL].
    #[arg(long)]
    pub source: Option<String>,
    /// The views' SQL [default: the contract's views.sql built into this binary].
    #[arg(long)]
    pub views: Option<PathBuf>,
    /// The engine's operator token, which reads every company [default:
    /// TWINFLOW_OPERATOR_TOKEN from the environment].
    #[arg(long)]
    pub token: Option<String>,
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
