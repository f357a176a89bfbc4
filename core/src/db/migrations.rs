//! Embedded migrations for both backends. `migrations/sqlite` and `migrations/postgres`
//! hold the same migration names; a test fails the build when they drift apart.

use super::{DbConnection, DbError};
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// An arbitrary constant: the PostgreSQL advisory lock that serializes migrations when
/// several replicas start at once.
const MIGRATION_LOCK: i64 = 0x6361_7261_7661_6e00;

/// The embedded migration names of each backend, in order: `(sqlite, postgres)`.
pub fn migration_names() -> Result<(Vec<String>, Vec<String>), DbError> {
    let sqlite = MigrationSource::<Sqlite>::migrations(&SQLITE).map_err(DbError::Migration)?;
    let postgres = MigrationSource::<Pg>::migrations(&POSTGRES).map_err(DbError::Migration)?;
    Ok((
        sqlite.iter().map(|migration| migration.name().to_string()).collect(),
        postgres.iter().map(|migration| migration.name().to_string()).collect(),
    ))
}

pub(super) fn run_pending(connection: &mut DbConnection) -> Result<Vec<String>, DbError> {
    fn names(versions: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
        versions.iter().map(ToString::to_string).collect()
    }
    match connection {
        DbConnection::Sqlite(inner) => {
            inner.run_pending_migrations(SQLITE).map(names).map_err(DbError::Migration)
        }
        DbConnection::Postgres(inner) => {
            use diesel::RunQueryDsl;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(inner)?;
            let outcome = inner.run_pending_migrations(POSTGRES).map(names).map_err(DbError::Migration);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(inner)?;
            outcome
        }
    }
}

#[cfg(any(test, feature = "testing"))]
pub(super) fn revert_last(connection: &mut DbConnection) -> Result<String, DbError> {
    let reverted = match connection {
        DbConnection::Sqlite(inner) => inner.revert_last_migration(SQLITE),
        DbConnection::Postgres(inner) => inner.revert_last_migration(POSTGRES),
    };
    reverted.map(|version| version.to_string()).map_err(DbError::Migration)
}

pub(super) fn pending_count(connection: &mut DbConnection) -> Result<usize, DbError> {
    let pending = match connection {
        DbConnection::Sqlite(inner) => inner.pending_migrations(SQLITE).map_err(DbError::Migration)?.len(),
        DbConnection::Postgres(inner) => {
            inner.pending_migrations(POSTGRES).map_err(DbError::Migration)?.len()
        }
    };
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migration_names() {
        let (sqlite, postgres) = migration_names().expect("embedded migrations load");
        assert!(!sqlite.is_empty(), "no migrations embedded");
        assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres must hold the same names");
    }
}
