//! The publishing page: the tenant's namespaces with their signing keys (register,
//! retire), and its capsules with their versions, status, stats and rank components
//! (yank, unyank, deprecate, undeprecate, revoke).

use super::form::FormFields;
use super::page::{PageError, layout, see_other};
use super::session::{CSRF_FIELD, SignedIn};
use super::{format_time, request_context};
use crate::db::publisher_keys::{self, PublisherKey};
use crate::error::PortalError;
use crate::service::publisher_keys::{self as signing_keys, NewPublisherKey};
use actix_web::{HttpResponse, web};
use caravan_core::id::PublisherKeyId;
use caravan_core::{Database, RequestIdentity, Scope};
use caravan_registry::Registry;
use caravan_registry::db::capsules::{self, CapsuleRow, VersionRow};
use caravan_registry::error::RegistryError;
use caravan_registry::search::ranking::{self, CapsuleStats};
use caravan_registry::service::{self, Lifecycle};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

/// A capsule with its versions (newest first) and its ranking figures.
struct Published {
    capsule: CapsuleRow,
    versions: Vec<VersionRow>,
    stats: Option<CapsuleStats>,
}

pub async fn show_publishing(
    signed_in: SignedIn,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::RegistryPublish)?;
    let principal = signed_in.principal.clone();
    let (namespaces, published) = database
        .run(move |connection| -> Result<_, PageError> {
            let tenant = &principal.tenant_id;
            let mut keys =
                group_by(publisher_keys::of_tenant(connection, tenant)?, |key| key.namespace.clone());
            let namespaces: Vec<(String, Vec<PublisherKey>)> =
                publisher_keys::namespaces_of(connection, tenant)?
                    .into_iter()
                    .map(|namespace| {
                        let keys = keys.remove(&namespace).unwrap_or_default();
                        (namespace, keys)
                    })
                    .collect();
            let mut versions = group_by(capsules::versions_of_tenant(connection, tenant)?, |version| {
                version.capsule_name.clone()
            });
            let mut stats: HashMap<String, CapsuleStats> = ranking::stats_of_tenant(connection, tenant)?
                .into_iter()
                .map(|stats| (stats.capsule.clone(), stats))
                .collect();
            let published = capsules::of_tenant(connection, tenant)?
                .into_iter()
                .map(|capsule| Published {
                    versions: service::newest_first(versions.remove(&capsule.name).unwrap_or_default()),
                    stats: stats.remove(&capsule.name),
                    capsule,
                })
                .collect::<Vec<_>>();
            Ok((namespaces, published))
        })
        .await?;
    let content = html! {
        section aria-labelledby="signing-heading" {
            h2 id="signing-heading" { "Namespaces and signing keys" }
            p { "The first signing key registered for a namespace claims it for this tenant. Only live keys sign new versions; versions signed by a retired key stay valid." }
            @for (namespace, keys) in &namespaces {
                h3 { (namespace) "/" }
                (signing_key_table(&signed_in, namespace, keys))
            }
            form method="post" action="/portal/publishing/signing-keys" {
                (signed_in.csrf_field())
                fieldset {
                    legend { "Register a signing key" }
                    label { "Namespace " input type="text" name="namespace" pattern="[a-z0-9-]{1,64}" required; }
                    label { "Key name " input type="text" name="name" maxlength="100" required; }
                    label { "Public key (PEM, ECDSA P-256) " br; textarea name="public_key_pem" rows="5" cols="66" required {} }
                    button type="submit" { "Register" }
                }
            }
        }
        section aria-labelledby="capsules-heading" {
            h2 id="capsules-heading" { "Capsules" }
            @if published.is_empty() { p { "No capsule published yet: " code { "caravan publish" } " publishes one." } }
            @for entry in &published { (capsule_section(&signed_in, entry)) }
        }
    };
    Ok(layout(&signed_in, "publishing", "Publishing", content))
}

/// Rows grouped by a key, each group in the rows' order.
fn group_by<T>(rows: Vec<T>, key: impl Fn(&T) -> String) -> HashMap<String, Vec<T>> {
    let mut groups: HashMap<String, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}

