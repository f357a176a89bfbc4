//! How soon a write may be answered: once its commit is on disk ([`Durability::Immediate`],
//! what [`Database::write`](super::Database::write) gives), or once it is committed and
//! visible to every connection, with the flush left to the next immediate commit
//! ([`Durability::Delayed`]).
//!
//! Both backends keep one log written in order — SQLite's WAL file, PostgreSQL's WAL — and
//! an immediate commit flushes the log up to its own end, so it makes every delayed commit
//! before it durable too. A crash before that flush may lose every delayed commit since
//! the last one: that is why delayed durability is for rows nobody has been told about
//! yet, which a later immediate commit of the same work will carry to disk (a sync run's
//! `running` row, whose end is written immediately before the caller hears anything).
//!
//! SQLite's setting is `PRAGMA synchronous` of the connection, NORMAL for the delayed
//! commit and FULL again right after it; PostgreSQL's is `synchronous_commit`, turned off
//! for the one transaction with `SET LOCAL`.

use super::DbConnection;
use super::transaction::as_sqlite;
use diesel::QueryResult;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};

/// When a write is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After its commit reached the disk: a crash after the answer cannot lose it.
    Immediate,
    /// After its commit is visible to every connection, before it reached the disk; it is
    /// flushed with the next immediate commit. For writes no caller has been told about.
    Delayed,
}

impl Durability {
    /// The durability of a commit that carries writes of each of `durabilities`: delayed
    /// only when every one of them may be.
    pub fn of_all(mut durabilities: impl Iterator<Item = Self>) -> Self {
        if durabilities.all(|durability| durability == Self::Delayed) {
            Self::Delayed
        } else {
            Self::Immediate
        }
    }
}

/// Runs `commit` — a whole SQLite transaction — with its flush delayed: `synchronous` is
/// NORMAL for it and FULL again afterwards. A connection that cannot be set back is
/// marked broken, so the pool drops it rather than lend out one that skips flushes.
pub(super) fn with_sqlite_flush_delayed<T, E>(
    connection: &mut DbConnection,
    commit: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    // `PRAGMA synchronous` takes effect when the statement is prepared, so it cannot be a
    // cached prepared statement: each one is parsed anew.
    connection.batch_execute("PRAGMA synchronous = NORMAL")?;
    let outcome = commit(connection);
    if connection.batch_execute("PRAGMA synchronous = FULL").is_err()
        && let Some(sqlite) = as_sqlite(connection)
    {
        AnsiTransactionManager::transaction_manager_status_mut(sqlite).set_in_error();
    }
    outcome
}

/// Inside a PostgreSQL transaction: its commit returns without waiting for the WAL flush.
pub(super) fn delay_postgres_flush(connection: &mut DbConnection) -> QueryResult<()> {
    connection.batch_execute("SET LOCAL synchronous_commit = off")
}

#[cfg(test)]
mod tests {
    use super::Durability::{Delayed, Immediate};
    use super::*;
    use crate::db::{Database, DbError, PoolOptions};
    use crate::testing::TestDatabase;
    use diesel::RunQueryDsl;
    use diesel::sql_types::Text;

    #[test]
    fn a_commit_is_delayed_only_when_every_write_in_it_may_be() {
        assert_eq!(Durability::of_all([Delayed, Delayed].into_iter()), Delayed);
        assert_eq!(Durability::of_all([Delayed, Immediate, Delayed].into_iter()), Immediate);
        assert_eq!(Durability::of_all([Immediate].into_iter()), Immediate);
    }

    /// On PostgreSQL when the suite runs there.
    #[actix_web::test]
    async fn a_delayed_write_commits_without_its_flush_and_the_next_write_flushes_again()
    -> Result<(), DbError> {
        let test_database = TestDatabase::create();
        // One connection, so every step below sees the setting the one before left.
        let options = PoolOptions { max_connections: 1, ..PoolOptions::default() };
        let database = Database::connect(test_database.target(), &options)?;

        let delayed = database.write_with(Delayed, waits_for_flush).await?;
        let immediate = database.write(waits_for_flush).await?;
        let read_afterwards = database.run(waits_for_flush).await?;

        assert!(!delayed, "the delayed write's commit does not wait for its flush");
        assert!(immediate, "the next write's commit waits for its flush again");
        assert!(read_afterwards, "the connection went back to the pool flushing every commit");
        Ok(())
    }

    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        value: String,
    }

    /// Whether a commit on this connection, now, waits until it is on disk.
    fn waits_for_flush(connection: &mut DbConnection) -> Result<bool, DbError> {
        let (query, flushing) = match connection {
            // 2 is FULL; NORMAL (1) leaves the WAL's flush to checkpoints and FULL commits.
            DbConnection::Sqlite(_) => {
                ("SELECT CAST(synchronous AS TEXT) AS value FROM pragma_synchronous", "2")
            }
            DbConnection::Postgres(_) => ("SELECT current_setting('synchronous_commit') AS value", "on"),
        };
        let setting = diesel::sql_query(query).get_result::<Setting>(connection)?;
        Ok(setting.value == flushing)
    }
}
