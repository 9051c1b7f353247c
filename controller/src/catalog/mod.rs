//! The connector catalog: which connectors the engine runs, what each reads, and the tables
//! each one feeds.
//!
//! A connector is given as `{"name", "kind", "config"}` — in `POST /v1/connectors`, and in the
//! catalog file of the data directory ([`file`]). [`ConnectorSpec::parse`] checks such a value
//! field by field, so that a refusal names the field at fault.

pub mod file;

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use twinflow_connectors::generator::MAX_SCALE;
use twinflow_connectors::{
    ChangeMix, DebeziumFileConfig, GeneratorConfig, KafkaSourceConfig, MySqlConfig,
};
use twinflow_ingest::TableId;

/// A connector: its name (also the name of its source in positions and dead letters) and
/// what it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorSpec {
    /// The name, unique in the catalog.
    pub name: String,
    /// What it reads.
    pub source: SourceConfig,
}

/// What a connector reads, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    /// A MySQL/MariaDB server's snapshot and binlog.
    MySql(MySqlConfig),
    /// Debezium change events on Kafka.
    Kafka(KafkaSourceConfig),
    /// The embedded org generator.
    Generator(GeneratorSource),
    /// A file of Debezium events replayed once (command line only).
    DebeziumFile(DebeziumFileConfig),
}

/// The generator as a connector: the org it models and its pace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSource {
    /// Seed of the org and its change stream.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// People in the org (the rest in proportion).
    #[serde(default = "default_scale")]
    pub scale: u64,
    /// Row changes per second (0 = as fast as possible).
    #[serde(default = "default_rate")]
    pub rate: f64,
    /// Which changes the stream makes: `realistic` or `person-moves`.
    #[serde(default)]
    pub mix: ChangeMix,
}

fn default_seed() -> u64 {
    42
}

fn default_scale() -> u64 {
    100_000
}

fn default_rate() -> f64 {
    1_000.0
}

impl GeneratorSource {
    /// The generator's own configuration.
    pub fn config(&self) -> GeneratorConfig {
        GeneratorConfig {
            seed: self.seed,
            scale: self.scale,
            mix: self.mix,
            ..GeneratorConfig::default()
        }
    }
}

/// A request or catalog entry refused: the field at fault (a path such as `config.url`) and
/// why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    /// The field's path.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The kinds a request may name, as the API spells them.
const KINDS: &str = "mysql, kafka or generator";

impl ConnectorSpec {
    /// Checks `{"name", "kind", "config"}` and builds the connector it describes. `config`
    /// may be left out where every field has a default (the generator).
    pub fn parse(request: &serde_json::Value) -> Result<ConnectorSpec, Invalid> {
        let object = request
            .as_object()
            .ok_or_else(|| Invalid::new("body", "must be a JSON object"))?;
        if let Some(unknown) = object
            .keys()
            .find(|k| !["name", "kind", "config"].contains(&k.as_str()))
        {
            return Err(Invalid::new(
                unknown.as_str(),
                "unknown field: a connector is {\"name\", \"kind\", \"config\"}",
            ));
        }
        let name = match object.get("name") {
            Some(serde_json::Value::String(name)) => check_name(name)?,
            Some(_) => return Err(Invalid::new("name", "must be a string")),
            None => return Err(Invalid::new("name", "is required")),
        };
        let kind = match object.get("kind") {
            Some(serde_json::Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(Invalid::new("kind", format!("must be {KINDS}"))),
            None => return Err(Invalid::new("kind", format!("is required: {KINDS}"))),
        };
        let config = object
            .get("config")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        if !config.is_object() {
            return Err(Invalid::new("config", "must be a JSON object"));
        }
        let source = match kind {
            "mysql" => {
                let mut mysql: MySqlConfig = typed(config)?;
                if let Err(err) = mysql_async::Opts::from_url(&mysql.url) {
                    return Err(Invalid::new(
                        "config.url",
                        format!("{err}: expected mysql://USER:PASSWORD@HOST:PORT"),
                    ));
                }
                check_databases(mysql.databases.as_deref())?;
                adopt_name(&mut mysql.name, &name)?;
                SourceConfig::MySql(mysql)
            }
            "kafka" => {
                let mut kafka: KafkaSourceConfig = typed(config)?;
                if kafka.brokers.trim().is_empty() {
                    return Err(Invalid::new("config.brokers", "must name a broker"));
                }
                if kafka.prefix.is_empty() || kafka.prefix.contains(char::is_whitespace) {
                    return Err(Invalid::new(
                        "config.prefix",
                        "must be Debezium's topic.prefix: not empty, no spaces",
                    ));
                }
                check_databases(kafka.databases.as_deref())?;
                adopt_name(&mut kafka.name, &name)?;
                SourceConfig::Kafka(kafka)
            }
            "generator" => {
                let generator: GeneratorSource = typed(config)?;
                if !(generator.rate.is_finite() && generator.rate >= 0.0) {
                    return Err(Invalid::new("config.rate", "must be 0 or more changes/s"));
                }
                if !(1..=MAX_SCALE).contains(&generator.scale) {
                    return Err(Invalid::new(
                        "config.scale",
                        format!("must be from 1 to {MAX_SCALE} people"),
                    ));
                }
                SourceConfig::Generator(generator)
            }
            other => {
                return Err(Invalid::new(
                    "kind",
                    format!("unknown kind `{other}`: {KINDS}"),
                ))
            }
        };
        Ok(ConnectorSpec { name, source })
    }

    /// The spec as `{"name", "kind", "config"}` (what [`parse`](Self::parse) reads), with
    /// every default filled in.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kind": self.source.kind(),
            "config": self.source.config_json(),
        })
    }

    /// [`to_json`](Self::to_json) with passwords replaced by `***`.
    pub fn redacted_json(&self) -> serde_json::Value {
        let mut json = self.to_json();
        if let Some(url) = json["config"]["url"].as_str() {
            json["config"]["url"] = redact_url(url).into();
        }
        json
    }

    /// The catalog tables this connector feeds: no other connector may feed them.
    pub fn tables(&self) -> Vec<TableId> {
        match &self.source {
            SourceConfig::MySql(mysql) => mysql.tables(),
            SourceConfig::Kafka(kafka) => kafka.tables(),
            SourceConfig::Generator(_) | SourceConfig::DebeziumFile(_) => TableId::ALL.to_vec(),
        }
    }

    /// A table this connector and `other` both feed, if any.
    pub fn shared_table(&self, other: &ConnectorSpec) -> Option<TableId> {
        let theirs = other.tables();
        self.tables().into_iter().find(|t| theirs.contains(t))
    }

    /// Whether the catalog file may keep it: a replayed file has no position to resume from.
    pub fn is_persistent(&self) -> bool {
        !matches!(self.source, SourceConfig::DebeziumFile(_))
    }
}

