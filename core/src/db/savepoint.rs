//! Savepoints that cost no parsing: the one each unit of a group commit runs in and the
//! one a write transaction opens inside another, and none at all around a single statement
//! on SQLite.
//!
//! diesel's nested transactions send `SAVEPOINT` and `RELEASE` as text through
//! `sqlite3_exec`, which parses and plans them anew every time. The group committer runs
//! every unit in a savepoint, so that parsing came with every write; here the three
//! statements are written out with static query ids and stay prepared. Savepoints of the
//! same name nest: `RELEASE` and `ROLLBACK TO` act on the innermost.

use super::DbConnection;
use super::transaction::as_sqlite;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel::{Connection, QueryResult, RunQueryDsl, SqliteConnection};

/// Runs `work` in a savepoint of the current transaction: kept on `Ok`, undone on `Err`.
pub(super) fn in_savepoint<T, E, F>(connection: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let Some(sqlite) = as_sqlite(connection) else {
        return connection.transaction(work);
    };
    Step::<SAVEPOINT>.execute(sqlite)?;
    let outcome = work(connection);
    // The backend of a connection never changes; the else branch only satisfies the types.
    let Some(sqlite) = as_sqlite(connection) else {
        return outcome;
    };
    let released = match outcome {
        Ok(value) => Step::<RELEASE>.execute(sqlite).map(|_| Ok(value)),
        Err(error) => undo(sqlite).map(|()| Err(error)),
    };
    released.unwrap_or_else(|error| {
        // The savepoint could not be released: its writes must not ride along with the batch.
        let _ = undo(sqlite);
        Err(error.into())
    })
}

/// Runs one statement so that its failure leaves the surrounding transaction usable:
/// PostgreSQL aborts a transaction at its first failed statement, so there the statement
/// runs in a savepoint; SQLite undoes a failed statement by itself, so there it runs as it
/// is.
pub fn recoverable_statement<T, E, F>(connection: &mut DbConnection, statement: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match connection {
        DbConnection::Sqlite(_) => statement(connection),
        DbConnection::Postgres(_) => connection.transaction(statement),
    }
}

fn undo(sqlite: &mut SqliteConnection) -> QueryResult<()> {
    Step::<ROLLBACK_TO>.execute(sqlite)?;
    Step::<RELEASE>.execute(sqlite)?;
    Ok(())
}

const SAVEPOINT: u8 = 0;
const RELEASE: u8 = 1;
const ROLLBACK_TO: u8 = 2;

/// One of the savepoint's statements; each `STEP` is its own type, so each has its own
/// static query id and its own prepared statement.
#[derive(Debug, Clone, Copy)]
struct Step<const STEP: u8>;

impl<const STEP: u8> QueryId for Step<STEP> {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<const STEP: u8> QueryFragment<Sqlite> for Step<STEP> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Sqlite>) -> QueryResult<()> {
        out.push_sql(match STEP {
            SAVEPOINT => "SAVEPOINT caravan_savepoint",
            RELEASE => "RELEASE caravan_savepoint",
            _ => "ROLLBACK TO caravan_savepoint",
        });
        Ok(())
    }
}

impl<const STEP: u8> RunQueryDsl<SqliteConnection> for Step<STEP> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Database, DbError, DbTarget, PoolOptions};
    use crate::testing::count_preparations;
    use diesel::connection::SimpleConnection;
    use std::sync::atomic::Ordering;

    #[test]
    fn units_keep_or_undo_their_writes_and_the_savepoint_stays_prepared() -> Result<(), DbError> {
        let dir = tempfile::tempdir().map_err(|_| DbError::Interrupted)?;
        let database =
            Database::connect(DbTarget::Sqlite(dir.path().join("units.db")), &PoolOptions::default())?;
        let mut connection = database.connection()?;
        if let DbConnection::Sqlite(sqlite) = &mut *connection {
            sqlite.batch_execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")?;
        }
        let prepared = count_preparations(&mut connection, "");
        let insert = |id: i64| {
            move |connection: &mut DbConnection| -> Result<(), DbError> {
                recoverable_statement(connection, |connection| {
                    diesel::sql_query(format!("INSERT INTO runs (id) VALUES ({id})")).execute(connection)
                })?;
                Ok(())
            }
        };
        super::super::write_transaction(&mut connection, |connection| {
            for id in [1, 2, 2, 3] {
                let _ = in_savepoint(connection, insert(id));
            }
            // A unit that wrote, then failed, leaves nothing behind.
            let failed: Result<(), DbError> = in_savepoint(connection, |connection| {
                insert(4)(connection)?;
                Err(DbError::Interrupted)
            });
            assert!(failed.is_err());
            // A write transaction inside a unit is a savepoint of its own: its failure undoes
            // only its writes.
            in_savepoint(connection, |connection| {
                insert(5)(connection)?;
                let nested: Result<(), DbError> = super::super::write_transaction(connection, |connection| {
                    insert(6)(connection)?;
                    Err(DbError::Interrupted)
                });
                assert!(nested.is_err());
                Ok::<_, DbError>(())
            })?;
            Ok::<_, DbError>(())
        })?;

        #[derive(diesel::QueryableByName)]
        struct Ids {
            #[diesel(sql_type = diesel::sql_types::Text)]
            ids: String,
        }
        let stored =
            diesel::sql_query("SELECT group_concat(id) AS ids FROM (SELECT id FROM runs ORDER BY id)")
                .get_result::<Ids>(&mut *connection)?;
        assert_eq!(stored.ids, "1,2,3,5");
        assert_eq!(prepared.load(Ordering::Relaxed), 3, "SAVEPOINT, RELEASE and ROLLBACK TO, once each");
        Ok(())
    }
}
