//! Why a bundle or manifest is refused; each reason has its own problem type.

use caravan_core::{ErrorKind, Problematic};

#[derive(Debug, thiserror::Error)]
pub enum CapsuleError {
    #[error("the bundle is {size} bytes; the limit is {limit}")]
    BundleTooLarge { size: u64, limit: u64 },
    #[error("the bundle unpacks to more than {limit} bytes")]
    DecompressionBomb { limit: u64 },
    #[error("the bundle holds more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("entry `{0}` has an unsafe path: bundles hold relative paths without `..`")]
    UnsafePath(String),
    #[error("entry `{0}` is a link; bundles hold regular files and directories only")]
    Link(String),
    #[error("entry `{0}` is a device, fifo or other special file")]
    SpecialFile(String),
    #[error("entry `{0}` appears more than once")]
    DuplicateEntry(String),
    #[error("the bundle is not a complete gzip-compressed tar: {0}")]
    Corrupt(String),
    #[error("the bundle has no `{0}`")]
    MissingFile(String),
    #[error("`{0}` is not UTF-8 text")]
    NotText(String),
    #[error("invalid capsule.toml: {0}")]
    InvalidManifest(String),
}

impl Problematic for CapsuleError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BundleTooLarge { .. } => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::Unprocessable,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::BundleTooLarge { .. } => "bundle-too-large",
            Self::DecompressionBomb { .. } => "decompression-bomb",
            Self::TooManyEntries { .. } => "too-many-entries",
            Self::UnsafePath(_) => "unsafe-path",
            Self::Link(_) => "link-in-bundle",
            Self::SpecialFile(_) => "special-file-in-bundle",
            Self::DuplicateEntry(_) => "duplicate-entry",
            Self::Corrupt(_) => "corrupt-bundle",
            Self::MissingFile(_) => "missing-file",
            Self::NotText(_) => "not-text",
            Self::InvalidManifest(_) => "invalid-manifest",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::BundleTooLarge { .. } => "Bundle too large",
            Self::DecompressionBomb { .. } => "Decompression bomb",
            Self::TooManyEntries { .. } => "Too many entries",
            Self::UnsafePath(_) => "Unsafe path in bundle",
            Self::Link(_) => "Link in bundle",
            Self::SpecialFile(_) => "Special file in bundle",
            Self::DuplicateEntry(_) => "Duplicate entry",
            Self::Corrupt(_) => "Corrupt bundle",
            Self::MissingFile(_) => "Missing file",
            Self::NotText(_) => "Not text",
            Self::InvalidManifest(_) => "Invalid manifest",
        }
    }
}
