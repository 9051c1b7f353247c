//! twinflow's wiring: sources feed the sequencer, the sequencer feeds the dataflow engine, the
//! engine commits to the served state that the HTTP API reads.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`pipeline::Pipeline`] (with its
//! [`config`] file) and the [`verify`] audit; tests and benchmarks drive the same pipeline
//! directly.

/// mimalloc for every binary built on this crate (the engine, its tests and benchmarks): the
/// workers and the publisher allocate and free small objects at a high rate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod catalog;
pub mod config;
pub mod durability;
pub mod manager;
pub mod operator_cli;
pub mod pipeline;
pub mod sink;
pub mod status;
pub mod verify;
