//! Settings: built-in defaults, then an optional TOML file, then `DATABASE_URL`, then
//! `CARAVAN_*` environment variables (`CARAVAN_LISTEN`, `CARAVAN_DATABASE__MAX_CONNECTIONS`:
//! a double underscore descends into a table). With nothing set, Caravan serves on
//! 127.0.0.1:8080 from `./caravan-data` with an embedded SQLite database.

use caravan_core::db::{DbTarget, PoolOptions};
use caravan_core::plans::PlanCatalog;
use caravan_metering::domain::meter::MeterDefinition;
use caravan_metering::stripe::StripeSettings;
use caravan_portal_api::web::TrustedProxies;
use caravan_registry::policy::AdmissionPolicy;
use caravan_worker::config::{RunLimits, Sandbox, WorkerSettings};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where the SQLite database, blobs and search index live.
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; unset means SQLite at `<data_dir>/caravan.db`.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// HTTP worker threads; unset means one per CPU core.
    pub workers: Option<usize>,
    /// Largest accepted request body, in bytes, unless an endpoint says otherwise.
    pub body_limit_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM or SIGINT.
    pub shutdown_timeout_s: u64,
    /// `tracing` filter directives, e.g. `info` or `info,caravan=debug`.
    pub log_filter: String,
    pub log_format: LogFormat,
    pub database: DatabaseSettings,
    /// Plan catalog (TOML); the built-in `fixtures/plans.toml` when unset.
    pub plans_file: Option<PathBuf>,
    /// The operator's admin key to create on first start (`CARAVAN_BOOTSTRAP_KEY`),
    /// instead of a generated one.
    #[serde(skip_serializing)]
    pub bootstrap_key: Option<SecretString>,
    /// How long an authenticated key is trusted from memory before the database is asked
    /// again. Changes made through this process apply at once; other replicas' within this.
    pub auth_cache_ttl_s: u64,
    /// How often idle rate-limiter state is purged.
    pub rate_limit_purge_interval_s: u64,
    pub registry: RegistrySettings,
    pub metering: MeteringSettings,
    pub stripe: StripeSettings,
    /// Where executions run (the `[executions]` table).
    pub executions: ExecutionSettings,
    /// `caravan worker`'s own settings (the `[worker]` table).
    pub worker: WorkerSettings,
    /// The web portal at `/portal` (the `[portal]` table).
    pub portal: PortalSettings,
}

