//! The `caravan` binary; everything lives in the library so tests can start it too.

/// Searching, serving and metering allocate small, short-lived values on every request;
/// mimalloc serves them from per-thread pages, where glibc's allocator spends a tenth of
/// a search in its slow paths.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    caravan_gateway::cli::run()
}
