//! twinflow's dataflows: timely/differential operators that maintain every served view.
//!
//! The [`Engine`] runs timely workers on their own threads. It is fed
//! [`TimestampedBatch`](twinflow_ingest::TimestampedBatch)es through a bounded channel; each
//! worker applies the changes whose primary keys it owns to its [`inputs`], the
//! [`graph`] maintains the views incrementally, and the publisher thread commits every
//! completed timestamp to the served state ([`twinflow_views::StateWriter`]). This crate does
//! no I/O: it meets the rest of the program only at channels. Each view's schema is declared
//! beside the code that builds its rows, and the [`catalog`] of them all is what the served
//! state is created with.

mod engine;
mod graph;
mod inputs;
mod metrics;
mod records;

use std::sync::{Arc, LazyLock};

use thiserror::Error;
use twinflow_ingest::TableId;
use twinflow_views::{ViewCatalog, ViewId, ViewSchema};

pub use engine::{CheckpointShard, Engine, EngineConfig, Restore};
pub use inputs::SavedInputs;
pub use metrics::{EngineMetrics, LatencySummary};

/// Every served view's schema (key and typed columns), as declared beside the dataflow that
/// builds its rows: what the served state is created with.
pub fn catalog() -> Arc<ViewCatalog> {
    CATALOG.clone()
}

/// The schema of `view`'s rows, from the [`catalog`].
pub fn schema(view: ViewId) -> &'static ViewSchema {
    CATALOG.schema(view)
}

static CATALOG: LazyLock<Arc<ViewCatalog>> = LazyLock::new(|| {
    // The definitions are this crate's constants; a test builds the catalog.
    Arc::new(graph::view_catalog().unwrap_or_else(|err| panic!("{err}")))
});

/// The engine's logical time: the reclocked timestamp of `twinflow_ingest`.
pub type Time = twinflow_ingest::Timestamp;

/// Errors of the engine.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The catalog lacks a column a view reads.
    #[error("table {table} has no column `{column}`, which the views read")]
    MissingColumn {
        /// The table.
        table: TableId,
        /// The column.
        column: String,
    },
    /// Timely could not start its workers.
    #[error("could not start the dataflow workers: {0}")]
    Start(String),
    /// The engine has stopped (a worker or the publisher is gone).
    #[error("the dataflow engine has stopped")]
    Stopped,
}
