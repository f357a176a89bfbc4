//! What every Caravan crate shares: the database connection and pool over SQLite and
//! PostgreSQL, prefixed ULID identifiers, and the one mapping from errors to RFC 9457
//! `application/problem+json` responses.

pub mod audit;
pub mod db;
pub mod error;
pub mod faults;
pub mod id;
pub mod json_object;
pub mod money;
pub mod plans;
pub mod principal;
pub mod random_keys;
pub mod request_id;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod utc;

pub use db::{Database, DbConnection, DbError};
pub use error::{ApiError, ErrorCause, ErrorKind, Problem, Problematic};
pub use json_object::JsonObject;
pub use principal::{Actor, AuthError, Principal, PrincipalDetails, Scope, ScopeSet};
pub use request_id::RequestIdentity;
