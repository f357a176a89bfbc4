//! Database failures and how they look to a client: unavailability is a 503 worth
//! retrying, everything else is internal.

use crate::error::{ErrorKind, Problematic};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL scheme `{0}`: use postgres://… or sqlite://…")]
    UnsupportedScheme(String),
    #[error("no database connection available")]
    Pool(#[source] r2d2::Error),
    #[error("database query failed")]
    Query(#[from] diesel::result::Error),
    #[error("migration failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0} migration(s) not applied")]
    PendingMigrations(usize),
    #[error("the database task was interrupted")]
    Interrupted,
    /// The group commit that carried this caller's work found no connection. The pool's
    /// error is logged once by the commit thread; callers get only this (their messages
    /// reach response bodies, and the cause may name files).
    #[error("no database connection available")]
    SharedCommitUnavailable,
    #[error("could not start the group-commit thread")]
    Thread(#[source] std::io::Error),
}

impl Problematic for DbError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Pool(_) | Self::SharedCommitUnavailable | Self::PendingMigrations(_) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        }
    }

    fn slug(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Unavailable => "database-unavailable",
            _ => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Unavailable => "Database unavailable",
            _ => "Internal error",
        }
    }
}
