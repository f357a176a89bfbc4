//! The `caravan` command line: `serve`, `migrate`, `openapi`, `version`; `pack`, `keygen`,
//! `sign`, `verify` and `publish` for publishers; the operator's `admin` commands (over
//! HTTP) and `audit verify` (on the database).

mod admin;
mod publish;
mod publisher;
mod search;

use crate::config::{LogFormat, Settings};
use crate::{Application, telemetry};
use anyhow::{Context, bail};
use caravan_core::Database;
use caravan_core::audit::Verification;
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
    /// Run a worker backend: it receives runs from gateways and runs capsules (the
    /// `[worker]` settings; `CARAVAN_WORKER__TOKEN` is the token shared with the gateway).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the version.
    Version,
    /// Pack a directory (with capsule.toml, README.md and its payload) into a capsule file.
    Pack {
        /// The capsule's directory.
        directory: PathBuf,
        /// Where to write the bundle; `<publisher>-<name>-<version>.capsule` by default.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make an ECDSA P-256 key pair for signing capsules: PREFIX.key (private, mode 0600)
    /// and PREFIX.pub (to register with the registry).
    Keygen {
        #[arg(long, default_value = "caravan")]
        prefix: PathBuf,
    },
    /// Sign a capsule file; writes the base64 signature to FILE.sig.
    Sign {
        /// PKCS#8 PEM private key, as made by `caravan keygen` or `openssl genpkey`.
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a capsule file offline: safe to unpack, valid manifest, signature by KEY.
    Verify {
        /// PEM public key.
        #[arg(long)]
        key: PathBuf,
        file: PathBuf,
        /// The signature; FILE.sig by default.
        #[arg(long)]
        signature: Option<PathBuf>,
    },
    /// Upload a signed capsule (and its SBOM) to a running registry.
    Publish(publish::PublishArgs),
    /// Operator commands against a running server's API.
    Admin(admin::AdminArgs),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rebuild the search index from the database (stop the server first).
    Reindex,
    /// Data for demos and benchmarks.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Search quality.
    #[command(subcommand)]
    Search(SearchCommand),
}

#[derive(Debug, Subcommand)]
pub enum FixturesCommand {
    /// Import a package catalog (TSV: name, version, downloads_a_month, description) as
    /// capsule metadata for search, e.g. ../shared/corpus/npm-catalog.tsv.
    LoadCatalog { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum SearchCommand {
    /// Print recall@10 and MRR of a labeled query file (fixtures/search/relevance.tsv)
    /// against a running server.
    Evaluate(search::EvaluateArgs),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain; exits non-zero when an entry was edited or deleted.
    Verify,
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => print(&format!("caravan {}", env!("CARGO_PKG_VERSION"))),
        Command::Openapi => print(caravan_openapi::to_committed_json(&crate::openapi_document())?.trim_end()),
        Command::Migrate => migrate(&load_settings(&cli)?),
        Command::Serve => serve(load_settings(&cli)?),
        Command::Worker => worker(load_settings(&cli)?),
        Command::Pack { directory, output } => pack(&directory, output),
        Command::Keygen { prefix } => publisher::keygen(&prefix),
        Command::Sign { key, file, output } => publisher::sign(&key, &file, output),
        Command::Verify { key, file, signature } => publisher::verify(&key, &file, signature),
        Command::Publish(args) => {
            let version = publish::run(args)?;
            print(&format!(
                "published {}@{} ({}, {} bytes)",
                version["capsule"].as_str().unwrap_or("?"),
                version["version"].as_str().unwrap_or("?"),
                version["digest"].as_str().unwrap_or("?"),
                version["size_bytes"]
            ))
        }
        Command::Admin(args) => print(&serde_json::to_string_pretty(&admin::run(args)?)?),
        Command::Audit(AuditCommand::Verify) => verify_audit(&load_settings(&cli)?),
        Command::Reindex => search::reindex(&load_settings(&cli)?),
        Command::Fixtures(FixturesCommand::LoadCatalog { ref file }) => {
            search::load_catalog(&load_settings(&cli)?, file)
        }
        Command::Search(SearchCommand::Evaluate(args)) => search::evaluate(args),
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
            announce_portal_link(application.address(), &created.portal_token)?;
        }
        let database = application.database().clone();
        application.run_until_stopped().await.context("server failed")?;
        // Close the pool's connections on this thread before the process exits.
        drop(database);
        tracing::info!("shutdown complete");
        Ok(())
    })
}

fn worker(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let worker = caravan_worker::Worker::build(settings.worker).context("cannot start the worker")?;
        worker.run_until_stopped().await.context("worker failed")?;
        tracing::info!("worker stopped");
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

/// Shows the one-time link that sets the operator's portal password.
fn announce_portal_link(address: std::net::SocketAddr, token: &str) -> anyhow::Result<()> {
    let host = if address.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    };
    let days = caravan_portal_api::service::members::INVITATION_LIFETIME.num_days();
    print(&format!(
        "caravan: open this link once to set the operator's portal password (valid {days} days):\n\n    http://{host}/portal/invitations/{token}\n"
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

fn pack(directory: &std::path::Path, output: Option<PathBuf>) -> anyhow::Result<()> {
    let limits = caravan_registry::capsule::BundleLimits::default();
    let (bytes, capsule) = caravan_registry::capsule::pack_directory(directory, &limits)
        .with_context(|| format!("cannot pack {}", directory.display()))?;
    let manifest = &capsule.manifest;
    let output = output.unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}-{}-{}.capsule",
            manifest.name.publisher(),
            manifest.name.name(),
            manifest.version
        ))
    });
    std::fs::write(&output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    print(&format!(
        "packed {}@{} into {} ({} bytes, {} files)\n{}",
        manifest.name,
        manifest.version,
        output.display(),
        capsule.size,
        capsule.files.paths().count(),
        capsule.digest
    ))
}

fn verify_audit(settings: &Settings) -> anyhow::Result<()> {
    let database = Database::connect(settings.database_target()?, &settings.pool_options())
        .context("cannot open the database")?;
    let mut connection = database.connection()?;
    match caravan_core::audit::verify(&mut connection)? {
        Verification::Intact { entries: 0, .. } => print("audit log intact: no entries yet"),
        Verification::Intact { entries, head } => {
            let (sequence, hash) = head.unwrap_or_default();
            print(&format!(
                "audit log intact: {entries} entries; head {sequence} {hash}\n\
                 (record the head elsewhere: a later verify that ends earlier means entries were cut off)"
            ))
        }
        Verification::Broken { sequence, reason } => {
            bail!("audit log broken at entry {sequence}: {reason}")
        }
    }
}

pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}
