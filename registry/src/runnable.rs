//! What a run reads of the registry, kept in memory: every version of a capsule as a run
//! sees it ([`RunnableVersion`]), by capsule name, and publishers' public keys by key id.
//! Runs are the gateway's hot path, and with these cached a run is admitted without a
//! database read.
//!
//! A capsule's versions are kept for [`VERSIONS_TTL`]. Publishes and lifecycle changes
//! made through this process evict the capsule at once ([`RunCache::evict`]); those made
//! by another replica reach this one within the TTL, as revoked API keys do. Public keys
//! never change under their id and are kept until the cache is full.

use crate::db::capsules::RunnableVersion;
use crate::db::{capsules, signers};
use crate::error::RegistryError;
use caravan_core::db::DbConnection;
use caravan_core::id::PublisherKeyId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a capsule's versions are trusted without reading them again.
pub const VERSIONS_TTL: Duration = Duration::from_secs(1);
/// The most capsules (and, separately, public keys) kept; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

/// Versions by capsule and public keys by id, shared by the registry's routes (which
/// evict) and the executions' admission (which reads).
#[derive(Debug, Clone, Default)]
pub struct RunCache {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    versions: RwLock<HashMap<String, Cached>>,
    public_keys: RwLock<HashMap<PublisherKeyId, Arc<str>>>,
    /// Bumped by every eviction, under the versions' write lock: a read that started
    /// before an eviction must not put what it read (perhaps from before the change) back.
    generation: AtomicU64,
}

#[derive(Debug, Clone)]
struct Cached {
    versions: Arc<[RunnableVersion]>,
    loaded_at: Instant,
}

impl RunCache {
    /// The capsule's versions if they were read less than [`VERSIONS_TTL`] ago.
    pub fn versions(&self, capsule: &str) -> Option<Arc<[RunnableVersion]>> {
        let cached = self.inner.versions.read().ok()?;
        let entry = cached.get(capsule)?;
        (entry.loaded_at.elapsed() < VERSIONS_TTL).then(|| Arc::clone(&entry.versions))
    }

    /// Reads the capsule's versions and keeps them; `CapsuleNotFound` when there is no
    /// such capsule. A capsule without versions is not kept.
    pub fn load_versions(
        &self,
        connection: &mut DbConnection,
        capsule: &str,
    ) -> Result<Arc<[RunnableVersion]>, RegistryError> {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let versions: Arc<[RunnableVersion]> = capsules::runnable_versions(connection, capsule)?.into();
        if versions.is_empty() {
            return match capsules::find(connection, capsule)? {
                Some(_) => Ok(versions),
                None => Err(RegistryError::CapsuleNotFound(capsule.to_owned())),
            };
        }
        if let Ok(mut cached) = self.inner.versions.write()
            && self.inner.generation.load(Ordering::Acquire) == generation
        {
            if cached.len() >= MAX_CACHED {
                cached.clear();
            }
            let entry = Cached { versions: Arc::clone(&versions), loaded_at: Instant::now() };
            cached.insert(capsule.to_owned(), entry);
        }
        Ok(versions)
    }

    /// Forgets the capsule's versions: one of them was published or changed.
    pub fn evict(&self, capsule: &str) {
        if let Ok(mut cached) = self.inner.versions.write() {
            cached.remove(capsule);
            self.inner.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The public key with this id, if it was read before.
    pub fn public_key(&self, id: &PublisherKeyId) -> Option<Arc<str>> {
        self.inner.public_keys.read().ok()?.get(id).cloned()
    }

    /// Reads the public key with this id and keeps it.
    pub fn load_public_key(
        &self,
        connection: &mut DbConnection,
        id: &PublisherKeyId,
    ) -> Result<Arc<str>, RegistryError> {
        let key: Arc<str> = signers::public_key(connection, id)?.into();
        if let Ok(mut keys) = self.inner.public_keys.write() {
            if keys.len() >= MAX_CACHED {
                keys.clear();
            }
            keys.insert(id.clone(), Arc::clone(&key));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_core::id::CapsuleVersionId;

    fn version(number: &str) -> RunnableVersion {
        RunnableVersion {
            id: CapsuleVersionId::new(),
            version: number.to_owned(),
            tier: "fast".to_owned(),
            digest: format!("sha256:{number}"),
            signature: String::new(),
            signer_key_id: PublisherKeyId::new(),
            yanked_at: None,
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn cache_with(capsule: &str, versions: Vec<RunnableVersion>) -> RunCache {
        let cache = RunCache::default();
        let entry = Cached { versions: versions.into(), loaded_at: Instant::now() };
        cache.inner.versions.write().map(|mut cached| cached.insert(capsule.to_owned(), entry)).ok();
        cache
    }

    #[test]
    fn an_evicted_capsule_is_read_again() {
        let cache = cache_with("acme/echo", vec![version("1.0.0")]);
        assert_eq!(cache.versions("acme/echo").map(|versions| versions.len()), Some(1));

        cache.evict("acme/echo");

        assert!(cache.versions("acme/echo").is_none());
    }

    #[test]
    fn versions_older_than_the_ttl_are_read_again() {
        let cache = cache_with("acme/echo", vec![version("1.0.0")]);
        if let Ok(mut cached) = cache.inner.versions.write()
            && let Some(entry) = cached.get_mut("acme/echo")
        {
            entry.loaded_at = Instant::now().checked_sub(VERSIONS_TTL).unwrap_or_else(Instant::now);
        }

        assert!(cache.versions("acme/echo").is_none());
    }
}
