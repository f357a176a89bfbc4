//! Who is calling: the [`Principal`] the authentication middleware puts on every `/v1`
//! request (an API key) or the portal makes for a signed-in member, its [`Scope`]s, and
//! the refusals (401, 403) that follow from them.

use crate::error::{ApiError, ErrorKind, Problematic};
use crate::id::{ApiKeyId, MemberId, TenantId};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::future::{Ready, ready};
use std::sync::{Arc, OnceLock};
use utoipa::ToSchema;

/// What a key may do. `admin` on the operator tenant reaches every tenant; on any other
/// tenant it administers that tenant only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "registry:read")]
    RegistryRead,
    #[serde(rename = "registry:publish")]
    RegistryPublish,
    #[serde(rename = "registry:yank")]
    RegistryYank,
    #[serde(rename = "executions:run")]
    ExecutionsRun,
    #[serde(rename = "executions:read")]
    ExecutionsRead,
    #[serde(rename = "usage:write")]
    UsageWrite,
    #[serde(rename = "usage:read")]
    UsageRead,
    #[serde(rename = "billing:read")]
    BillingRead,
    #[serde(rename = "keys:manage")]
    KeysManage,
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::RegistryRead,
        Scope::RegistryPublish,
        Scope::RegistryYank,
        Scope::ExecutionsRun,
        Scope::ExecutionsRead,
        Scope::UsageWrite,
        Scope::UsageRead,
        Scope::BillingRead,
        Scope::KeysManage,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RegistryRead => "registry:read",
            Scope::RegistryPublish => "registry:publish",
            Scope::RegistryYank => "registry:yank",
            Scope::ExecutionsRun => "executions:run",
            Scope::ExecutionsRead => "executions:read",
            Scope::UsageWrite => "usage:write",
            Scope::UsageRead => "usage:read",
            Scope::BillingRead => "billing:read",
            Scope::KeysManage => "keys:manage",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == text)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes, stored as space-separated names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScopeSet(u16);

impl ScopeSet {
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// True when every scope of `other` is also in `self`.
    pub fn covers(self, other: ScopeSet) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |scope| self.contains(*scope))
    }

    pub fn to_vec(self) -> Vec<Scope> {
        self.iter().collect()
    }

    /// The storage form: names separated by single spaces, in canonical order.
    pub fn to_stored(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Reads the storage form; unknown names (from a newer version) are ignored.
    pub fn from_stored(stored: &str) -> ScopeSet {
        stored.split_whitespace().filter_map(Scope::parse).collect()
    }
}

/// Serializes as the list of scope names, without collecting them first.
impl Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        ScopeSet(scopes.into_iter().fold(0, |bits, scope| bits | scope.bit()))
    }
}

/// The authenticated caller: of a `/v1` request (a key), or of a portal page (a member). A
/// cheap, shared handle to its [`PrincipalDetails`], cloned into every request's extensions.
#[derive(Debug, Clone)]
pub struct Principal(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    details: PrincipalDetails,
    /// The ULIDs of the actor (key or member) and tenant ids, decoded once for the rate
    /// limiters.
    actor_ulid: u128,
    tenant_ulid: u128,
    /// The caller's description of itself (`GET /v1/whoami`), serialized once.
    description: OnceLock<Bytes>,
}

impl Principal {
    pub fn new(details: PrincipalDetails) -> Self {
        let actor_ulid = match &details.actor {
            Actor::Key(key) => key.ulid().0,
            Actor::Member(member) => member.ulid().0,
        };
        let tenant_ulid = details.tenant_id.ulid().0;
        Self(Arc::new(Shared { details, actor_ulid, tenant_ulid, description: OnceLock::new() }))
    }

    /// `(key, tenant)` as 128-bit numbers: compact, allocation-free limiter keys.
    pub fn limiter_keys(&self) -> (u128, u128) {
        (self.0.actor_ulid, self.0.tenant_ulid)
    }

    /// The caller's description of itself, serialized by `serialize` on first use and kept:
    /// a principal never changes, and one is shared by every request of its key until the
    /// authentication cache loads the key anew.
    pub fn description(&self, serialize: impl FnOnce(&PrincipalDetails) -> Bytes) -> Bytes {
        self.0.description.get_or_init(|| serialize(&self.0.details)).clone()
    }
}

impl std::ops::Deref for Principal {
    type Target = PrincipalDetails;
    fn deref(&self) -> &PrincipalDetails {
        &self.0.details
    }
}

/// What is known about the caller.
#[derive(Debug, Clone)]
pub struct PrincipalDetails {
    pub tenant_id: TenantId,
    /// Who acts: an API key, or a member signed in to the portal.
    pub actor: Actor,
    pub scopes: ScopeSet,
    /// Capsule-name patterns (`acme/*`) that restrict the publish scopes; empty means any.
    pub capsule_patterns: Vec<String>,
    /// The tenant's plan, which sets its rate limits and quotas.
    pub plan: String,
    /// True when the actor belongs to the operator tenant.
    pub operator: bool,
    /// When the actor's key stops working, if ever; keys it creates must not outlive it.
    pub expires_at: Option<chrono::NaiveDateTime>,
    /// A `cvn_test_` key, which may not create live keys.
    pub test_environment: bool,
}