fn signing_key_table(signed_in: &SignedIn, namespace: &str, keys: &[PublisherKey]) -> Markup {
    html! {
        table {
            thead { tr { th { "Name" } th { "Fingerprint" } th { "Registered" } th { "Status" } th { "Actions" } } }
            tbody {
                @for key in keys {
                    tr {
                        td { (key.name) }
                        td { code { (key.fingerprint) } }
                        td { (format_time(key.created_at)) }
                        td { @if let Some(retired) = key.retired_at { "retired " (format_time(retired)) } @else { "live" } }
                        td {
                            @if key.retired_at.is_none() {
                                form method="post" class="inline"
                                    action={ "/portal/publishing/signing-keys/" (namespace) "/" (key.id) "/retire" } {
                                    (signed_in.csrf_field())
                                    button type="submit" { "Retire " span class="skip" { (key.name) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn capsule_section(signed_in: &SignedIn, entry: &Published) -> Markup {
    let name = &entry.capsule.name;
    html! {
        article aria-label=(name) {
            h3 { (name) }
            p { (entry.capsule.description) }
            @if let Some(stats) = &entry.stats {
                table {
                    caption { "Over the last " (stats.window_days) " days" }
                    thead { tr { th { "Executions" } th { "Succeeded" } th { "Success (Wilson lower bound)" } th { "p50" } th { "p95" } th { "Mean cost" } th { "Quality" } } }
                    tbody { tr {
                        td class="number" { (stats.executions) }
                        td class="number" { (stats.succeeded) }
                        td class="number" { (format!("{:.3}", stats.success_lower_bound)) }
                        td class="number" { (stats.p50_ms) " ms" }
                        td class="number" { (stats.p95_ms) " ms" }
                        td class="number" { (stats.mean_cost) }
                        td class="number" { (format!("{:.3}", stats.quality)) }
                    } }
                }
            } @else {
                p { "No executions in the ranking window yet." }
            }
            table {
                thead { tr { th { "Version" } th { "Status" } th { "Published" } th { "Tier" } th { "Actions" } } }
                tbody {
                    @for version in &entry.versions {
                        tr {
                            td { (version.version) }
                            td {
                                (status_of(version))
                                @if let Some(message) = &version.deprecated_message { br; "deprecated: " (message) }
                                @if let Some(reason) = &version.revoked_reason { br; "reason: " (reason) }
                            }
                            td { (format_time(version.published_at)) }
                            td { (version.tier) }
                            td { (version_actions(signed_in, name, version)) }
                        }
                    }
                }
            }
        }
    }
}

fn status_of(version: &VersionRow) -> &'static str {
    if version.revoked_at.is_some() {
        "revoked"
    } else if version.yanked_at.is_some() {
        "yanked"
    } else {
        "active"
    }
}

fn version_actions(signed_in: &SignedIn, name: &str, version: &VersionRow) -> Markup {
    let action = |change: &str| format!("/portal/capsules/{name}/versions/{}/{change}", version.version);
    let label = format!("{name} {}", version.version);
    html! {
        @if version.revoked_at.is_none() {
            @if version.yanked_at.is_none() {
                form method="post" action=(action("yank")) class="inline" {
                    (signed_in.csrf_field()) button type="submit" { "Yank " span class="skip" { (label) } }
                }
            } @else {
                form method="post" action=(action("unyank")) class="inline" {
                    (signed_in.csrf_field()) button type="submit" { "Unyank " span class="skip" { (label) } }
                }
            }
            @if version.deprecated_message.is_none() {
                form method="post" action=(action("deprecate")) class="inline" {
                    (signed_in.csrf_field())
                    label { span class="skip" { "Deprecation message for " (label) } input type="text" name="message" placeholder="why" required; }
                    button type="submit" { "Deprecate" }
                }
            } @else {
                form method="post" action=(action("undeprecate")) class="inline" {
                    (signed_in.csrf_field()) button type="submit" { "Undeprecate " span class="skip" { (label) } }
                }
            }
            form method="post" action=(action("revoke")) class="inline" {
                (signed_in.csrf_field())
                label { span class="skip" { "Revocation reason for " (label) } input type="text" name="reason" placeholder="reason" required; }
                button type="submit" { "Revoke" }
            }
        }
    }
}

pub async fn register_signing_key(
    signed_in: SignedIn,
    identity: RequestIdentity,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let namespace = form.text("namespace").trim().to_owned();
    let request = NewPublisherKey {
        name: form.text("name").to_owned(),
        public_key_pem: form.text("public_key_pem").to_owned(),
    };
    let context = request_context(&identity);
    let principal = signed_in.principal.clone();
    database
        .run(move |connection| signing_keys::register(connection, &principal, &namespace, request, &context))
        .await?;
    Ok(see_other("/portal/publishing"))
}

#[derive(Debug, Deserialize)]
pub struct SigningKeyPath {
    namespace: String,
    key_id: String,
}

pub async fn retire_signing_key(
    signed_in: SignedIn,
    path: web::Path<SigningKeyPath>,
    identity: RequestIdentity,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let SigningKeyPath { namespace, key_id } = path.into_inner();
    let id = PublisherKeyId::parse(&key_id).map_err(|_| PortalError::PublisherKeyNotFound(key_id.clone()))?;
    let context = request_context(&identity);
    let principal = signed_in.principal.clone();
    database
        .run(move |connection| signing_keys::retire(connection, &principal, &namespace, &id, &context))
        .await?;
    Ok(see_other("/portal/publishing"))
}

#[derive(Debug, Deserialize)]
pub struct VersionChangePath {
    publisher: String,
    name: String,
    version: String,
    change: String,
}

pub async fn change_version(
    signed_in: SignedIn,
    path: web::Path<VersionChangePath>,
    identity: RequestIdentity,
    database: web::Data<Database>,
    registry: web::Data<Registry>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let VersionChangePath { publisher, name, version, change } = path.into_inner();
    let change = match change.as_str() {
        "yank" => Lifecycle::Yank,
        "unyank" => Lifecycle::Unyank,
        "deprecate" => Lifecycle::Deprecate { message: form.text("message").to_owned() },
        "undeprecate" => Lifecycle::Undeprecate,
        "revoke" => Lifecycle::Revoke { reason: form.text("reason").to_owned() },
        other => {
            return Err(RegistryError::InvalidChange(format!("`{other}` is not a version change")).into());
        }
    };
    let capsule = format!("{publisher}/{name}");
    let request_id = Some(identity.as_str().to_owned());
    let principal = signed_in.principal.clone();
    service::change_version(&database, &registry.runs, principal, request_id, capsule, version, change)
        .await?;
    Ok(see_other("/portal/publishing"))
}
