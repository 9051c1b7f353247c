//! twinflow's wiring: sources feed the sequencer, the sequencer feeds the dataflow engine, the
//! engine commits to the served state that the HTTP API reads.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`pipeline::Pipeline`] (with its
//! [`config`] file) and the [`verify`] audit; tests and benchmarks drive the same pipeline
//! directly.

/// jemalloc for every binary built on this crate (the engine, its tests and benchmarks): the
/// workers and the publisher allocate and free small objects at a high rate.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read before `main` (`_RJEM_MALLOC_CONF` in the environment is applied
/// after them): a background thread returns freed pages after a second instead of ten, and two
/// arenas instead of eight for the handful of busy threads keep their pages fuller. At 1M people
/// this holds peak RSS 60-100 MB lower at the same throughput.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2\0";

pub mod catalog;
pub mod config;
pub mod durability;
pub mod manager;
pub mod operator_cli;
pub mod pipeline;
pub mod sink;
pub mod status;
pub mod verify;
