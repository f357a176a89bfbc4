//! The registry over HTTP: publish, refusals, reading, downloading and lifecycle.

mod fixtures;
mod lifecycle;
mod publish;
mod refusals;
pub mod support;
