//! What every benchmark binary shares: the engine binary's allocator and its settings, so that
//! a benchmark measures the memory and speed the `twinflow` binary has.

/// jemalloc, as in `src/main.rs`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, as in `src/main.rs`.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] =
    b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:2\0";
