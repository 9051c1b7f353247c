//! The running connectors: started from the catalog, and added, paused, resumed and removed
//! while the engine runs, each change saved in the data directory's catalog file.
//!
//! Changes are made one at a time. Removing a connector stops it, waits until everything it
//! sent is in, and retracts every row of the tables it fed in one timestamp; since no two
//! connectors feed one table, those are exactly the rows it contributed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use twinflow_connectors::{
    run_debezium_file, run_generator, run_kafka_source, run_mysql_source, ConnectorState,
    ConnectorStatus, OrgGenerator, TransactionSender,
};
use twinflow_ingest::{DeadLetterLog, SourcePosition};
use twinflow_serve::ControlError;
use twinflow_views::ServedState;

use crate::catalog::file::{Catalog, CatalogFile, Entry, Merged};
use crate::catalog::{ConnectorSpec, SourceConfig};
use crate::durability::{CheckpointStats, SavedPosition};
use crate::pipeline::Retractor;
use crate::status::{applied_positions, checkpointed_positions};

/// What connectors are started with besides the pipeline's input.
pub struct Wiring {
    /// Where bad change events go.
    pub dead_letters: Arc<DeadLetterLog>,
    /// The served state (what a Kafka source acknowledges without a data directory).
    pub state: ServedState,
    /// Checkpoints (what a Kafka source acknowledges with a data directory).
    pub checkpoints: Option<Arc<CheckpointStats>>,
    /// What removes a connector's rows.
    pub retractor: Retractor,
}

/// How long `add` waits for a new connector to reach its upstream (or fail to) before
/// answering with its state.
const FIRST_CONTACT: Duration = Duration::from_secs(2);

