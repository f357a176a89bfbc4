//! Structured logs with `tracing`: readable lines by default, JSON with
//! `log_format = "json"` or `--log-format json`. Logs go to stderr so stdout stays for
//! command output such as `caravan openapi`.

use crate::config::LogFormat;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, at the start of the process.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)?;
    // Colours only for a terminal: escape codes are noise in files and cost time per line.
    let ansi = std::io::stderr().is_terminal();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!(error))
}
