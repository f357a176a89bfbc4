//! Creating, listing, rotating and revoking API keys. Managing keys needs `keys:manage`;
//! a key never creates, rotates or revokes a key that holds scopes (or reaches capsules)
//! it does not, so no key can climb above its own rights.

use super::RequestContext;
use crate::db::keys::{self, ApiKey, ApiKeyInsertForm, SecretInsertForm};
use crate::db::tenants;
use crate::domain::{ApiKeySecret, Environment};
use crate::error::PortalError;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::{ApiKeyId, TenantId};
use caravan_core::{Principal, Scope, ScopeSet};
use chrono::{DateTime, Duration, NaiveDateTime, SubsecRound, Utc};
use serde_json::json;

/// The longest rotation grace: a week.
pub const MAX_GRACE_PERIOD_S: u32 = 7 * 24 * 3600;

#[derive(Debug)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub environment: Environment,
    pub expires_at: Option<DateTime<Utc>>,
    pub capsule_patterns: Vec<String>,
    /// Another tenant, for the operator's admin; the actor's own tenant otherwise.
    pub tenant_id: Option<TenantId>,
}

/// A key with the secret that was just made for it.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub prefix: String,
    pub secret: ApiKeySecret,
}

pub fn create(
    connection: &mut DbConnection,
    actor: &Principal,
    request: NewKey,
    context: &RequestContext,
) -> Result<IssuedKey, PortalError> {
    actor.require(Scope::KeysManage)?;
    let tenant_id = request.tenant_id.clone().unwrap_or_else(|| actor.tenant_id.clone());
    if !actor.can_access_tenant(&tenant_id) {
        return Err(PortalError::TenantNotFound(tenant_id.to_string()));
    }
    let name = key_name(&request.name)?;
    let scopes: ScopeSet = request.scopes.iter().copied().collect();
    if scopes == ScopeSet::default() {
        return Err(PortalError::InvalidKeyRequest("a key needs at least one scope".to_owned()));
    }
    refuse_escalation(actor, scopes)?;
    let patterns = capsule_patterns(&request.capsule_patterns, scopes)?;
    refuse_pattern_escalation(actor, scopes, &patterns)?;
    if actor.test_environment && request.environment == Environment::Live {
        return Err(PortalError::ScopeEscalation { missing: vec!["the live environment".to_owned()] });
    }
    let now = Utc::now().naive_utc();
    // Both backends store microseconds; compare and store at that precision.
    let expires_at = request.expires_at.map(|at| at.naive_utc().trunc_subsecs(6));
    if expires_at.is_some_and(|at| at <= now) {
        return Err(PortalError::InvalidKeyRequest("expires_at must be in the future".to_owned()));
    }
    if let Some(limit) = actor.expires_at
        && expires_at.is_none_or(|at| at > limit)
    {
        return Err(PortalError::InvalidKeyRequest(format!(
            "this key expires at {}; a key it creates must expire no later (set expires_at)",
            limit.and_utc()
        )));
    }

    write_transaction(connection, |connection| {
        if tenants::find(connection, &tenant_id)?.is_none() {
            return Err(PortalError::TenantNotFound(tenant_id.to_string()));
        }
        let issued = insert_key(
            connection,
            KeyDraft {
                tenant_id: &tenant_id,
                name,
                scopes,
                environment: request.environment,
                expires_at,
                patterns: &patterns,
                created_by: Some(actor.actor_id()),
            },
            None,
        )?;
        context.audit(
            connection,
            actor,
            &tenant_id,
            "key.create",
            issued.key.id.as_str(),
            json!({
                "name": issued.key.name,
                "scopes": issued.key.scopes,
                "environment": issued.key.environment,
                "capsule_patterns": issued.key.capsule_patterns,
                "expires_at": issued.key.expires_at.map(|at| at.and_utc()),
            }),
        )?;
        Ok(issued)
    })
}

/// The parts of a key to store; used by [`create`] and by the bootstrap.
#[derive(Debug)]
pub struct KeyDraft<'a> {
    pub tenant_id: &'a TenantId,
    pub name: &'a str,
    pub scopes: ScopeSet,
    pub environment: Environment,
    pub expires_at: Option<NaiveDateTime>,
    pub patterns: &'a [String],
    pub created_by: Option<&'a str>,
}

