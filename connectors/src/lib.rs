//! twinflow's sources: the deterministic org generator (an initial snapshot and an endless
//! stream of realistic changes across the seven domain databases) and its async driver.

#![warn(missing_docs)]

pub mod generator;

pub use generator::{run_generator, GeneratorConfig, OrgGenerator, Snapshot};
