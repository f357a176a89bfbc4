//! The connection type shared by both backends, where a database URL leads, and the
//! per-connection settings each backend needs.

use super::DbError;
use diesel::connection::SimpleConnection;
use diesel::r2d2::R2D2Connection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use std::path::PathBuf;
use std::time::Duration;

/// One connection type for the whole application; queries written against it run on
/// both backends. Backend-specific SQL stays in this module and is rare.
#[derive(diesel::MultiConnection)]
#[allow(missing_debug_implementations)] // the inner diesel connections are not Debug
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Which database engine a [`DbTarget`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Where to connect, decided once from the URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A database file; created on first use.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, possibly holding a password.
    Postgres(String),
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            // The URL may carry a password; never print it.
            Self::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl DbTarget {
    /// `postgres://…` and `postgresql://…` choose PostgreSQL; `sqlite://path` or a plain
    /// file path choose SQLite. Anything else with a scheme is refused.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        match url.split_once("://") {
            Some((scheme, _)) => Err(DbError::UnsupportedScheme(scheme.to_owned())),
            None if url.is_empty() => Err(DbError::UnsupportedScheme(String::new())),
            None => Ok(Self::Sqlite(PathBuf::from(url))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Pool sizing and waiting.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    /// How long a request waits for a free connection before answering 503.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before failing a statement.
    pub busy_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a new connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("could not open the database")]
    Establish(#[from] diesel::ConnectionError),
    #[error("could not configure the connection")]
    Configure(#[from] diesel::result::Error),
    #[error("could not create the database directory {0}")]
    Directory(PathBuf, #[source] std::io::Error),
}

/// Opens connections for r2d2 and applies each backend's settings to them.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DbTarget,
    busy_timeout: Duration,
}

impl ConnectionManager {
    pub fn new(target: DbTarget, busy_timeout: Duration) -> Self {
        Self { target, busy_timeout }
    }

    fn open_sqlite(&self, path: &std::path::Path) -> Result<DbConnection, ConnectError> {
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|error| ConnectError::Directory(parent.to_owned(), error))?;
        }
        let mut connection = SqliteConnection::establish(&path.to_string_lossy())?;
        // WAL lets readers proceed while one writer commits; synchronous=FULL makes every
        // acknowledged commit survive a crash of the process or the machine.
        connection.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA foreign_keys = ON;",
            self.busy_timeout.as_millis()
        ))?;
        Ok(DbConnection::Sqlite(connection))
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        match &self.target {
            DbTarget::Sqlite(path) => self.open_sqlite(path),
            DbTarget::Postgres(url) => Ok(DbConnection::Postgres(PgConnection::establish(url)?)),
        }
    }

    /// Runs on every checkout. A PostgreSQL connection can go stale (the server restarted,
    /// a proxy closed it), so it is pinged; an SQLite connection is a file handle in this
    /// process and cannot, so it is not — the ping was a fresh statement to prepare on
    /// every checkout. A connection a failed statement broke is caught by `has_broken`.
    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), ConnectError> {
        match connection {
            DbConnection::Sqlite(_) => Ok(()),
            DbConnection::Postgres(_) => Ok(ping(connection)?),
        }
    }

    fn has_broken(&self, connection: &mut DbConnection) -> bool {
        match connection {
            DbConnection::Sqlite(inner) => inner.is_broken(),
            DbConnection::Postgres(inner) => inner.is_broken(),
        }
    }
}

/// A round trip that proves the connection works.
pub fn ping(connection: &mut DbConnection) -> Result<(), diesel::result::Error> {
    diesel::sql_query("SELECT 1").execute(connection).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_chooses_the_backend() {
        let parse = |url: &str| DbTarget::parse(url).ok();
        assert_eq!(parse("postgres://u@h/db").map(|t| t.backend()), Some(Backend::Postgres));
        assert_eq!(parse("postgresql://h/db").map(|t| t.backend()), Some(Backend::Postgres));
        assert_eq!(parse("sqlite://data/c.db"), Some(DbTarget::Sqlite("data/c.db".into())));
        assert_eq!(parse("sqlite:///tmp/c.db"), Some(DbTarget::Sqlite("/tmp/c.db".into())));
        assert_eq!(parse("data/c.db"), Some(DbTarget::Sqlite("data/c.db".into())));
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(
            matches!(DbTarget::parse("mysql://h/db"), Err(DbError::UnsupportedScheme(s)) if s == "mysql")
        );
        assert!(DbTarget::parse("").is_err());
    }

    #[test]
    fn debug_output_hides_postgres_credentials() {
        let target = DbTarget::Postgres("postgres://user:hunter2@host/db".into());
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
