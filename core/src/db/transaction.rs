//! Write transactions that behave the same on both backends.
//!
//! SQLite in WAL mode fails a deferred transaction that read a snapshot and then tries to
//! write after another writer committed (`SQLITE_BUSY_SNAPSHOT`, which no busy timeout
//! cures). Write transactions therefore start with `BEGIN IMMEDIATE` there, taking the
//! write lock up front (waiting up to the busy timeout); PostgreSQL uses a plain
//! transaction.

use super::DbConnection;
use super::savepoint::in_savepoint;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::{Connection, SqliteConnection};

/// Runs `work` in a transaction that may write; commits on `Ok`, rolls back on `Err`.
pub fn write_transaction<T, E, F>(connection: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let Some(sqlite) = as_sqlite(connection) else {
        return connection.transaction(work);
    };
    // Inside a transaction already (a unit of a group commit): a savepoint of it.
    if AnsiTransactionManager::transaction_manager_status_mut(sqlite).transaction_depth()?.is_some() {
        return in_savepoint(connection, work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let outcome = work(connection);
    // The backend of a connection never changes; the else branch only satisfies the types.
    let Some(sqlite) = as_sqlite(connection) else {
        return outcome;
    };
    match outcome {
        Ok(value) => {
            if let Err(error) = AnsiTransactionManager::commit_transaction(sqlite) {
                let _ = AnsiTransactionManager::rollback_transaction(sqlite);
                return Err(error.into());
            }
            Ok(value)
        }
        Err(error) => {
            AnsiTransactionManager::rollback_transaction(sqlite)?;
            Err(error)
        }
    }
}

pub(super) fn as_sqlite(connection: &mut DbConnection) -> Option<&mut SqliteConnection> {
    match connection {
        DbConnection::Sqlite(sqlite) => Some(sqlite),
        DbConnection::Postgres(_) => None,
    }
}