/// Who acts for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Key(ApiKeyId),
    Member(MemberId),
}

impl PrincipalDetails {
    /// The acting key or member, as the audit log records it.
    pub fn actor_id(&self) -> &str {
        match &self.actor {
            Actor::Key(key) => key.as_str(),
            Actor::Member(member) => member.as_str(),
        }
    }

    /// The acting key, when a key acts.
    pub fn key_id(&self) -> Option<&ApiKeyId> {
        match &self.actor {
            Actor::Key(key) => Some(key),
            Actor::Member(_) => None,
        }
    }

    /// The acting key, for what only an API key may do (usage it reports, runs it starts,
    /// versions it publishes are attributed to a key).
    pub fn require_key(&self) -> Result<&ApiKeyId, AuthError> {
        self.key_id().ok_or(AuthError::KeyRequired)
    }

    /// Refuses with 403 naming the scope when the key lacks it.
    pub fn require(&self, scope: Scope) -> Result<(), AuthError> {
        if self.scopes.contains(scope) { Ok(()) } else { Err(AuthError::MissingScope(scope)) }
    }

    /// Holds `admin` on the operator tenant: may act on every tenant.
    pub fn is_operator_admin(&self) -> bool {
        self.operator && self.scopes.contains(Scope::Admin)
    }

    /// Refuses unless the caller is the operator's admin.
    pub fn require_operator(&self) -> Result<(), AuthError> {
        self.require(Scope::Admin)?;
        if self.operator { Ok(()) } else { Err(AuthError::OperatorOnly) }
    }

    /// Do this key's capsule patterns cover `capsule` (`publisher/name`)? A pattern is an
    /// exact name or `publisher/*`; a key without patterns covers every capsule.
    pub fn covers_capsule(&self, capsule: &str) -> bool {
        self.capsule_patterns.is_empty()
            || self.capsule_patterns.iter().any(|pattern| match pattern.strip_suffix("/*") {
                Some(namespace) => capsule.strip_prefix(namespace).is_some_and(|rest| rest.starts_with('/')),
                None => pattern == capsule,
            })
    }

    /// May this caller see objects of `tenant`? Others' objects are reported as absent.
    pub fn can_access_tenant(&self, tenant: &TenantId) -> bool {
        &self.tenant_id == tenant || self.is_operator_admin()
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().cloned().ok_or_else(|| AuthError::MissingKey.into()))
    }
}

/// Why a request is not allowed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("this endpoint needs an API key: send `Authorization: Bearer cvn_…` or `X-API-Key: cvn_…`")]
    MissingKey,
    #[error("the API key is malformed: keys look like cvn_live_… or cvn_test_…")]
    MalformedKey,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error("the API key expired")]
    ExpiredKey,
    #[error("the API key was revoked")]
    RevokedKey,
    #[error("the tenant of this API key is suspended")]
    TenantSuspended,
    #[error("this action needs the `{}` scope", .0.as_str())]
    MissingScope(Scope),
    #[error("this action is reserved to the operator")]
    OperatorOnly,
    #[error("this action is done with an API key, not from the portal")]
    KeyRequired,
}

impl Problematic for AuthError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::MissingKey
            | Self::MalformedKey
            | Self::InvalidKey
            | Self::ExpiredKey
            | Self::RevokedKey => ErrorKind::Unauthorized,
            Self::TenantSuspended | Self::MissingScope(_) | Self::OperatorOnly | Self::KeyRequired => {
                ErrorKind::Forbidden
            }
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::MissingKey => "missing-api-key",
            Self::MalformedKey => "malformed-api-key",
            Self::InvalidKey => "invalid-api-key",
            Self::ExpiredKey => "expired-api-key",
            Self::RevokedKey => "revoked-api-key",
            Self::TenantSuspended => "tenant-suspended",
            Self::MissingScope(_) => "missing-scope",
            Self::OperatorOnly => "operator-only",
            Self::KeyRequired => "api-key-required",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::MissingKey => "API key required",
            Self::MalformedKey => "Malformed API key",
            Self::InvalidKey => "Invalid API key",
            Self::ExpiredKey => "Expired API key",
            Self::RevokedKey => "Revoked API key",
            Self::TenantSuspended => "Tenant suspended",
            Self::MissingScope(_) => "Missing scope",
            Self::OperatorOnly => "Operator only",
            Self::KeyRequired => "API key required",
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        match self {
            Self::MissingScope(scope) => {
                Map::from_iter([("required-scope".to_owned(), Value::from(scope.as_str()))])
            }
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_sets_round_trip_through_storage() {
        let scopes: ScopeSet = [Scope::KeysManage, Scope::RegistryRead].into_iter().collect();
        assert_eq!(scopes.to_stored(), "registry:read keys:manage");
        assert_eq!(ScopeSet::from_stored("keys:manage registry:read unknown:scope"), scopes);
    }

    #[test]
    fn covers_means_no_scope_outside() {
        let broad: ScopeSet =
            [Scope::KeysManage, Scope::RegistryRead, Scope::UsageRead].into_iter().collect();
        let narrow: ScopeSet = [Scope::RegistryRead].into_iter().collect();
        assert!(broad.covers(narrow));
        assert!(!narrow.covers(broad));
        assert!(broad.covers(ScopeSet::default()));
    }
}
