//! A fresh, empty database per test: a temporary SQLite file by default, or a new
//! PostgreSQL database when `CARAVAN_TEST_POSTGRES_URL` is set, dropped when the test ends.

use crate::db::{DbConnection, DbTarget};
use diesel::connection::InstrumentationEvent;
use diesel::{Connection, PgConnection, RunQueryDsl};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable that switches integration tests to PostgreSQL.
pub const POSTGRES_URL_VAR: &str = "CARAVAN_TEST_POSTGRES_URL";

/// A database that exists for as long as this value does.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates the database. Panics with a clear message when PostgreSQL was asked for
    /// and cannot be reached: a test that needs a service fails without it.
    #[allow(clippy::expect_used)]
    pub fn create() -> Self {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(admin_url) if !admin_url.is_empty() => Self::create_postgres(admin_url),
            _ => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("caravan.db").display());
                Self { url, cleanup: Cleanup::Sqlite(dir) }
            }
        }
    }

    #[allow(clippy::expect_used)]
    fn create_postgres(admin_url: String) -> Self {
        let name = format!("caravan_test_{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut admin = PgConnection::establish(&admin_url).unwrap_or_else(|error| {
            panic!("{POSTGRES_URL_VAR} is set but PostgreSQL is unreachable: {error}")
        });
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create test database");
        let url = replace_database(&admin_url, &name);
        Self { url, cleanup: Cleanup::Postgres { admin_url, name } }
    }

    /// The URL the application under test connects to.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn target(&self) -> DbTarget {
        match DbTarget::parse(&self.url) {
            Ok(target) => target,
            Err(error) => panic!("test database url is invalid: {error}"),
        }
    }

    /// A direct connection, for asserting on stored state.
    pub fn connect(&self) -> DbConnection {
        match self.target() {
            DbTarget::Sqlite(path) => DbConnection::Sqlite(
                diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            DbTarget::Postgres(url) => {
                DbConnection::Postgres(PgConnection::establish(&url).unwrap_or_else(|e| panic!("{e}")))
            }
        }
    }
}

/// Counts the statements whose text contains `fragment` ("" for any) that diesel prepares
/// and keeps in `connection`'s statement cache, read with `load(Ordering::Relaxed)`. A
/// statement that stays prepared counts once however often it runs; one diesel will not
/// cache, and so prepares anew at every run, never counts: tests assert an exact count.
pub fn count_preparations(connection: &mut DbConnection, fragment: &'static str) -> Arc<AtomicUsize> {
    let prepared = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&prepared);
    let count = move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::CacheQuery { sql, .. } = event
            && sql.contains(fragment)
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    };
    crate::on_backend!(connection, |concrete| concrete.set_instrumentation(count));
    prepared
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            // FORCE ends the connections the application's pool still holds.
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
        }
    }
}

/// `postgres://user@host:5432/test?sslmode=disable` → the same URL naming `database`.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(replace_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
