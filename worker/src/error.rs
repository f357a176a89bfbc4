//! What a worker refuses, as problem+json for the gateway (and anyone else calling it).

use caravan_core::{ErrorKind, Problematic};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("this worker needs `Authorization: Bearer <worker token>`")]
    Unauthorized,
    #[error("the worker runs {0} capsules already; try another worker or later")]
    Busy(usize),
    #[error("the run request is invalid: {0}")]
    InvalidRequest(String),
    #[error("the bundle could not be downloaded: {0}")]
    Download(String),
    #[error("the downloaded bundle is {found}, not {expected}")]
    DigestMismatch { expected: String, found: String },
    #[error("the bundle's signature does not verify: {0}")]
    Signature(String),
    #[error("the bundle cannot be unpacked: {0}")]
    Bundle(String),
    #[error("the bundle could not be stored: {0}")]
    Storage(#[from] std::io::Error),
    #[error("no run {0} here")]
    RunNotFound(String),
}

impl Problematic for WorkerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unauthorized => ErrorKind::Unauthorized,
            Self::Busy(_) | Self::Download(_) => ErrorKind::Unavailable,
            Self::InvalidRequest(_) => ErrorKind::BadRequest,
            Self::DigestMismatch { .. } | Self::Signature(_) | Self::Bundle(_) => ErrorKind::Unprocessable,
            Self::Storage(_) => ErrorKind::Internal,
            Self::RunNotFound(_) => ErrorKind::NotFound,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Unauthorized => "worker-unauthorized",
            Self::Busy(_) => "worker-busy",
            Self::InvalidRequest(_) => "invalid-run",
            Self::Download(_) => "bundle-unavailable",
            Self::DigestMismatch { .. } => "bundle-digest-mismatch",
            Self::Signature(_) => "bundle-signature-mismatch",
            Self::Bundle(_) => "bundle-invalid",
            Self::Storage(_) => "internal",
            Self::RunNotFound(_) => "run-not-found",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Unauthorized => "Worker token required",
            Self::Busy(_) => "Worker busy",
            Self::InvalidRequest(_) => "Invalid run",
            Self::Download(_) => "Bundle unavailable",
            Self::DigestMismatch { .. } => "Bundle digest mismatch",
            Self::Signature(_) => "Bundle signature mismatch",
            Self::Bundle(_) => "Invalid bundle",
            Self::Storage(_) => "Internal error",
            Self::RunNotFound(_) => "Run not found",
        }
    }
}
