//! Transaction-scoped locks that order writers which must not interleave, such as a
//! billing period being closed while events for it are still being accepted.
//!
//! On PostgreSQL they are advisory transaction locks, released at commit or rollback. On
//! SQLite they do nothing: its write transactions (`BEGIN IMMEDIATE`) already run one at
//! a time.

use super::{DbConnection, DbError};
use diesel::RunQueryDsl;

/// Waits for, then holds until the transaction ends, a lock that other shared holders
/// may hold too but an exclusive holder may not.
pub fn lock_shared(connection: &mut DbConnection, key: i64) -> Result<(), DbError> {
    advisory(connection, "pg_advisory_xact_lock_shared", key)
}

/// Waits for, then holds until the transaction ends, a lock no one else may hold.
pub fn lock_exclusive(connection: &mut DbConnection, key: i64) -> Result<(), DbError> {
    advisory(connection, "pg_advisory_xact_lock", key)
}

fn advisory(connection: &mut DbConnection, function: &str, key: i64) -> Result<(), DbError> {
    if matches!(connection, DbConnection::Postgres(_)) {
        diesel::sql_query(format!("SELECT {function}({key})")).execute(connection)?;
    }
    Ok(())
}
