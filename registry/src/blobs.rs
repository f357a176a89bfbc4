//! Content-addressed blob storage for bundles and SBOMs, on `object_store`: a local
//! directory by default (written with fsync, so a stored blob survives a crash).
//! A blob's key is its digest, `sha256/<first two hex>/<hex>`, so storing the same bytes
//! twice keeps one copy.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::chunked::ChunkedStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("`{0}` is not a sha256 digest")]
    InvalidDigest(String),
    #[error("blob {0} is missing from storage")]
    Missing(String),
    #[error("blob storage failed: {0}")]
    Storage(#[from] object_store::Error),
    #[error("cannot open blob storage at {path}: {reason}")]
    Open { path: String, reason: String },
}

/// Downloads read local files in chunks of this size; object_store's default (8 KiB)
/// holds a 5 MB download to about 100 MB/s.
const READ_CHUNK_BYTES: usize = 1 << 20;

/// Where bundles and SBOMs are kept.
#[derive(Debug, Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

/// Whether a put wrote the bytes or found them there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    AlreadyPresent,
}

impl BlobStore {
    /// A directory on local disk, created if needed.
    pub fn local(directory: &std::path::Path) -> Result<Self, BlobError> {
        let open_error = |reason: String| BlobError::Open { path: directory.display().to_string(), reason };
        std::fs::create_dir_all(directory).map_err(|error| open_error(error.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(directory)
            .map_err(|error| open_error(error.to_string()))?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        Ok(Self { store: Arc::new(ChunkedStore::new(Arc::new(store), READ_CHUNK_BYTES)) })
    }

    /// Stores `bytes` under `digest` (`sha256:<hex>`, which the caller computed from them).
    pub async fn put(&self, digest: &str, bytes: Bytes) -> Result<Stored, BlobError> {
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        match self.store.put_opts(&location(digest)?, PutPayload::from_bytes(bytes), options).await {
            Ok(_) => Ok(Stored::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(Stored::AlreadyPresent),
            Err(error) => Err(error.into()),
        }
    }

    /// Removes a blob; one already gone is not an error.
    pub async fn delete(&self, digest: &str) -> Result<(), BlobError> {
        match self.store.delete(&location(digest)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn exists(&self, digest: &str) -> Result<bool, BlobError> {
        match self.store.head(&location(digest)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The whole blob.
    pub async fn get(&self, digest: &str) -> Result<Bytes, BlobError> {
        self.store
            .get(&location(digest)?)
            .await
            .map_err(|error| missing(digest, error))?
            .bytes()
            .await
            .map_err(Into::into)
    }

    /// The whole blob as a stream of chunks, for large downloads.
    pub async fn stream(
        &self,
        digest: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        use futures_util::StreamExt;
        let result = self.store.get(&location(digest)?).await.map_err(|error| missing(digest, error))?;
        Ok(result.into_stream().map(|chunk| chunk.map_err(BlobError::from)).boxed())
    }

    /// Bytes `range` of the blob.
    pub async fn get_range(&self, digest: &str, range: Range<u64>) -> Result<Bytes, BlobError> {
        self.store.get_range(&location(digest)?, range).await.map_err(|error| missing(digest, error))
    }
}

fn missing(digest: &str, error: object_store::Error) -> BlobError {
    match error {
        object_store::Error::NotFound { .. } => BlobError::Missing(digest.to_owned()),
        other => other.into(),
    }
}

fn location(digest: &str) -> Result<Path, BlobError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64 && hex.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase())
        })
        .ok_or_else(|| BlobError::InvalidDigest(digest.to_owned()))?;
    Ok(Path::from(format!("sha256/{}/{hex}", &hex[..2])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capsule::digest_of;

    #[actix_web::test]
    async fn stores_once_by_digest_reads_ranges_and_deletes() -> anyhow::Result<()> {
        let directory = tempfile::tempdir()?;
        let blobs = BlobStore::local(directory.path())?;
        let bytes = Bytes::from_static(b"hello, capsule");
        let digest = digest_of(&bytes);
        assert_eq!(blobs.put(&digest, bytes.clone()).await?, Stored::Created);
        assert_eq!(blobs.put(&digest, bytes.clone()).await?, Stored::AlreadyPresent);
        assert_eq!(blobs.get(&digest).await?, bytes);
        assert_eq!(blobs.get_range(&digest, 7..14).await?, Bytes::from_static(b"capsule"));
        let hex = digest.trim_start_matches("sha256:");
        assert!(directory.path().join("sha256").join(&hex[..2]).join(hex).is_file());
        blobs.delete(&digest).await?;
        assert!(!blobs.exists(&digest).await?);
        assert!(matches!(blobs.get(&digest).await, Err(BlobError::Missing(_))));
        blobs.delete(&digest).await?;
        Ok(())
    }

    #[test]
    fn only_sha256_digests_name_blobs() {
        for bad in ["sha256:../../etc/passwd", "md5:abc", "sha256:ABCDEF", ""] {
            assert!(matches!(location(bad), Err(BlobError::InvalidDigest(_))), "{bad}");
        }
    }
}
