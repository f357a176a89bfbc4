//! The developer portal: tenants, API keys and their authentication, the audit log view,
//! as a JSON API under `/v1` (and, later, server-rendered pages at `/portal`).

pub mod bootstrap;
pub mod db;
pub mod domain;
pub mod error;
mod routes;
pub mod service;
pub mod store;
pub mod views;
pub mod web;

pub use routes::{ApiDoc, configure};
pub use store::KeyStore;
