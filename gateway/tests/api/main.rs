//! Integration tests of the `caravan` server over real HTTP, on SQLite by default and on
//! PostgreSQL when `CARAVAN_TEST_POSTGRES_URL` is set.

// Tests may panic on what they set up themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod auth_matrix;
pub mod capsules;
mod cli;
mod edge;
mod errors;
pub mod executions;
mod helpers;
mod keys;
pub mod metering;
mod openapi;
mod operator;
mod portal;
mod publisher_keys;
mod rate_limits;
pub mod search;
mod served;
