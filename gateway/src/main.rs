//! The `caravan` binary; everything lives in the library so tests can start it too.

fn main() -> anyhow::Result<()> {
    caravan_gateway::cli::run()
}
