//! The database: one diesel [`DbConnection`] over SQLite and PostgreSQL, an r2d2 pool, the
//! embedded migrations of both backends, and [`Database::run`] to use a connection from
//! async code without blocking the executor.

mod connection;
mod error;
mod group_commit;
pub mod locks;
mod migrations;
mod savepoint;
pub mod schema;
mod transaction;

pub use connection::{Backend, DbConnection, DbTarget, PoolOptions};
pub use error::DbError;
pub use migrations::migration_names;
pub use savepoint::recoverable_statement;
pub use transaction::write_transaction;

use connection::ConnectionManager;
use group_commit::GroupCommitter;
use std::sync::Arc;

type Pool = r2d2::Pool<ConnectionManager>;

/// A pooled connection, borrowed for the duration of one unit of work.
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// The application's database: a pool of connections to one backend.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    target: Arc<DbTarget>,
    /// SQLite only; see [`Database::write`].
    committer: Option<GroupCommitter>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("backend", &self.backend()).finish_non_exhaustive()
    }
}

impl Database {
    /// Opens a pool to `target`, connecting once so a wrong URL fails at start-up.
    ///
    /// Connections are opened on demand only (`min_idle = 0`): a pool that refills itself
    /// in the background can be mid-TLS-handshake in libpq when the process exits, and
    /// OpenSSL's exit-time cleanup then crashes the process.
    pub fn connect(target: DbTarget, options: &PoolOptions) -> Result<Self, DbError> {
        let manager = ConnectionManager::new(target.clone(), options.busy_timeout);
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(0))
            .connection_timeout(options.acquire_timeout)
            .error_handler(Box::new(r2d2::LoggingErrorHandler))
            .build(manager)
            .map_err(DbError::Pool)?;
        drop(pool.get().map_err(DbError::Pool)?);
        let committer = match target.backend() {
            Backend::Sqlite => Some(GroupCommitter::start(pool.clone()).map_err(DbError::Thread)?),
            Backend::Postgres => None,
        };
        Ok(Self { pool, target: Arc::new(target), committer })
    }

    pub fn backend(&self) -> Backend {
        self.target.backend()
    }

    /// How many connections the pool holds and how many of them are idle.
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// Borrows a connection, waiting up to the pool's acquire timeout. Blocking: call it
    /// from [`Database::run`] or from synchronous code such as the CLI.
    pub fn connection(&self) -> Result<PooledConnection, DbError> {
        self.pool.get().map_err(DbError::Pool)
    }

    /// Runs `work` with a connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut connection = pool.get().map_err(DbError::Pool)?;
            work(&mut connection)
        })
        .await
        .map_err(|_| E::from(DbError::Interrupted))?
    }

    /// Runs `work` in a write transaction and answers once it is durable. On SQLite the
    /// transactions of concurrent callers are grouped into one commit (see
    /// `group_commit`), each caller's work in a savepoint of its own; on PostgreSQL, whose
    /// commits group themselves, it is [`write_transaction`] on a pooled connection. For
    /// short writes on hot paths; `work` must not wait on anything but the database.
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        if let Some(committer) = &self.committer {
            return committer.run(work).await;
        }
        self.run(move |connection| write_transaction(connection, work)).await
    }

    /// Applies every pending migration and returns the names of those it applied.
    pub fn migrate(&self) -> Result<Vec<String>, DbError> {
        let mut connection = self.connection()?;
        migrations::run_pending(&mut connection)
    }

    /// Reverts the last migration applied and returns its name, so that a test can run it
    /// again over rows written after it (a backfill, say).
    #[cfg(any(test, feature = "testing"))]
    pub fn revert_last_migration(&self) -> Result<String, DbError> {
        let mut connection = self.connection()?;
        migrations::revert_last(&mut connection)
    }

    /// Ready means: a connection answers a query and no migration is pending.
    pub async fn check_ready(&self) -> Result<(), DbError> {
        self.run(|connection| {
            connection::ping(connection)?;
            match migrations::pending_count(connection)? {
                0 => Ok(()),
                pending => Err(DbError::PendingMigrations(pending)),
            }
        })
        .await
    }
}

/// The current UTC time at the precision both backends store (microseconds), so a value
/// written and read back compares equal.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// Runs the same diesel code against the concrete connection of whichever backend is in
/// use, for statements diesel's `MultiConnection` cannot express: multi-row inserts,
/// `ON CONFLICT` and `RETURNING` with them. The body is compiled once per backend.
///
/// ```ignore
/// on_backend!(connection, |concrete| diesel::insert_into(t).values(rows).execute(concrete))
/// ```
#[macro_export]
macro_rules! on_backend {
    ($connection:expr, |$concrete:ident| $body:expr) => {
        match $connection {
            $crate::db::DbConnection::Sqlite($concrete) => $body,
            $crate::db::DbConnection::Postgres($concrete) => $body,
        }
    };
}
