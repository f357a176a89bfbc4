//! The first start on an empty database: creates the operator tenant, one admin key
//! holding every scope and a one-time portal link to set the operator's password. Later
//! starts find the operator and do nothing, so the key and the link are shown only once.

use crate::db::tenants::{self, TenantInsertForm};
use crate::domain::{ApiKeySecret, Environment, TenantKind, TenantStatus};
use crate::error::PortalError;
use crate::service::keys::{self, KeyDraft};
use caravan_core::audit::{self, AuditRecord};
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::plans::PlanCatalog;
use caravan_core::{Scope, ScopeSet};
use serde_json::json;

/// What the first start created.
#[derive(Debug)]
pub struct Bootstrapped {
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    /// The admin key's secret, to print once.
    pub secret: ApiKeySecret,
    /// True when the secret came from `CARAVAN_BOOTSTRAP_KEY`, so it need not be printed.
    pub chosen: bool,
    /// The token of the operator's first portal link, `/portal/invitations/<token>`.
    pub portal_token: String,
}

/// Creates the operator tenant and its admin key unless the operator exists already.
/// `chosen` is an operator-provided secret (`cvn_live_…`) to use instead of a fresh one.
pub fn bootstrap(
    connection: &mut DbConnection,
    plans: &PlanCatalog,
    chosen: Option<&str>,
) -> Result<Option<Bootstrapped>, PortalError> {
    let chosen_secret = chosen.map(ApiKeySecret::from_chosen).transpose()?;
    write_transaction(connection, |connection| {
        if tenants::find_operator(connection)?.is_some() {
            return Ok(None);
        }
        let now = caravan_core::db::now();
        let tenant_id = TenantId::new();
        tenants::insert(
            connection,
            &TenantInsertForm {
                id: &tenant_id,
                name: "Operator",
                kind: TenantKind::Operator.as_str(),
                plan: plans.most_generous(),
                status: TenantStatus::Active.as_str(),
                created_at: now,
                updated_at: now,
            },
        )?;
        let chosen = chosen_secret.is_some();
        let issued = keys::insert_key(
            connection,
            KeyDraft {
                tenant_id: &tenant_id,
                name: "bootstrap admin",
                scopes: Scope::ALL.into_iter().collect::<ScopeSet>(),
                environment: Environment::Live,
                expires_at: None,
                patterns: &[],
                created_by: None,
            },
            chosen_secret,
        )?;
        for (action, target, details) in [
            ("tenant.create", tenant_id.as_str(), json!({ "name": "Operator", "kind": "operator" })),
            (
                "key.create",
                issued.key.id.as_str(),
                json!({ "name": issued.key.name, "scopes": issued.key.scopes }),
            ),
        ] {
            audit::append(
                connection,
                AuditRecord {
                    tenant_id: Some(&tenant_id),
                    actor: "system",
                    action,
                    target,
                    details,
                    request_id: None,
                },
            )?;
        }
        let link = crate::service::members::operator_link(connection, &tenant_id, now)?;
        Ok(Some(Bootstrapped {
            tenant_id: tenant_id.clone(),
            key_id: issued.key.id,
            secret: issued.secret,
            chosen,
            portal_token: link.token,
        }))
    })
}
