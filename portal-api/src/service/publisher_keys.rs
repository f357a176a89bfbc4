//! Publisher signing keys and namespace ownership. Registering the first key for a
//! namespace claims it for the caller's tenant; after that only that tenant may add or
//! retire its keys. Needs `registry:publish`, and a key limited by capsule patterns may
//! only act on namespaces its patterns cover.

use super::RequestContext;
use crate::db::publisher_keys::{self, Namespace, PublisherKey};
use crate::error::PortalError;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::PublisherKeyId;
use caravan_core::{Principal, Scope};
use caravan_registry::capsule::CapsuleName;
use caravan_registry::signing::PublicKey;
use chrono::Utc;
use serde_json::json;

#[derive(Debug)]
pub struct NewPublisherKey {
    pub name: String,
    pub public_key_pem: String,
}

pub fn register(
    connection: &mut DbConnection,
    actor: &Principal,
    namespace: &str,
    request: NewPublisherKey,
    context: &RequestContext,
) -> Result<PublisherKey, PortalError> {
    may_publish_in(actor, namespace)?;
    let name = super::keys::key_name(&request.name)?;
    let public_key = PublicKey::from_pem(&request.public_key_pem)?;
    write_transaction(connection, |connection| {
        let now = Utc::now().naive_utc();
        match publisher_keys::find_namespace(connection, namespace)? {
            Some(owner) if owner.tenant_id != actor.tenant_id => {
                return Err(PortalError::NamespaceTaken(namespace.to_owned()));
            }
            Some(_) => {}
            None => {
                publisher_keys::claim_namespace(connection, namespace, &actor.tenant_id, now)?;
                context.audit(
                    connection,
                    actor,
                    &actor.tenant_id,
                    "namespace.claim",
                    namespace,
                    json!({}),
                )?;
            }
        }
        if publisher_keys::find_by_fingerprint(connection, namespace, public_key.fingerprint())?.is_some() {
            return Err(PortalError::PublisherKeyExists(namespace.to_owned()));
        }
        let key = PublisherKey {
            id: PublisherKeyId::new(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            public_key_pem: request.public_key_pem.trim().to_owned() + "\n",
            fingerprint: public_key.fingerprint().to_owned(),
            created_at: now,
            retired_at: None,
        };
        publisher_keys::insert(connection, &key)?;
        let details = json!({ "namespace": namespace, "name": key.name, "fingerprint": key.fingerprint });
        context.audit(
            connection,
            actor,
            &actor.tenant_id,
            "publisher_key.register",
            key.id.as_str(),
            details,
        )?;
        Ok(key)
    })
}

pub fn list(
    connection: &mut DbConnection,
    actor: &Principal,
    namespace: &str,
) -> Result<Vec<PublisherKey>, PortalError> {
    actor.require(Scope::RegistryRead).or_else(|_| actor.require(Scope::RegistryPublish))?;
    owned_namespace(connection, actor, namespace)?;
    Ok(publisher_keys::list(connection, namespace)?)
}

/// Retires a key: it signs no new version; versions it signed stay valid. Retiring twice
/// changes nothing.
pub fn retire(
    connection: &mut DbConnection,
    actor: &Principal,
    namespace: &str,
    id: &PublisherKeyId,
    context: &RequestContext,
) -> Result<PublisherKey, PortalError> {
    may_publish_in(actor, namespace)?;
    write_transaction(connection, |connection| {
        owned_namespace(connection, actor, namespace)?;
        let not_found = || PortalError::PublisherKeyNotFound(id.to_string());
        publisher_keys::find(connection, namespace, id)?.ok_or_else(not_found)?;
        if publisher_keys::retire(connection, id, Utc::now().naive_utc())? > 0 {
            context.audit(
                connection,
                actor,
                &actor.tenant_id,
                "publisher_key.retire",
                id.as_str(),
                json!({ "namespace": namespace }),
            )?;
        }
        publisher_keys::find(connection, namespace, id)?.ok_or_else(not_found)
    })
}

/// `registry:publish`, a well-formed namespace, and capsule patterns (if any) that reach it.
fn may_publish_in(actor: &Principal, namespace: &str) -> Result<(), PortalError> {
    actor.require(Scope::RegistryPublish)?;
    if !CapsuleName::is_valid_part(namespace) {
        return Err(PortalError::InvalidNamespace(namespace.to_owned()));
    }
    let whole_namespace = format!("{namespace}/*");
    let covered = actor.capsule_patterns.is_empty()
        || actor.capsule_patterns.iter().any(|pattern| pattern == &whole_namespace);
    if covered { Ok(()) } else { Err(PortalError::OutsidePatterns(namespace.to_owned())) }
}

/// The namespace, if the actor's tenant owns it (or the actor is the operator's admin);
/// anyone else's is reported as not found.
fn owned_namespace(
    connection: &mut DbConnection,
    actor: &Principal,
    namespace: &str,
) -> Result<Namespace, PortalError> {
    publisher_keys::find_namespace(connection, namespace)?
        .filter(|owner| actor.can_access_tenant(&owner.tenant_id))
        .ok_or_else(|| PortalError::NamespaceNotFound(namespace.to_owned()))
}
