//! What the API returns: views built from database rows, never the rows themselves.

use crate::db::keys::ApiKey;
use crate::db::tenants::Tenant;
use crate::domain::{Environment, TenantKind, TenantStatus};
use caravan_core::audit::AuditEvent;
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::{Scope, ScopeSet};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    time.and_utc()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    pub name: String,
    pub kind: TenantKind,
    /// Plan id from the plan catalog.
    #[schema(example = "pro")]
    pub plan: String,
    pub status: TenantStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantView {
    fn from(tenant: Tenant) -> Self {
        Self {
            id: tenant.id,
            name: tenant.name,
            kind: TenantKind::from_stored(&tenant.kind),
            plan: tenant.plan,
            status: TenantStatus::from_stored(&tenant.status),
            created_at: utc(tenant.created_at),
            updated_at: utc(tenant.updated_at),
        }
    }
}

/// Whether a key works right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// An API key without its secret, which is never shown again after creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub environment: Environment,
    /// The start of the current secret, to recognise the key: `cvn_live_AbCd1234`.
    #[schema(example = "cvn_live_AbCd1234")]
    pub prefix: String,
    pub scopes: Vec<Scope>,
    /// Capsule-name patterns the publish scopes are limited to; empty means any.
    pub capsule_patterns: Vec<String>,
    pub status: KeyStatus,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyView {
    pub fn new(key: ApiKey, prefix: String) -> Self {
        let now = Utc::now().naive_utc();
        let status = if key.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if key.expires_at.is_some_and(|expiry| expiry <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        };
        Self {
            id: key.id,
            tenant_id: key.tenant_id,
            name: key.name,
            environment: Environment::parse(&key.environment).unwrap_or_default(),
            prefix,
            scopes: ScopeSet::from_stored(&key.scopes).to_vec(),
            capsule_patterns: key.capsule_patterns.split_whitespace().map(str::to_owned).collect(),
            status,
            created_at: utc(key.created_at),
            last_used_at: key.last_used_at.map(utc),
            expires_at: key.expires_at.map(utc),
            revoked_at: key.revoked_at.map(utc),
        }
    }
}

/// A key with its secret: returned once, by create and rotate.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: KeyView,
    /// The secret. Store it now: Caravan keeps only its hash.
    #[schema(example = "cvn_live_AbCd1234efGh5678ijKl9012mnOp3456qrSt7890uvW")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPage {
    pub data: Vec<TenantView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyPage {
    pub data: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// The caller, as the gateway authenticated it. Borrows from the principal: this is the
/// cheapest authenticated answer and the gateway's benchmark endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Whoami<'a> {
    pub tenant_id: &'a TenantId,
    pub key_id: &'a ApiKeyId,
    #[schema(value_type = Vec<Scope>)]
    pub scopes: ScopeSet,
    pub capsule_patterns: &'a [String],
    #[schema(example = "free")]
    pub plan: &'a str,
    /// True for the operator tenant's keys.
    pub operator: bool,
}

/// A public key that signs a namespace's capsules.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublisherKeyView {
    pub id: caravan_core::id::PublisherKeyId,
    pub namespace: String,
    pub name: String,
    /// `sha256:` of the key's DER encoding.
    pub fingerprint: String,
    pub public_key_pem: String,
    /// `active` keys sign new versions; `retired` ones no longer do.
    #[schema(example = "active")]
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<crate::db::publisher_keys::PublisherKey> for PublisherKeyView {
    fn from(key: crate::db::publisher_keys::PublisherKey) -> Self {
        Self {
            id: key.id,
            namespace: key.namespace,
            name: key.name,
            fingerprint: key.fingerprint,
            public_key_pem: key.public_key_pem,
            status: if key.retired_at.is_some() { "retired" } else { "active" },
            created_at: utc(key.created_at),
            retired_at: key.retired_at.map(utc),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublisherKeyList {
    pub data: Vec<PublisherKeyView>,
}
