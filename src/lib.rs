//! twinflow's wiring: sources feed the sequencer, the sequencer feeds the dataflow engine, the
//! engine commits to the served state that the HTTP API reads.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`pipeline::Pipeline`] (with its
//! [`config`] file) and the [`verify`] audit; tests and benchmarks drive the same pipeline
//! directly.

pub mod catalog;
pub mod config;
pub mod durability;
pub mod manager;
pub mod operator_cli;
pub mod pipeline;
pub mod sink;
pub mod status;
pub mod verify;
