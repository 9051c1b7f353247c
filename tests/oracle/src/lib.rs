//! The test oracle of twinflow.
//!
//! A small, plain recomputation of the contract's `views.sql`, written independently of the
//! engine's dataflows: [`Tables`] holds the source databases' current rows (changes applied with
//! the engine's "upsert by primary key" semantics for imperfect sources), [`evaluate`] runs every
//! view's SQL over them, and [`diff`] explains a mismatch. [`random`] generates seeded random
//! source transactions for property tests, and [`rows`] builds valid source rows by hand.
//! [`mariadb`] runs a private MariaDB server for a test and [`sql`] writes transactions into it;
//! [`kafka`] runs a private Kafka-protocol broker.
//! [`contract`] locates the repository's copy of the contract.
//! [`debezium`] encodes row changes as Debezium MySQL change events in JSON, for decoder tests.
//!
//! ```
//! use twinflow_ingest::{RowChange, TableId};
//! use twinflow_oracle::{evaluate_view, rows, Tables};
//! use twinflow_views::ViewId;
//!
//! let mut t = Tables::new();
//! t.apply(&RowChange::insert(TableId::Company, rows::company(1, false)));
//! t.apply(&RowChange::insert(TableId::Building, rows::building(7, 1, "HQ")));
//! assert_eq!(evaluate_view(&t, ViewId::OccupancyByBuilding).len(), 1);
//! ```

#![warn(missing_docs)]

mod columns;
pub mod contract;
pub mod debezium;
mod diff;
mod eval;
pub mod kafka;
pub mod mariadb;
pub mod random;
pub mod rows;
pub mod sql;
mod tables;

pub use diff::{diff, format_row};
pub use eval::{evaluate, evaluate_view};
pub use random::RandomSource;
pub use tables::Tables;
