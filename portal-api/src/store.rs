//! Authentication of API keys: a presented secret becomes a [`Principal`], or a refusal.
//!
//! Lookups go to the database once and are cached in memory by the secret's SHA-256 for
//! `ttl`. Every request re-checks expiry, rotation grace and revocation against the
//! cached facts, so a key stops working on time even on a warm cache. Changes made
//! through this process (revoke, rotate, suspend, plan change) evict the cached entries
//! at once; changes made by another replica reach this one within `ttl`.
//! `last_used_at` is written in batches by [`KeyStore::flush_last_used`], not per request.

use crate::db::keys::{self, ApiKey, SecretRecord};
use crate::domain::{Environment, PresentedKey, SecretHash, TenantKind, TenantStatus};
use crate::error::PortalError;
use crate::service::RequestContext;
use crate::service::keys::{self as key_service, IssuedKey};
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::random_keys::RandomKeys;
use caravan_core::{Actor, AuthError, Database, Principal, PrincipalDetails, ScopeSet};
use chrono::{NaiveDateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Above this many cached secrets, stale entries are dropped before adding another.
const MAX_CACHED: usize = 100_000;
/// Unknown secrets are remembered this long, so a flood of made-up keys costs one
/// database query per distinct key per interval, not one per request.
const REJECTED_TTL: Duration = Duration::from_secs(5);
/// At most this many unknown secrets are remembered.
const MAX_REJECTED: usize = 100_000;
/// `last_used_at` is precise to this many seconds.
const LAST_USED_GRANULARITY_S: i64 = 60;

#[derive(Debug)]
pub struct KeyStore {
    database: Database,
    ttl: Duration,
    /// Keyed by SHA-256 digests, which need no further hashing.
    cache: RwLock<HashMap<SecretHash, CachedSecret, RandomKeys>>,
    /// Digests of well-formed secrets that match no key, with when they were looked up.
    rejected: RwLock<HashMap<SecretHash, Instant, RandomKeys>>,
    /// Bumped by every eviction, under the cache's write lock. A lookup that started
    /// before an eviction must not put its (possibly stale) answer into the cache.
    generation: AtomicU64,
    pending_last_used: Mutex<HashMap<ApiKeyId, NaiveDateTime>>,
}

#[derive(Debug)]
struct CachedSecret {
    principal: Principal,
    key_expires_at: Option<NaiveDateTime>,
    secret_valid_until: Option<NaiveDateTime>,
    revoked: bool,
    suspended: bool,
    loaded_at: Instant,
    /// Unix seconds when a use was last noted for `last_used_at`.
    last_use_noted: AtomicI64,
}

impl KeyStore {
    pub fn new(database: Database, ttl: Duration) -> Self {
        Self {
            database,
            ttl,
            cache: RwLock::default(),
            rejected: RwLock::default(),
            generation: AtomicU64::new(0),
            pending_last_used: Mutex::default(),
        }
    }

    /// The answer from memory alone, when it has one: a malformed key, or a key whose
    /// secret is cached. `None` means the database must be asked ([`Self::authenticate`]).
    /// Allocation-free, for the hot path of every request.
    pub fn authenticate_cached(&self, presented: &str) -> Option<Result<Principal, PortalError>> {
        let presented = match PresentedKey::parse(presented) {
            Ok(presented) => presented,
            Err(refusal) => return Some(Err(refusal.into())),
        };
        self.check_cached(&presented.hash(), Utc::now().naive_utc())
            .map(|outcome| outcome.map_err(PortalError::from))
    }

    /// The principal of a presented key, or why it is refused. Database failures are
    /// errors of their own (503/500), never a 401.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, PortalError> {
        let presented = PresentedKey::parse(presented)?;
        let hash = presented.hash();
        let now = Utc::now().naive_utc();
        if let Some(outcome) = self.check_cached(&hash, now) {
            return Ok(outcome?);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let prefix = presented.prefix();
        let candidates = self
            .database
            .run(move |connection| keys::secrets_with_prefix(connection, &prefix).map_err(PortalError::from))
            .await?;
        let record = candidates.into_iter().find(|record| hash.matches_stored(&record.secret_hash));
        let Some(record) = record else {
            self.remember_rejected(hash);
            return Err(AuthError::InvalidKey.into());
        };
        let cached = CachedSecret::from_record(record);
        let outcome = self.admit(&cached, now);
        self.remember(hash, cached, generation);
        Ok(outcome?)
    }

    fn check_cached(&self, hash: &SecretHash, now: NaiveDateTime) -> Option<Result<Principal, AuthError>> {
        let cache = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = cache.get(hash).filter(|cached| cached.loaded_at.elapsed() < self.ttl) {
            return Some(self.admit(cached, now));
        }
        drop(cache);
        let rejected = self.rejected.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let recent = rejected.get(hash).is_some_and(|at| at.elapsed() < REJECTED_TTL);
        recent.then_some(Err(AuthError::InvalidKey))
    }

    fn remember_rejected(&self, hash: SecretHash) {
        let mut rejected = self.rejected.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if rejected.len() >= MAX_REJECTED {
            rejected.retain(|_, at| at.elapsed() < REJECTED_TTL);
            if rejected.len() >= MAX_REJECTED {
                rejected.clear();
            }
        }
        rejected.insert(hash, Instant::now());
    }

    fn admit(&self, cached: &CachedSecret, now: NaiveDateTime) -> Result<Principal, AuthError> {
        if cached.revoked {
            return Err(AuthError::RevokedKey);
        }
        let expired = |deadline: Option<NaiveDateTime>| deadline.is_some_and(|deadline| deadline <= now);
        if expired(cached.key_expires_at) || expired(cached.secret_valid_until) {
            return Err(AuthError::ExpiredKey);
        }
        if cached.suspended {
            return Err(AuthError::TenantSuspended);
        }
        self.note_use(cached, now);
        Ok(cached.principal.clone())
    }

    fn note_use(&self, cached: &CachedSecret, now: NaiveDateTime) {
        let seconds = now.and_utc().timestamp();
        let noted = cached.last_use_noted.load(Ordering::Relaxed);
        if seconds - noted < LAST_USED_GRANULARITY_S {
            return;
        }
        if cached
            .last_use_noted
            .compare_exchange(noted, seconds, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let mut pending = self.pending_last_used.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(key) = cached.principal.key_id() {
                pending.insert(key.clone(), now);
            }
        }
    }

    /// Caches a lookup unless an eviction happened since it started (`generation`).
    fn remember(&self, hash: SecretHash, cached: CachedSecret, generation: u64) {
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, entry| entry.loaded_at.elapsed() < self.ttl);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(hash, cached);
    }

    /// Rotates `key` ([`key_service::rotate`]) and evicts its cached secrets.
    pub async fn rotate(
        self: Arc<Self>,
        principal: Principal,
        key: ApiKeyId,
        grace_period_s: u32,
        context: RequestContext,
    ) -> Result<IssuedKey, PortalError> {
        self.change_key(key, move |connection, key| {
            key_service::rotate(connection, &principal, key, grace_period_s, &context)
        })
        .await
    }

    /// Revokes `key` ([`key_service::revoke`]) and evicts its cached secrets: the next
    /// request with it is refused.
    pub async fn revoke(
        self: Arc<Self>,
        principal: Principal,
        key: ApiKeyId,
        context: RequestContext,
    ) -> Result<(ApiKey, String), PortalError> {
        self.change_key(key, move |connection, key| {
            key_service::revoke(connection, &principal, key, &context)
        })
        .await
    }

    /// Commits a change of `key` and evicts its cached secrets in the same blocking task,
    /// so a client that disconnects cannot leave the change committed and the cache stale.
    async fn change_key<T, F>(self: Arc<Self>, key: ApiKeyId, change: F) -> Result<T, PortalError>
    where
        F: FnOnce(&mut caravan_core::db::DbConnection, &ApiKeyId) -> Result<T, PortalError> + Send + 'static,
        T: Send + 'static,
    {
        let database = self.database.clone();
        database
            .run(move |connection| {
                let changed = change(connection, &key)?;
                self.forget_key(&key);
                Ok(changed)
            })
            .await
    }

    /// Evicts every cached secret of `key`: its next request is checked afresh.
    fn forget_key(&self, key: &ApiKeyId) {
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, cached| cached.principal.key_id() != Some(key));
    }

    /// Evicts every cached secret of `tenant` (after a suspension or plan change).
    pub fn forget_tenant(&self, tenant: &TenantId) {
        let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.retain(|_, cached| &cached.principal.tenant_id != tenant);
    }

    /// Writes the noted uses to `last_used_at`; returns how many keys were updated.
    pub async fn flush_last_used(&self) -> Result<usize, PortalError> {
        let pending = std::mem::take(
            &mut *self.pending_last_used.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if pending.is_empty() {
            return Ok(0);
        }
        self.database
            .run(move |connection| {
                let mut updated = 0;
                for (key, at) in &pending {
                    updated += keys::touch_last_used(connection, key, *at)?;
                }
                Ok::<_, PortalError>(updated)
            })
            .await
    }
}

impl CachedSecret {
    fn from_record(record: SecretRecord) -> Self {
        let key = record.key;
        let principal = Principal::new(PrincipalDetails {
            tenant_id: key.tenant_id,
            actor: Actor::Key(key.id),
            scopes: ScopeSet::from_stored(&key.scopes),
            capsule_patterns: key.capsule_patterns.split_whitespace().map(str::to_owned).collect(),
            plan: record.tenant_plan,
            operator: TenantKind::from_stored(&record.tenant_kind) == TenantKind::Operator,
            expires_at: key.expires_at,
            test_environment: Environment::parse(&key.environment) == Some(Environment::Test),
        });
        Self {
            principal,
            key_expires_at: key.expires_at,
            secret_valid_until: record.valid_until,
            revoked: key.revoked_at.is_some(),
            suspended: TenantStatus::from_stored(&record.tenant_status) == TenantStatus::Suspended,
            loaded_at: Instant::now(),
            last_use_noted: AtomicI64::new(0),
        }
    }
}