impl SourceConfig {
    /// The kind, as the API and the connector status spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::MySql(_) => "mysql",
            SourceConfig::Kafka(_) => "kafka",
            SourceConfig::Generator(_) => "generator",
            SourceConfig::DebeziumFile(_) => "debezium-file",
        }
    }

    fn config_json(&self) -> serde_json::Value {
        let json = match self {
            SourceConfig::MySql(c) => serde_json::to_value(c),
            SourceConfig::Kafka(c) => serde_json::to_value(c),
            SourceConfig::Generator(c) => serde_json::to_value(c),
            SourceConfig::DebeziumFile(c) => serde_json::to_value(c),
        };
        // Plain structs of strings and numbers always serialize.
        json.unwrap_or_default()
    }
}

impl ConnectorSpec {
    /// A connector of the configuration file or the command line, named as its source names
    /// itself (`mysql://HOST:PORT`, `kafka:PREFIX`, `debezium:PATH`, `generator`) unless
    /// configured otherwise.
    pub fn from_source(mut source: SourceConfig) -> anyhow::Result<ConnectorSpec> {
        let name = match &mut source {
            SourceConfig::MySql(mysql) => {
                let name = mysql.source_name()?;
                mysql.name = Some(name.clone());
                name
            }
            SourceConfig::Kafka(kafka) => {
                let name = kafka.source_name();
                kafka.name = Some(name.clone());
                name
            }
            SourceConfig::Generator(_) => "generator".to_string(),
            SourceConfig::DebeziumFile(file) => file.source_name(),
        };
        Ok(ConnectorSpec { name, source })
    }
}

/// Deserializes `config`, naming the field at fault as `config.<path>`.
fn typed<T: DeserializeOwned>(config: serde_json::Value) -> Result<T, Invalid> {
    serde_path_to_error::deserialize(config).map_err(|err| {
        let path = err.path().to_string();
        let message = err.inner().to_string();
        let mut field = if path == "." {
            "config".to_string()
        } else {
            format!("config.{path}")
        };
        // serde names a missing field in its message, at the path of the object around it.
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            field = format!("{field}.{missing}");
        }
        Invalid::new(field, message)
    })
}

/// A connector name: printable, not empty, at most 128 characters.
fn check_name(name: &str) -> Result<String, Invalid> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err(Invalid::new("name", "must be 1 to 128 characters"));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(Invalid::new(
            "name",
            "must not have control characters or surrounding spaces",
        ));
    }
    Ok(name.to_string())
}

