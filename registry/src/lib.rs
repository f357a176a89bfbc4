//! The capsule registry: the capsule format (manifest, safe unpacking, packing), publisher
//! signatures (cosign- and openssl-compatible), CycloneDX SBOMs, the operator's admission
//! policy, the publish pipeline, content-addressed blob storage, the API to read,
//! download, yank, revoke and deprecate versions, and search with performance ranking.

pub mod blobs;
pub mod capsule;
pub mod db;
pub mod error;
pub mod policy;
pub mod publish;
mod routes;
pub mod runnable;
pub mod sbom;
pub mod search;
pub mod service;
pub mod signing;
pub mod views;

pub use error::RegistryError;
pub use routes::{ApiDoc, configure};

use blobs::BlobStore;
use policy::AdmissionPolicy;

/// What the registry's handlers share: where blobs live, what the operator admits, the
/// search index, and what runs read of the registry (evicted on every change made here).
#[derive(Debug, Clone)]
pub struct Registry {
    pub blobs: BlobStore,
    pub policy: AdmissionPolicy,
    pub search: search::index::SearchIndex,
    pub runs: runnable::RunCache,
}
