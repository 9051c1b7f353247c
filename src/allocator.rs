//! The global allocator of the `twinflow` binary, and of the benchmark binaries, which include
//! this file so that they measure the memory and speed the binary has.

/// jemalloc: the dataflow workers and the publisher allocate and free small objects at a high
/// rate, which jemalloc serves faster than glibc's malloc, holding less memory with background
/// purging (docs/benchmarks.md has the measurements).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read before `main` (`_RJEM_MALLOC_CONF` in the environment is applied
/// after them): a background thread returns freed pages after a second instead of ten, and two
/// arenas instead of eight suit the handful of busy threads (see docs/benchmarks.md).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2\0";
