//! What the registry refuses, and how each refusal looks to a client. The capsule format,
//! signature, SBOM and policy errors keep their own problem types.

use crate::blobs::BlobError;
use crate::capsule::CapsuleError;
use crate::policy::PolicyError;
use crate::sbom::SbomError;
use crate::signing::SigningError;
use caravan_core::{AuthError, DbError, ErrorKind, Problematic};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Capsule(#[from] CapsuleError),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Sbom(#[from] SbomError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{0}")]
    InvalidUpload(String),
    #[error("the SBOM is {size} bytes; the limit is {limit}")]
    SbomTooLarge { size: u64, limit: u64 },
    #[error(
        "your tenant has no publisher keys yet: register one with POST /v1/namespaces/{{namespace}}/keys"
    )]
    NoPublisherKeys,
    #[error("the signature does not verify with any live key of your namespaces ({checked} checked)")]
    SignatureMismatch { checked: usize },
    #[error(
        "the signature was made with publisher key {key_id}, retired at {retired_at}; sign with a live key"
    )]
    RetiredKey { key_id: String, retired_at: String },
    #[error(
        "`{capsule}` is signed with a key of namespace `{signer_namespace}`; only keys of `{namespace}` may sign it"
    )]
    ForeignNamespace { capsule: String, namespace: String, signer_namespace: String },
    #[error("`{0}` is outside this key's capsule patterns")]
    OutsidePatterns(String),
    #[error("`{0}` belongs to another tenant; only its publisher may change its versions")]
    NotOwner(String),
    #[error("{capsule} {version} is published already; versions are immutable, publish a new version")]
    VersionExists { capsule: String, version: String },
    #[error("capsule `{0}` not found")]
    CapsuleNotFound(String),
    #[error("{capsule} has no version {version}")]
    VersionNotFound { capsule: String, version: String },
    #[error("`{0}` is not a semver version requirement")]
    InvalidRequirement(String),
    #[error("no published, non-yanked version of {capsule} matches `{requirement}`")]
    NoMatchingVersion { capsule: String, requirement: String },
    #[error("{capsule} {version} was revoked: {reason}")]
    Revoked { capsule: String, version: String, reason: String },
    #[error("{0}")]
    InvalidChange(String),
    #[error("{0}")]
    InvalidSearch(String),
    #[error("the search failed")]
    Search(#[from] tantivy::TantivyError),
    #[error("{0} has no SBOM")]
    NoSbom(String),
    #[error("the range `{range}` lies outside the {size}-byte bundle")]
    RangeNotSatisfiable { range: String, size: i64 },
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for RegistryError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
    }
}

impl Problematic for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Auth(error) => error.kind(),
            Self::Capsule(error) => error.kind(),
            Self::Signing(error) => error.kind(),
            Self::Sbom(error) => error.kind(),
            Self::Policy(error) => error.kind(),
            Self::InvalidUpload(_) | Self::InvalidRequirement(_) | Self::InvalidSearch(_) => {
                ErrorKind::BadRequest
            }
            Self::Search(_) => ErrorKind::Internal,
            Self::SbomTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::NoPublisherKeys
            | Self::SignatureMismatch { .. }
            | Self::RetiredKey { .. }
            | Self::ForeignNamespace { .. }
            | Self::InvalidChange(_) => ErrorKind::Unprocessable,
            Self::OutsidePatterns(_) | Self::NotOwner(_) => ErrorKind::Forbidden,
            Self::VersionExists { .. } => ErrorKind::Conflict,
            Self::CapsuleNotFound(_)
            | Self::VersionNotFound { .. }
            | Self::NoMatchingVersion { .. }
            | Self::NoSbom(_) => ErrorKind::NotFound,
            Self::Revoked { .. } => ErrorKind::Gone,
            Self::RangeNotSatisfiable { .. } => ErrorKind::RangeNotSatisfiable,
            Self::Blob(_) => ErrorKind::Internal,
            Self::Database(error) => error.kind(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.slug(),
            Self::Capsule(error) => error.slug(),
            Self::Signing(SigningError::Mismatch) => "signature-mismatch",
            Self::Signing(error) => error.slug(),
            Self::Sbom(error) => error.slug(),
            Self::Policy(error) => error.slug(),
            Self::InvalidUpload(_) => "invalid-upload",
            Self::SbomTooLarge { .. } => "sbom-too-large",
            Self::NoPublisherKeys => "no-publisher-keys",
            Self::SignatureMismatch { .. } => "signature-mismatch",
            Self::RetiredKey { .. } => "publisher-key-retired",
            Self::ForeignNamespace { .. } => "signed-for-another-namespace",
            Self::OutsidePatterns(_) => "outside-capsule-patterns",
            Self::NotOwner(_) => "not-capsule-owner",
            Self::VersionExists { .. } => "version-exists",
            Self::CapsuleNotFound(_) => "capsule-not-found",
            Self::VersionNotFound { .. } => "version-not-found",
            Self::InvalidRequirement(_) => "invalid-version-requirement",
            Self::InvalidSearch(_) => "invalid-search",
            Self::Search(_) => "internal",
            Self::NoMatchingVersion { .. } => "no-matching-version",
            Self::Revoked { .. } => "version-revoked",
            Self::InvalidChange(_) => "invalid-change",
            Self::NoSbom(_) => "sbom-not-found",
            Self::RangeNotSatisfiable { .. } => "range-not-satisfiable",
            Self::Blob(_) => "internal",
            Self::Database(error) => error.slug(),
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.title(),
            Self::Capsule(error) => error.title(),
            Self::Signing(error) => error.title(),
            Self::Sbom(error) => error.title(),
            Self::Policy(error) => error.title(),
            Self::InvalidUpload(_) => "Invalid upload",
            Self::SbomTooLarge { .. } => "SBOM too large",
            Self::NoPublisherKeys => "No publisher keys",
            Self::SignatureMismatch { .. } => "Signature does not verify",
            Self::RetiredKey { .. } => "Publisher key retired",
            Self::ForeignNamespace { .. } => "Signed for another namespace",
            Self::OutsidePatterns(_) => "Outside capsule patterns",
            Self::NotOwner(_) => "Not the capsule's owner",
            Self::VersionExists { .. } => "Version exists",
            Self::CapsuleNotFound(_) => "Capsule not found",
            Self::VersionNotFound { .. } => "Version not found",
            Self::InvalidRequirement(_) => "Invalid version requirement",
            Self::InvalidSearch(_) => "Invalid search",
            Self::Search(_) => "Internal error",
            Self::NoMatchingVersion { .. } => "No matching version",
            Self::Revoked { .. } => "Version revoked",
            Self::InvalidChange(_) => "Invalid change",
            Self::NoSbom(_) => "SBOM not found",
            Self::RangeNotSatisfiable { .. } => "Range not satisfiable",
            Self::Blob(_) => "Internal error",
            Self::Database(error) => error.title(),
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        match self {
            Self::Auth(error) => error.extensions(),
            Self::Revoked { reason, .. } => {
                Map::from_iter([("reason".to_owned(), Value::from(reason.clone()))])
            }
            _ => Map::new(),
        }
    }
}
