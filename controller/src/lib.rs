//! twinflow's controller: it runs one engine. Sources feed the [`sequencer`], which timestamps
//! their transactions for the dataflow engine; the engine commits to the served state; the
//! [`durability`] policy checkpoints it; the [`manager`] runs the connectors of the
//! [`catalog`]; [`status`] reports all of it to the API; [`sink`] writes the views to Kafka.
//!
//! [`Controller::start`] starts an engine from a [`ControllerConfig`] and returns the handle
//! that the `twinflow` binary serves. Tests and benchmarks that drive transactions themselves
//! start a bare [`Pipeline`] instead.

pub mod catalog;
pub mod durability;
pub mod manager;
mod pipeline;
mod sequencer;
pub mod sink;
pub mod status;

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use twinflow_connectors::{KafkaSink, KafkaSinkConfig};
use twinflow_dataflows::EngineMetrics;
use twinflow_views::{ServedState, ViewId};

pub use pipeline::{Pipeline, PipelineConfig, Retractor};

use catalog::file::CatalogFile;
use catalog::ConnectorSpec;
use manager::{ConnectorManager, Wiring};
use status::PipelineInfo;

/// What an engine runs.
#[derive(Clone, Debug, Default)]
pub struct ControllerConfig {
    /// The pipeline: dataflow workers, served-state retention, timestamps, durability.
    pub pipeline: PipelineConfig,
    /// The configured connectors: the initial catalog (merged into the data directory's
    /// catalog when there is one).
    pub connectors: Vec<ConnectorSpec>,
    /// Where every view's changes are written, if anywhere.
    pub kafka_sink: Option<KafkaSinkConfig>,
}

/// A running engine: its served state, its status, its connectors, and a clean shutdown.
pub struct Controller {
    pipeline: Pipeline,
    connectors: Arc<ConnectorManager>,
    status: Arc<PipelineInfo>,
    /// Tells the sink tasks to stop.
    stop: watch::Sender<bool>,
    sinks: Vec<JoinHandle<()>>,
}

impl Controller {
    /// Starts the pipeline (restoring the newest checkpoint of the data directory, if any),
    /// then the catalog's connectors (each from its restored position when it has one,
    /// otherwise from a snapshot) and the Kafka sink. Returns once a restored state is
    /// published, so that nothing serves the empty state before it.
    pub async fn start(config: ControllerConfig) -> anyhow::Result<Controller> {
        let ControllerConfig {
            pipeline,
            connectors,
            kafka_sink,
        } = config;
        let catalog_file = pipeline
            .durability
            .as_ref()
            .map(|d| CatalogFile::new(&d.dir));
        let pipeline = tokio::task::spawn_blocking(move || Pipeline::start(pipeline))
            .await
            .context("starting the pipeline")??;
        pipeline
            .state()
            .published_at(pipeline.restored_as_of())
            .await;
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
            connectors,
            pipeline.restored_positions(),
        )
        .await?;
        let (stop, stopped) = watch::channel(false);
        let sinks = match kafka_sink {
            Some(config) => start_sinks(config, &pipeline.state(), &stopped).await?,
            None => Vec::new(),
        };
        let status = Arc::new(
            PipelineInfo::new(
                pipeline.metrics(),
                pipeline.dead_letters(),
                pipeline.checkpoint_stats(),
            )
            .with_connectors(connectors.clone()),
        );
        Ok(Controller {
            pipeline,
            connectors,
            status,
            stop,
            sinks,
        })
    }

    /// The served state: what the API reads and subscribes to.
    pub fn state(&self) -> ServedState {
        self.pipeline.state()
    }

    /// The engine's status, connectors and dead letters, as the API shows and changes them.
    pub fn status(&self) -> Arc<PipelineInfo> {
        self.status.clone()
    }

    /// The running connectors: add, pause, resume and remove them.
    pub fn connectors(&self) -> Arc<ConnectorManager> {
        self.connectors.clone()
    }

    /// The engine's counters.
    pub fn metrics(&self) -> Arc<EngineMetrics> {
        self.pipeline.metrics()
    }

    /// Stops the connectors, then the sinks, then the pipeline once everything the
    /// connectors sent is applied and published (and, with a data directory, checkpointed).
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let Controller {
            pipeline,
            connectors,
            stop,
            sinks,
            ..
        } = self;
        connectors.shutdown().await;
        stop.send_replace(true);
        for sink in sinks {
            sink.await.context("a Kafka sink task failed")?;
        }
        tokio::task::spawn_blocking(move || pipeline.shutdown())
            .await
            .context("shutting the pipeline down")
    }
}

/// Starts one task per view writing its changes to the Kafka sink, until `stopped` says so.
async fn start_sinks(
    config: KafkaSinkConfig,
    state: &ServedState,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let views: Vec<&str> = ViewId::ALL.iter().map(|v| v.name()).collect();
    let sink = Arc::new(
        KafkaSink::new(config, &views)
            .await
            .context("starting the Kafka sink")?,
    );
    Ok(ViewId::ALL
        .into_iter()
        .map(|view| {
            let (sink, state, mut stopped) = (sink.clone(), state.clone(), stopped.clone());
            tokio::spawn(async move {
                let stop = async move {
                    // An error means the sender is gone, which also means stop.
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                sink::run_view_sink(state, &sink, view, stop).await;
            })
        })
        .collect())
}