/// Stores a key and a secret for it: `chosen` when given, a fresh one otherwise.
pub fn insert_key(
    connection: &mut DbConnection,
    draft: KeyDraft<'_>,
    chosen: Option<ApiKeySecret>,
) -> Result<IssuedKey, PortalError> {
    let now = Utc::now().naive_utc();
    let id = ApiKeyId::new();
    let secret = chosen.unwrap_or_else(|| ApiKeySecret::generate(draft.environment));
    let prefix = secret.prefix();
    let key = keys::insert(
        connection,
        &ApiKeyInsertForm {
            id: &id,
            tenant_id: draft.tenant_id,
            name: draft.name,
            environment: draft.environment.as_str(),
            scopes: &draft.scopes.to_stored(),
            capsule_patterns: &draft.patterns.join(" "),
            created_by: draft.created_by,
            created_at: now,
            expires_at: draft.expires_at,
        },
        &SecretInsertForm {
            secret_hash: &secret.hash().to_hex(),
            key_id: &id,
            prefix: &prefix,
            created_at: now,
            valid_until: None,
        },
    )?;
    Ok(IssuedKey { key, prefix, secret })
}

pub fn list(
    connection: &mut DbConnection,
    actor: &Principal,
    tenant: Option<&TenantId>,
    cursor: Option<&ApiKeyId>,
    limit: i64,
) -> Result<Vec<(ApiKey, String)>, PortalError> {
    actor.require(Scope::KeysManage)?;
    let tenant = tenant.unwrap_or(&actor.tenant_id);
    if !actor.can_access_tenant(tenant) {
        return Err(PortalError::TenantNotFound(tenant.to_string()));
    }
    let found = keys::list(connection, tenant, cursor, limit)?;
    let ids: Vec<ApiKeyId> = found.iter().map(|key| key.id.clone()).collect();
    let mut prefixes = keys::current_prefixes(connection, &ids)?;
    Ok(found
        .into_iter()
        .map(|key| {
            let prefix = prefixes.remove(&key.id).unwrap_or_default();
            (key, prefix)
        })
        .collect())
}

pub fn get(
    connection: &mut DbConnection,
    actor: &Principal,
    id: &ApiKeyId,
) -> Result<(ApiKey, String), PortalError> {
    actor.require(Scope::KeysManage)?;
    let key = visible_key(connection, actor, id)?;
    let prefix = keys::current_prefix(connection, &key.id)?;
    Ok((key, prefix))
}

/// Issues a new secret; the current ones keep working for `grace_period_s`, then stop.
/// The caller evicts the key from the authentication cache afterwards.
pub fn rotate(
    connection: &mut DbConnection,
    actor: &Principal,
    id: &ApiKeyId,
    grace_period_s: u32,
    context: &RequestContext,
) -> Result<IssuedKey, PortalError> {
    actor.require(Scope::KeysManage)?;
    if grace_period_s > MAX_GRACE_PERIOD_S {
        return Err(PortalError::InvalidKeyRequest(format!(
            "grace_period_s is at most {MAX_GRACE_PERIOD_S}"
        )));
    }
    write_transaction(connection, |connection| {
        let key = visible_key(connection, actor, id)?;
        refuse_escalation_over(actor, &key)?;
        if key.revoked_at.is_some() {
            return Err(PortalError::KeyRevoked(id.to_string()));
        }
        let now = Utc::now().naive_utc();
        let old_until = now + Duration::seconds(i64::from(grace_period_s));
        keys::expire_secrets(connection, id, old_until)?;
        let environment = Environment::parse(&key.environment).unwrap_or_default();
        let secret = ApiKeySecret::generate(environment);
        let prefix = secret.prefix();
        keys::insert_secret(
            connection,
            &SecretInsertForm {
                secret_hash: &secret.hash().to_hex(),
                key_id: id,
                prefix: &prefix,
                created_at: now,
                valid_until: None,
            },
        )?;
        context.audit(
            connection,
            actor,
            &key.tenant_id,
            "key.rotate",
            id.as_str(),
            json!({ "grace_period_s": grace_period_s, "previous_secrets_valid_until": old_until.and_utc() }),
        )?;
        Ok(IssuedKey { key, prefix, secret })
    })
}

/// Revokes the key: every secret stops at once. Revoking twice changes nothing.
/// The caller evicts the key from the authentication cache afterwards.
pub fn revoke(
    connection: &mut DbConnection,
    actor: &Principal,
    id: &ApiKeyId,
    context: &RequestContext,
) -> Result<(ApiKey, String), PortalError> {
    actor.require(Scope::KeysManage)?;
    write_transaction(connection, |connection| {
        let key = visible_key(connection, actor, id)?;
        refuse_escalation_over(actor, &key)?;
        let key = if key.revoked_at.is_some() {
            key
        } else {
            let revoked = keys::revoke(connection, id, Utc::now().naive_utc())?;
            context.audit(
                connection,
                actor,
                &revoked.tenant_id,
                "key.revoke",
                id.as_str(),
                json!({ "name": revoked.name }),
            )?;
            revoked
        };
        let prefix = keys::current_prefix(connection, id)?;
        Ok((key, prefix))
    })
}