/// The engine's connectors.
pub struct ConnectorManager {
    wiring: Wiring,
    /// The pipeline's input while the engine runs; taken at shutdown.
    sources: Mutex<Option<TransactionSender>>,
    file: Option<CatalogFile>,
    /// The configuration file's connectors: removing one is remembered in the catalog.
    configured: Vec<ConnectorSpec>,
    registry: Mutex<Registry>,
    /// Held while a change is made, so that changes and catalog writes happen one at a time.
    changing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Registry {
    running: Vec<Running>,
    removed: Vec<ConnectorSpec>,
}

impl Registry {
    /// The running connector `name`.
    fn find(&mut self, name: &str) -> Result<&mut Running, ControlError> {
        self.running
            .iter_mut()
            .find(|r| r.spec.name == name)
            .ok_or_else(|| ControlError::Unknown(name.to_string()))
    }
}

struct Running {
    spec: ConnectorSpec,
    status: Arc<ConnectorStatus>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ConnectorManager {
    /// Merges the configuration's connectors (`configured`) into the stored catalog (with a
    /// data directory), retracts the rows of connectors whose configuration changed, and
    /// starts every connector: from its position in the restored checkpoint (`restored`) when
    /// it has one, otherwise from a snapshot.
    pub async fn start(
        wiring: Wiring,
        sources: TransactionSender,
        file: Option<CatalogFile>,
        configured: Vec<ConnectorSpec>,
        restored: &BTreeMap<String, SavedPosition>,
    ) -> anyhow::Result<Arc<ConnectorManager>> {
        let stored = match &file {
            Some(file) => file.load()?,
            None => None,
        };
        let Merged { catalog, changed } = Catalog::merge(stored, configured.clone())?;
        for old in &changed {
            wiring
                .retractor
                .retract(&old.name, old.tables())
                .await
                .with_context(|| format!("retracting the rows of `{}`", old.name))?;
        }
        if let Some(file) = &file {
            file.save(&catalog)?;
        }
        let manager = Arc::new(ConnectorManager {
            sources: Mutex::new(Some(sources)),
            wiring,
            file,
            configured,
            registry: Mutex::new(Registry {
                running: Vec::new(),
                removed: catalog.removed,
            }),
            changing: tokio::sync::Mutex::new(()),
        });
        for Entry { spec, paused } in catalog.entries {
            let resume = if changed.iter().any(|old| old.name == spec.name) {
                None
            } else {
                restored.get(&spec.name).map(|saved| saved.position.clone())
            };
            let running = manager
                .spawn(spec, resume, paused)
                .ok_or_else(|| anyhow::anyhow!("the pipeline stopped while starting"))?;
            manager.registry().running.push(running);
        }
        Ok(manager)
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // The registry is a plain list: a panic elsewhere cannot leave it half-changed.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `spec`'s connector, held from the start when `paused`; `None` once the engine
    /// is shutting down.
    fn spawn(
        &self,
        spec: ConnectorSpec,
        resume: Option<SourcePosition>,
        paused: bool,
    ) -> Option<Running> {
        let tx = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let status = Arc::new(ConnectorStatus::new(spec.name.clone(), spec.source.kind()));
        status.set_paused(paused);
        let (stop, stopped) = watch::channel(false);
        let shutdown = async move {
            let mut stopped = stopped;
            // An error means the sender is gone, which also means stop.
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let w = &self.wiring;
        let task = match &spec.source {
            SourceConfig::Generator(generator) => {
                let seq = match resume {
                    Some(SourcePosition::Generator { seq }) => Some(seq),
                    _ => None,
                };
                let gen = OrgGenerator::new(generator.config(), Arc::from(spec.name.as_str()));
                tokio::spawn(run_generator(
                    gen,
                    seq,
                    generator.rate,
                    tx,
                    status.clone(),
                    shutdown,
                ))
            }
            SourceConfig::MySql(config) => tokio::spawn(run_mysql_source(
                config.clone(),
                resume,
                tx,
                w.dead_letters.clone(),
                status.clone(),
                shutdown,
            )),
            SourceConfig::Kafka(config) => {
                // Offsets are committed once applied, or with a data directory once durable.
                let applied = match &w.checkpoints {
                    Some(stats) => checkpointed_positions(stats.clone(), spec.name.clone()),
                    None => applied_positions(w.state.clone(), spec.name.clone()),
                };
                tokio::spawn(run_kafka_source(
                    config.clone(),
                    resume,
                    tx,
                    w.dead_letters.clone(),
                    status.clone(),
                    applied,
                    shutdown,
                ))
            }
            SourceConfig::DebeziumFile(config) => tokio::spawn(run_debezium_file(
                config.clone(),
                tx,
                w.dead_letters.clone(),
                status.clone(),
                shutdown,
            )),
        };
        Some(Running {
            spec,
            status,
            stop,
            task: Some(task),
        })
    }

    /// Every connector's status.
    pub fn reports(&self) -> Vec<serde_json::Value> {
        let registry = self.registry();
        registry
            .running
            .iter()
            .map(|running| self.report(running))
            .collect()
    }

    /// One connector's status with its configuration (passwords redacted).
    pub fn describe(&self, name: &str) -> Option<serde_json::Value> {
        let mut registry = self.registry();
        let running = registry.find(name).ok()?;
        let mut report = self.report(running);
        report["config"] = running.spec.redacted_json()["config"].take();
        Some(report)
    }

    /// A connector's live status: what it reports, plus the tables it feeds, its lag behind
    /// the served state and its dead letters.
    fn report(&self, running: &Running) -> serde_json::Value {
        let report = running.status.report();
        let name = &running.spec.name;
        let mut json = serde_json::to_value(report).unwrap_or_default();
        json["tables"] = running
            .spec
            .tables()
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .into();
        let snapshot = self.wiring.state.snapshot();
        let now = twinflow_views::now_ms();
        json["lag_ms"] = snapshot
            .sources()
            .iter()
            .find(|progress| progress.source == *name)
            .map(|progress| progress.lag_ms(now))
            .into();
        json["dead_letters"] = self.wiring.dead_letters.total_for(name).into();
        json
    }

    /// Checks `request` and starts the connector it describes; its status once it reached
    /// its upstream or failed to (it then goes on retrying), or after [`FIRST_CONTACT`].
    pub async fn add(
        &self,
        request: &serde_json::Value,
    ) -> Result<serde_json::Value, ControlError> {
        let spec = ConnectorSpec::parse(request).map_err(|invalid| ControlError::Invalid {
            field: invalid.field,
            message: invalid.message,
        })?;
        let _changing = self.changing.lock().await;
        {
            let registry = self.registry();
            for running in &registry.running {
                if running.spec.name == spec.name {
                    return Err(ControlError::Conflict(format!(
                        "a connector named `{}` exists: remove it first, or choose another name",
                        spec.name
                    )));
                }
                if let Some(table) = spec.shared_table(&running.spec) {
                    return Err(ControlError::Conflict(format!(
                        "{table} is fed by connector `{}`: a table has one source",
                        running.spec.name
                    )));
                }
            }
        }
        let name = spec.name.clone();
        self.save_with(|catalog| {
            catalog.removed.retain(|removed| removed.name != spec.name);
            catalog.entries.push(Entry {
                spec: spec.clone(),
                paused: false,
            });
        })?;
        let running = self
            .spawn(spec, None, false)
            .ok_or_else(|| ControlError::Failed("the engine is shutting down".into()))?;
        let status = running.status.clone();
        {
            let mut registry = self.registry();
            registry.removed.retain(|removed| removed.name != name);
            registry.running.push(running);
        }
        tracing::info!(connector = %name, "added");
        let started = Instant::now();
        while status.report().state == ConnectorState::Starting && started.elapsed() < FIRST_CONTACT
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.describe(&name)
            .ok_or_else(|| ControlError::Failed(format!("`{name}` stopped at once")))
    }

    /// Stops the connector `name` and retracts its rows in one timestamp; `{"removed",
    /// "as_of"}` once the served state shows it.
    pub async fn remove(&self, name: &str) -> Result<serde_json::Value, ControlError> {
        let _changing = self.changing.lock().await;
        let (spec, task) = {
            let mut registry = self.registry();
            let running = registry.find(name)?;
            running.stop.send_replace(true);
            (running.spec.clone(), running.task.take())
        };
        if let Some(task) = task {
            if let Err(err) = task.await {
                tracing::error!(connector = name, "connector task failed: {err}");
            }
        }
        let as_of = self
            .wiring
            .retractor
            .retract(name, spec.tables())
            .await
            .map_err(|err| ControlError::Failed(format!("{err:#}")))?;
        let remembered = self.configured.contains(&spec);
        {
            let mut registry = self.registry();
            registry.running.retain(|r| r.spec.name != name);
            if remembered {
                registry.removed.push(spec);
            }
        }
        self.save()?;
        tracing::info!(connector = name, "removed; its rows retracted at {as_of}");
        Ok(serde_json::json!({ "removed": name, "as_of": as_of }))
    }

    /// Holds (`paused`) or releases the connector `name`, and records it in the catalog.
    pub async fn set_paused(
        &self,
        name: &str,
        paused: bool,
    ) -> Result<serde_json::Value, ControlError> {
        let _changing = self.changing.lock().await;
        self.registry().find(name)?.status.set_paused(paused);
        self.save()?;
        tracing::info!(
            connector = name,
            "{}",
            if paused { "paused" } else { "resumed" }
        );
        self.describe(name)
            .ok_or_else(|| ControlError::Unknown(name.to_string()))
    }

    /// Saves the catalog as it is.
    fn save(&self) -> Result<(), ControlError> {
        self.save_with(|_| {})
    }

    /// Saves the catalog as it is with `change` made to it (a no-op without a data directory).
    fn save_with(&self, change: impl FnOnce(&mut Catalog)) -> Result<(), ControlError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let mut catalog = {
            let registry = self.registry();
            Catalog {
                entries: registry
                    .running
                    .iter()
                    .map(|r| Entry {
                        spec: r.spec.clone(),
                        paused: r.status.is_paused(),
                    })
                    .collect(),
                removed: registry.removed.clone(),
            }
        };
        change(&mut catalog);
        file.save(&catalog)
            .map_err(|err| ControlError::Failed(format!("{err:#}")))
    }

    /// Stops every connector and waits for them; the pipeline's input is closed afterwards.
    pub async fn shutdown(&self) {
        let _changing = self.changing.lock().await;
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let tasks: Vec<(String, JoinHandle<()>)> = {
            let mut registry = self.registry();
            registry
                .running
                .iter_mut()
                .filter_map(|r| {
                    r.stop.send_replace(true);
                    r.task.take().map(|task| (r.spec.name.clone(), task))
                })
                .collect()
        };
        for (name, task) in tasks {
            if let Err(err) = task.await {
                tracing::error!(connector = %name, "connector task failed: {err}");
            }
        }
    }
}