/// The web portal's session cookie, links and sign-in limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PortalSettings {
    /// Encrypts the session cookie: at least 64 bytes as 128 hex digits. Replicas share
    /// it. Unset: made once and kept in `<data_dir>/portal-session.key`.
    #[serde(skip_serializing)]
    pub session_key: Option<SecretString>,
    /// Send the session cookie over HTTPS only; turn on when the portal is served over TLS.
    pub secure_cookies: bool,
    /// The address users reach Caravan at (`https://caravan.example.com`), for links the
    /// portal hands out such as invitations. Unset: the scheme and host of the request.
    pub public_url: Option<String>,
    /// Sign-in attempts one client address may make per minute (all at once if it likes).
    pub sign_in_attempts_per_minute: NonZeroU32,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client;
    /// requests from anywhere else are their TCP peer's.
    pub trusted_proxies: TrustedProxies,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            session_key: None,
            secure_cookies: false,
            public_url: None,
            sign_in_attempts_per_minute: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionSettings {
    /// The secret shared with the workers (they present it to download bundles; the
    /// gateway presents it to them). Required with `workers`; made per start otherwise.
    #[serde(skip_serializing)]
    pub token: Option<SecretString>,
    /// The URL workers reach this gateway at; `http://<listen address>` by default.
    pub gateway_url: Option<String>,
    /// Workers declared here (`[[executions.workers]]`), besides those registered through
    /// the API.
    pub workers: Vec<BackendSettings>,
    /// With no worker configured or registered, run one inside `caravan serve`.
    pub embedded_worker: bool,
    /// How the embedded worker contains runs, and its limits.
    pub embedded_sandbox: Sandbox,
    pub embedded_limits: RunLimits,
    pub health_interval_s: u64,
    /// How often executions marked running are checked with their workers.
    pub sweep_interval_s: u64,
    /// How long an execution must have been running before a sweep checks it.
    pub sweep_after_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackendSettings {
    pub url: String,
    /// `fast`, `balanced` or `flagship`.
    pub tier: String,
}

impl Default for ExecutionSettings {
    fn default() -> Self {
        Self {
            token: None,
            gateway_url: None,
            workers: Vec::new(),
            embedded_worker: true,
            embedded_sandbox: Sandbox::Auto,
            embedded_limits: RunLimits::default(),
            health_interval_s: 5,
            sweep_interval_s: 30,
            sweep_after_s: 60,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MeteringSettings {
    /// Operator-defined meters (`[[metering.meters]]`), beside the built-in ones.
    pub meters: Vec<MeterDefinition>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistrySettings {
    /// Where bundles and SBOMs are stored; `<data_dir>/blobs` when unset.
    pub blob_dir: Option<PathBuf>,
    /// The `[registry.admission]` table: what a capsule must satisfy to be published.
    pub admission: AdmissionPolicy,
    /// Where the search index lives; `<data_dir>/search` when unset.
    pub search_dir: Option<PathBuf>,
    /// How often ranks are recomputed from executions.
    pub rank_interval_s: u64,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self { blob_dir: None, admission: AdmissionPolicy::default(), search_dir: None, rank_interval_s: 30 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    pub max_connections: u32,
    pub acquire_timeout_ms: u64,
    pub busy_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("caravan-data"),
            database_url: None,
            listen: "127.0.0.1:8080".to_owned(),
            workers: None,
            body_limit_bytes: 1024 * 1024,
            shutdown_timeout_s: 30,
            log_filter: "info".to_owned(),
            log_format: LogFormat::Human,
            database: DatabaseSettings::default(),
            plans_file: None,
            bootstrap_key: None,
            auth_cache_ttl_s: 10,
            rate_limit_purge_interval_s: 60,
            registry: RegistrySettings::default(),
            metering: MeteringSettings::default(),
            stripe: StripeSettings::default(),
            executions: ExecutionSettings::default(),
            worker: WorkerSettings::default(),
            portal: PortalSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let pool = PoolOptions::default();
        Self {
            max_connections: pool.max_connections,
            acquire_timeout_ms: millis(pool.acquire_timeout),
            busy_timeout_ms: millis(pool.busy_timeout),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The configuration could not be read or does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("invalid database url: {0}")]
    DatabaseUrl(#[from] caravan_core::DbError),
    #[error(transparent)]
    Plans(#[from] caravan_core::plans::PlanError),
}

impl Settings {
    /// Reads the layered configuration. `file`, when given, must exist.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError::MissingFile(file.to_owned()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database_url".into()))
            .merge(Env::prefixed("CARAVAN_").split("__"));
        figment.extract().map_err(|error| ConfigError::Invalid(Box::new(error)))
    }

    /// The database to use: `database_url` when set, else SQLite in the data directory.
    pub fn database_target(&self) -> Result<DbTarget, ConfigError> {
        match &self.database_url {
            Some(url) => Ok(DbTarget::parse(url.expose_secret())?),
            None => Ok(DbTarget::Sqlite(self.data_dir.join("caravan.db"))),
        }
    }

    pub fn plans(&self) -> Result<PlanCatalog, ConfigError> {
        Ok(match &self.plans_file {
            Some(path) => PlanCatalog::load(path)?,
            None => PlanCatalog::built_in()?,
        })
    }

    /// Where blobs live: `registry.blob_dir`, else `<data_dir>/blobs`.
    pub fn blob_dir(&self) -> PathBuf {
        self.registry.blob_dir.clone().unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// The portal's session cookie key: configured, or kept in the data directory (made
    /// on first start, readable by this user only).
    pub fn portal_session_key(&self) -> anyhow::Result<Vec<u8>> {
        use anyhow::Context;
        let hex_key = match &self.portal.session_key {
            Some(key) => key.expose_secret().to_owned(),
            None => {
                let path = self.data_dir.join("portal-session.key");
                match std::fs::read_to_string(&path) {
                    Ok(stored) => stored.trim().to_owned(),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        let mut random = [0_u8; 64];
                        rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
                        let fresh = hex::encode(random);
                        write_private(&path, &fresh)
                            .with_context(|| format!("cannot write {}", path.display()))?;
                        fresh
                    }
                    Err(error) => {
                        return Err(error).with_context(|| format!("cannot read {}", path.display()));
                    }
                }
            }
        };
        let key = hex::decode(&hex_key).context("the portal session key is not hex")?;
        anyhow::ensure!(key.len() >= 64, "the portal session key needs at least 64 bytes (128 hex digits)");
        Ok(key)
    }

    /// Where the search index lives: `registry.search_dir`, else `<data_dir>/search`.
    pub fn search_dir(&self) -> PathBuf {
        self.registry.search_dir.clone().unwrap_or_else(|| self.data_dir.join("search"))
    }

    pub fn bootstrap_key(&self) -> Option<&str> {
        self.bootstrap_key.as_ref().map(ExposeSecret::expose_secret)
    }

    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.database.max_connections.max(1),
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
            busy_timeout: Duration::from_millis(self.database.busy_timeout_ms),
        }
    }
}

/// Writes a secret file only its owner can read.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
mod tests {
    use super::*;

    #[test]
    fn defaults_serve_locally_from_the_data_directory() {
        figment::Jail::expect_with(|_jail| {
            let settings = Settings::load(None).expect("defaults load");
            assert_eq!(settings.listen, "127.0.0.1:8080");
            assert_eq!(
                settings.database_target().ok(),
                Some(DbTarget::Sqlite(PathBuf::from("caravan-data/caravan.db")))
            );
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("caravan.toml", "listen = \"0.0.0.0:9000\"\n[database]\nmax_connections = 3\n")?;
            jail.set_env("CARAVAN_DATABASE__MAX_CONNECTIONS", "7");
            jail.set_env("DATABASE_URL", "postgres://db.internal/caravan");
            let settings = Settings::load(Some(Path::new("caravan.toml"))).expect("settings load");
            assert_eq!(settings.listen, "0.0.0.0:9000");
            assert_eq!(settings.database.max_connections, 7);
            assert!(matches!(settings.database_target(), Ok(DbTarget::Postgres(_))));
            Ok(())
        });
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        let result = Settings::load(Some(Path::new("/nonexistent/caravan.toml")));
        assert!(matches!(result, Err(ConfigError::MissingFile(_))));
    }

    #[test]
    fn trusted_proxies_come_as_a_toml_list_or_a_comma_separated_variable() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("caravan.toml", "[portal]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n")?;
            let from_file = Settings::load(Some(Path::new("caravan.toml"))).expect("a list of networks");
            assert_eq!(Vec::<String>::from(from_file.portal.trusted_proxies), ["10.0.0.0/8", "::1/128"]);

            jail.set_env("CARAVAN_PORTAL__TRUSTED_PROXIES", "127.0.0.1, 192.168.0.0/16");
            let from_env = Settings::load(None).expect("a comma-separated variable");
            assert_eq!(
                Vec::<String>::from(from_env.portal.trusted_proxies),
                ["127.0.0.1/32", "192.168.0.0/16"]
            );

            jail.set_env("CARAVAN_PORTAL__TRUSTED_PROXIES", "proxy.internal");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            Ok(())
        });
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CARAVAN_BODY_LIMIT_BYTES", "lots");
            assert!(matches!(Settings::load(None), Err(ConfigError::Invalid(_))));
            Ok(())
        });
    }
}
