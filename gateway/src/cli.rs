//! The `caravan` command line: `serve`, `migrate`, `openapi` and `version`.

use crate::config::{LogFormat, Settings};
use crate::{Application, telemetry};
use anyhow::Context;
use caravan_core::Database;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "caravan",
    version,
    about = "Marketplace registry and metering gateway for AI-agent capsules"
)]
pub struct Cli {
    /// TOML configuration file; `CARAVAN_*` environment variables override it.
    #[arg(long, global = true, env = "CARAVAN_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format, overriding the configuration.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the version.
    Version,
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => print(&format!("caravan {}", env!("CARGO_PKG_VERSION"))),
        Command::Openapi => print(caravan_openapi::to_committed_json(&crate::openapi_document())?.trim_end()),
        Command::Migrate => migrate(&load_settings(&cli)?),
        Command::Serve => serve(load_settings(&cli)?),
    }
}

fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(format) = cli.log_format {
        settings.log_format = format;
    }
    telemetry::init(&settings.log_filter, settings.log_format)?;
    Ok(settings)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let mut application = Application::build(settings).await?;
        if let Some(created) = application.take_bootstrapped() {
            announce_bootstrap(&created)?;
        }
        let database = application.database().clone();
        application.run_until_stopped().await.context("server failed")?;
        // Close the pool's connections on this thread before the process exits.
        drop(database);
        tracing::info!("shutdown complete");
        Ok(())
    })
}

/// Shows the operator's admin key, once, on standard output (never in the logs).
fn announce_bootstrap(created: &caravan_portal_api::bootstrap::Bootstrapped) -> anyhow::Result<()> {
    if created.chosen {
        return print(&format!(
            "caravan: created the operator tenant {} with the admin key from CARAVAN_BOOTSTRAP_KEY ({})",
            created.tenant_id, created.key_id
        ));
    }
    print(&format!(
        "caravan: created the operator tenant {}. Its admin key is shown only this once:\n\n    {}\n",
        created.tenant_id,
        created.secret.reveal()
    ))
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let database = Database::connect(settings.database_target()?, &settings.pool_options())
        .context("cannot open the database")?;
    let applied = database.migrate().context("cannot apply migrations")?;
    if applied.is_empty() {
        return print("no pending migrations");
    }
    print(&applied.iter().map(|name| format!("applied {name}")).collect::<Vec<_>>().join("\n"))
}

fn print(text: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}
