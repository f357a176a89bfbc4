//! The capsule format. A capsule file is a gzip-compressed tar holding `capsule.toml`,
//! `README.md` and the payload. [`Capsule::from_bundle`] unpacks one safely and parses its
//! manifest; [`pack_directory`] makes one, reproducibly, from a directory.

mod error;
mod manifest;
mod pack;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod unpack;

pub use error::CapsuleError;
pub use manifest::{CapsuleName, Category, Manifest, Pricing, Runtime, Tier, Tool};
pub use pack::{PackError, pack_directory};
pub use unpack::{BundleLimits, UnpackedBundle, unpack};

use sha2::{Digest, Sha256};

/// The manifest's file name at the bundle's root.
pub const MANIFEST_FILE: &str = "capsule.toml";
/// The README's file name at the bundle's root.
pub const README_FILE: &str = "README.md";

/// A bundle that unpacked safely and holds a valid manifest, a README and its entrypoint.
#[derive(Debug)]
pub struct Capsule {
    pub manifest: Manifest,
    pub readme: String,
    /// `sha256:<hex>` of the exact bundle bytes.
    pub digest: String,
    pub size: u64,
    pub files: UnpackedBundle,
}

impl Capsule {
    pub fn from_bundle(bytes: &[u8], limits: &BundleLimits) -> Result<Self, CapsuleError> {
        let files = unpack(bytes, limits)?;
        let manifest_text = files.text(MANIFEST_FILE)?;
        let manifest = Manifest::parse(manifest_text)?;
        let readme = files.text(README_FILE)?.to_owned();
        if !files.contains(manifest.runtime.entrypoint()) {
            return Err(CapsuleError::MissingFile(manifest.runtime.entrypoint().to_owned()));
        }
        Ok(Self { manifest, readme, digest: digest_of(bytes), size: bytes.len() as u64, files })
    }
}

/// `sha256:<hex>`, the content address of a bundle.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
