//! The configuration file of `twinflow run` (TOML). Command-line flags override it.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! workers = 2
//! data_dir = "/var/lib/twinflow"   # optional; checkpoints and restart from them
//! checkpoint_interval_s = 10
//! change_log_rows = 10000          # optional; changes kept per view for resuming subscribers
//!
//! [[mysql]]
//! url = "mysql://twinflow:secret@hr-db:3306"
//! name = "hr"                      # optional; default "mysql://HOST:PORT"
//! databases = ["twin_hr"]          # optional; default every catalog database on the server
//!
//! [[kafka]]
//! brokers = "kafka:9092"
//! prefix = "twin"                   # Debezium's topic.prefix
//! databases = ["twin_org"]          # optional; no table may have two connectors
//!
//! [kafka_sink]
//! brokers = "kafka:9092"
//! prefix = "twinflow"               # topics <prefix>.views.<view>
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use twinflow_connectors::{KafkaSinkConfig, KafkaSourceConfig, MySqlConfig};

use crate::auth::{AuthSection, LimitsSection};

/// The whole configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Address of the HTTP/WebSocket API.
    pub listen: Option<SocketAddr>,
    /// Timely worker threads.
    pub workers: Option<usize>,
    /// MySQL/MariaDB sources, one per server.
    #[serde(default)]
    pub mysql: Vec<MySqlConfig>,
    /// Kafka sources of Debezium change events, one per topic prefix.
    #[serde(default)]
    pub kafka: Vec<KafkaSourceConfig>,
    /// Where to write the views' changes.
    pub kafka_sink: Option<KafkaSinkConfig>,
    /// The data directory for checkpoints (see `--data-dir`).
    pub data_dir: Option<PathBuf>,
    /// Seconds between checkpoints.
    pub checkpoint_interval_s: Option<f64>,
    /// Row changes kept per view for resuming subscribers (see `--change-log-rows`).
    pub change_log_rows: Option<usize>,
    /// The bearer token of the operator endpoints (`/v1/connectors`);
    /// `TWINFLOW_OPERATOR_TOKEN` takes precedence.
    pub operator_token: Option<String>,
    /// Reader tokens and browser origins.
    #[serde(default)]
    pub auth: AuthSection,
    /// The serving limits under abuse.
    #[serde(default)]
    pub limits: LimitsSection,
}

impl RunConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses a configuration.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinflow_controller::catalog::file::Catalog;
    use twinflow_controller::catalog::{ConnectorSpec, SourceConfig};

    #[test]
    fn the_example_file_parses() {
        let example = include_str!("../twinflow.example.toml");
        let config = RunConfig::parse(example).expect("the example is valid");
        assert_eq!(config.mysql.len(), 2);
        assert_eq!(config.change_log_rows, Some(10_000));
        assert_eq!(config.auth.audience.as_deref(), Some("twinflow"));
        assert_eq!(config.limits.limits().subscriptions_per_tenant, 64);
        assert_eq!(
            config.mysql[0].databases.as_deref().map(<[_]>::len),
            Some(2)
        );
        // Its connectors feed disjoint tables: the engine starts with it.
        let specs = config
            .mysql
            .into_iter()
            .map(SourceConfig::MySql)
            .chain(config.kafka.into_iter().map(SourceConfig::Kafka))
            .map(ConnectorSpec::from_source)
            .collect::<anyhow::Result<Vec<_>>>()
            .expect("named");
        Catalog::merge(None, specs).expect("no table fed twice");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = RunConfig::parse("[[mysql]]\nurl = \"mysql://x@h:1\"\nport = 3\n")
            .expect_err("port is not a key");
        assert!(format!("{err:#}").contains("port"), "{err:#}");
    }
}
