//! The views twinflow serves, and their served state.
//!
//! [`catalog`] names every view of the contract's `views.sql`, and checks the key and typed
//! columns its dataflow declares for it.
//! [`state`] holds what readers see: a consistent [`Snapshot`] of every view at one timestamp
//! (`as_of`), older snapshots for paging, and per-view change logs and broadcasts for
//! subscribers. Readers never block the writer and never see part of a timestamp.

pub mod catalog;
pub mod datum;
pub mod filter;
pub mod state;
mod users;
mod versioned;

pub use catalog::{
    CatalogError, ColumnType, ColumnValue, ViewCatalog, ViewColumn, ViewDefinition, ViewId,
    ViewSchema,
};
pub use datum::{Datum, Key, Row, Text};
pub use filter::{Filter, FilterError};
pub use state::{
    now_ms, Commit, KeyChange, Page, PageCursor, ResetReason, RowUpdate, ServedState, Snapshot,
    SourceProgress, StateConfig, StateWriter, Subscription, ViewDelta,
};
pub use users::{UserCheck, UserStanding};
pub use versioned::StoreKey;