/// The connector's name is its source's name: a different one in `config` is refused.
fn adopt_name(configured: &mut Option<String>, name: &str) -> Result<(), Invalid> {
    match configured {
        Some(other) if other != name => Err(Invalid::new(
            "config.name",
            format!("differs from the connector's name `{name}`: leave it out"),
        )),
        _ => {
            *configured = Some(name.to_string());
            Ok(())
        }
    }
}

/// Every listed database must be one of the catalog's.
fn check_databases(databases: Option<&[String]>) -> Result<(), Invalid> {
    let known: BTreeSet<&str> = TableId::ALL.iter().map(|t| t.schema().database).collect();
    for (i, database) in databases.unwrap_or_default().iter().enumerate() {
        if !known.contains(database.as_str()) {
            return Err(Invalid::new(
                format!("config.databases[{i}]"),
                format!(
                    "unknown database `{database}`: the catalog's are {}",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if databases.is_some_and(<[String]>::is_empty) {
        return Err(Invalid::new(
            "config.databases",
            "must name a database (leave it out for all)",
        ));
    }
    Ok(())
}

/// `url` with the password of its user info replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((user_info, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match user_info.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(request: serde_json::Value) -> Invalid {
        ConnectorSpec::parse(&request).expect_err("refused")
    }

    #[test]
    fn a_mysql_request_becomes_a_connector_feeding_its_databases() {
        let spec = ConnectorSpec::parse(&json!({
            "name": "hr",
            "kind": "mysql",
            "config": {"url": "mysql://u:p@db:3306", "databases": ["twin_hr"]}
        }))
        .expect("valid");
        assert_eq!(spec.name, "hr");
        assert!(spec.tables().contains(&TableId::People));
        assert!(!spec.tables().contains(&TableId::Desk));
        assert_eq!(ConnectorSpec::parse(&spec.to_json()), Ok(spec.clone()));
        assert_eq!(
            spec.redacted_json()["config"]["url"],
            "mysql://u:***@db:3306"
        );
    }

    #[test]
    fn refusals_name_the_field_at_fault() {
        let cases = [
            (json!({"kind": "mysql"}), "name"),
            (json!({"name": "", "kind": "mysql"}), "name"),
            (json!({"name": "a", "kind": "oracle"}), "kind"),
            (json!({"name": "a", "kind": "mysql", "extra": 1}), "extra"),
            (
                json!({"name": "a", "kind": "mysql", "config": {}}),
                "config.url",
            ),
            (
                json!({"name": "a", "kind": "mysql", "config": {"url": "http://x"}}),
                "config.url",
            ),
            (
                json!({"name": "a", "kind": "mysql", "config": {"url": "mysql://h:1", "port": 3}}),
                "config.port",
            ),
            (
                json!({"name": "a", "kind": "mysql", "config": {"url": "mysql://h:1", "databases": ["twin_hr", "nope"]}}),
                "config.databases[1]",
            ),
            (
                json!({"name": "a", "kind": "mysql", "config": {"url": "mysql://h:1", "heartbeat_ms": "x"}}),
                "config.heartbeat_ms",
            ),
            (
                json!({"name": "a", "kind": "kafka", "config": {"brokers": "b:9092"}}),
                "config.prefix",
            ),
            (
                json!({"name": "a", "kind": "generator", "config": {"rate": -1.0}}),
                "config.rate",
            ),
            (
                json!({"name": "a", "kind": "mysql", "config": {"url": "mysql://h:1", "name": "b"}}),
                "config.name",
            ),
        ];
        for (request, field) in cases {
            let invalid = refused(request.clone());
            assert_eq!(invalid.field, field, "{request}: {invalid}");
        }
    }

    #[test]
    fn connectors_of_one_database_share_its_tables() {
        let mysql = |name: &str, databases: serde_json::Value| {
            ConnectorSpec::parse(&json!({
                "name": name, "kind": "mysql",
                "config": {"url": "mysql://h:1", "databases": databases}
            }))
            .expect("valid")
        };
        let hr = mysql("hr", json!(["twin_hr"]));
        let infra = mysql("infra", json!(["twin_infra"]));
        let both = mysql("both", json!(["twin_hr", "twin_infra"]));
        assert_eq!(hr.shared_table(&infra), None);
        assert!(both.shared_table(&hr).is_some());
    }

    #[test]
    fn passwords_are_redacted_and_nothing_else() {
        assert_eq!(
            redact_url("mysql://u:secret@h:3306/x"),
            "mysql://u:***@h:3306/x"
        );
        assert_eq!(redact_url("mysql://u@h:3306"), "mysql://u@h:3306");
        assert_eq!(redact_url("mysql://h:3306"), "mysql://h:3306");
    }
}