/// A key of a tenant the actor may see; anyone else's is reported as not found.
fn visible_key(
    connection: &mut DbConnection,
    actor: &Principal,
    id: &ApiKeyId,
) -> Result<ApiKey, PortalError> {
    keys::find(connection, id)?
        .filter(|key| actor.can_access_tenant(&key.tenant_id))
        .ok_or_else(|| PortalError::KeyNotFound(id.to_string()))
}

fn refuse_escalation(actor: &Principal, wanted: ScopeSet) -> Result<(), PortalError> {
    if actor.scopes.covers(wanted) {
        return Ok(());
    }
    let missing = wanted
        .iter()
        .filter(|scope| !actor.scopes.contains(*scope))
        .map(|scope| scope.as_str().to_owned())
        .collect();
    Err(PortalError::ScopeEscalation { missing })
}

/// Acting on an existing key (rotate, revoke) needs the same reach as creating it would.
fn refuse_escalation_over(actor: &Principal, key: &ApiKey) -> Result<(), PortalError> {
    let scopes = ScopeSet::from_stored(&key.scopes);
    refuse_escalation(actor, scopes)?;
    let patterns: Vec<String> = key.capsule_patterns.split_whitespace().map(str::to_owned).collect();
    refuse_pattern_escalation(actor, scopes, &patterns)
}

/// Capsule patterns only restrict publish and yank: a key without them reaches no
/// capsule that patterns could limit, whatever its patterns say.
fn refuse_pattern_escalation(
    actor: &Principal,
    wanted_scopes: ScopeSet,
    wanted: &[String],
) -> Result<(), PortalError> {
    let restricted_scopes =
        wanted_scopes.contains(Scope::RegistryPublish) || wanted_scopes.contains(Scope::RegistryYank);
    if actor.capsule_patterns.is_empty() || !restricted_scopes {
        return Ok(());
    }
    let covered = !wanted.is_empty()
        && wanted.iter().all(|pattern| actor.capsule_patterns.iter().any(|own| pattern_covers(own, pattern)));
    if covered {
        return Ok(());
    }
    Err(PortalError::ScopeEscalation {
        missing: vec![format!("capsules outside {}", actor.capsule_patterns.join(", "))],
    })
}

/// `acme/*` covers `acme/*` and `acme/echo`; `acme/echo` covers only itself.
fn pattern_covers(own: &str, wanted: &str) -> bool {
    match own.strip_suffix('*') {
        Some(namespace) => wanted.starts_with(namespace),
        None => own == wanted,
    }
}

pub(crate) fn key_name(name: &str) -> Result<&str, PortalError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(PortalError::InvalidKeyRequest(
            "a key name has 1 to 100 printable characters".to_owned(),
        ));
    }
    Ok(name)
}

/// Patterns are `publisher/*` or `publisher/name` in `[a-z0-9-]`, and only restrict the
/// publish and yank scopes, so they need one of them.
fn capsule_patterns(patterns: &[String], scopes: ScopeSet) -> Result<Vec<String>, PortalError> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    if !scopes.contains(Scope::RegistryPublish) && !scopes.contains(Scope::RegistryYank) {
        return Err(PortalError::InvalidKeyRequest(
            "capsule_patterns restrict registry:publish and registry:yank; the key has neither".to_owned(),
        ));
    }
    let segment = caravan_registry::capsule::CapsuleName::is_valid_part;
    patterns
        .iter()
        .map(|pattern| match pattern.split_once('/') {
            Some((publisher, name)) if segment(publisher) && (name == "*" || segment(name)) => {
                Ok(pattern.clone())
            }
            _ => Err(PortalError::InvalidKeyRequest(format!(
                "`{pattern}` is not a capsule pattern: use publisher/* or publisher/name"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_patterns_cover_their_capsules_only() {
        assert!(pattern_covers("acme/*", "acme/echo"));
        assert!(pattern_covers("acme/*", "acme/*"));
        assert!(!pattern_covers("acme/*", "acmex/echo"));
        assert!(pattern_covers("acme/echo", "acme/echo"));
        assert!(!pattern_covers("acme/echo", "acme/*"));
    }

    #[test]
    fn patterns_need_a_publish_scope_and_a_valid_form() {
        let publish: ScopeSet = [Scope::RegistryPublish].into_iter().collect();
        let read: ScopeSet = [Scope::RegistryRead].into_iter().collect();
        assert!(capsule_patterns(&["acme/*".to_owned()], publish).is_ok());
        assert!(capsule_patterns(&["acme/*".to_owned()], read).is_err());
        for bad in ["acme", "Acme/*", "acme/../x", "/x", "acme/", "-acme/*", "acme/echo-"] {
            assert!(capsule_patterns(&[bad.to_owned()], publish).is_err(), "{bad}");
        }
    }
}
