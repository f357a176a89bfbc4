//! The API keys page: list (prefix, scopes, last use, expiry), create (the secret shown
//! once, with a copy button), rotate with a grace period, revoke.

use super::form::FormFields;
use super::page::{PageError, layout, see_other};
use super::session::{CSRF_FIELD, SignedIn};
use super::{format_time, request_context};
use crate::KeyStore;
use crate::domain::Environment;
use crate::error::PortalError;
use crate::service::keys::{self, IssuedKey, NewKey};
use actix_web::{HttpResponse, web};
use caravan_core::id::ApiKeyId;
use caravan_core::{Database, RequestIdentity, Scope, ScopeSet};
use chrono::{NaiveDate, TimeZone, Utc};
use maud::{PreEscaped, html};
use serde::Deserialize;

/// Keys per page.
const PAGE_SIZE: i64 = 100;

/// Grace periods offered on rotation, in seconds, with their labels.
const GRACE_PERIODS: [(u32, &str); 4] =
    [(0, "none"), (3600, "1 hour"), (86_400, "1 day"), (604_800, "7 days")];

#[derive(Debug, Deserialize)]
pub struct KeysQuery {
    after: Option<String>,
}

pub async fn show_keys(
    signed_in: SignedIn,
    query: web::Query<KeysQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, PageError> {
    signed_in.principal.require(Scope::KeysManage)?;
    let after = match query.into_inner().after {
        Some(raw) => Some(ApiKeyId::parse(&raw).map_err(|_| PortalError::InvalidCursor)?),
        None => None,
    };
    let principal = signed_in.principal.clone();
    let listed = database
        .run(move |connection| keys::list(connection, &principal, None, after.as_ref(), PAGE_SIZE))
        .await?;
    let next = (listed.len() as i64 == PAGE_SIZE)
        .then(|| listed.last().map(|(key, _)| key.id.to_string()))
        .flatten();
    let grantable: Vec<Scope> = signed_in.principal.scopes.iter().collect();
    let content = html! {
        section aria-labelledby="create-heading" {
            h2 id="create-heading" { "Create a key" }
            form method="post" action="/portal/keys" {
                (signed_in.csrf_field())
                fieldset {
                    legend { "New key" }
                    label { "Name " input type="text" name="name" maxlength="100" required; }
                    fieldset {
                        legend { "Scopes" }
                        @for scope in &grantable {
                            label { input type="checkbox" name="scope" value=(scope.as_str()); " " code { (scope.as_str()) } }
                        }
                    }
                    label { "Environment "
                        select name="environment" { option value="live" { "live" } option value="test" { "test" } }
                    }
                    label { "Stops working at 00:00 UTC on (optional) " input type="date" name="expires_on"; }
                    label { "Capsule patterns for publish scopes (optional, comma-separated, e.g. acme/*) "
                        input type="text" name="capsule_patterns"; }
                    button type="submit" { "Create key" }
                }
            }
        }
        section aria-labelledby="list-heading" {
            h2 id="list-heading" { "Keys" }
            table {
                thead { tr { th { "Name" } th { "Prefix" } th { "Scopes" } th { "Created" } th { "Last used" } th { "Expires" } th { "Status" } th { "Actions" } } }
                tbody {
                    @for (key, prefix) in &listed {
                        tr {
                            td { (key.name) }
                            td { code { (prefix) "…" } }
                            td { (key.scopes) }
                            td { (format_time(key.created_at)) }
                            td { (key.last_used_at.map(format_time).unwrap_or_else(|| "never".to_owned())) }
                            td { (key.expires_at.map(format_time).unwrap_or_else(|| "never".to_owned())) }
                            td { @if key.revoked_at.is_some() { "revoked" } @else { "active" } }
                            td {
                                @if key.revoked_at.is_none() {
                                    form method="post" action={ "/portal/keys/" (key.id) "/rotate" } class="inline" {
                                        (signed_in.csrf_field())
                                        label { "Old secret works for "
                                            select name="grace_period_s" {
                                                @for (seconds, label) in GRACE_PERIODS { option value=(seconds) { (label) } }
                                            }
                                        }
                                        button type="submit" { "Rotate " span class="skip" { (key.name) } }
                                    }
                                    form method="post" action={ "/portal/keys/" (key.id) "/revoke" } class="inline" {
                                        (signed_in.csrf_field())
                                        button type="submit" { "Revoke " span class="skip" { (key.name) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(next) = next { p { a href={ "/portal/keys?after=" (next) } { "Next page" } } }
        }
    };
    Ok(layout(&signed_in, "keys", "API keys", content))
}

pub async fn create_key(
    signed_in: SignedIn,
    identity: RequestIdentity,
    database: web::Data<Database>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let invalid = |message: String| PageError::from(PortalError::InvalidKeyRequest(message));
    let scopes = form
        .all("scope")
        .map(|name| Scope::parse(name).ok_or_else(|| invalid(format!("`{name}` is not a scope"))))
        .collect::<Result<Vec<_>, _>>()?;
    let environment = match form.text("environment") {
        "test" => Environment::Test,
        "live" | "" => Environment::Live,
        other => return Err(invalid(format!("`{other}` is not an environment: live or test"))),
    };
    let expires_at = match form.text("expires_on") {
        "" => None,
        day => {
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| invalid(format!("`{day}` is not a date (YYYY-MM-DD)")))?;
            day.and_hms_opt(0, 0, 0).map(|midnight| Utc.from_utc_datetime(&midnight))
        }
    };
    let capsule_patterns = form
        .text("capsule_patterns")
        .split(',')
        .map(str::trim)
        .filter(|pattern| !pattern.is_empty())
        .map(str::to_owned)
        .collect();
    let request = NewKey {
        name: form.text("name").to_owned(),
        scopes,
        environment,
        expires_at,
        capsule_patterns,
        tenant_id: None,
    };
    let context = request_context(&identity);
    let principal = signed_in.principal.clone();
    let issued =
        database.run(move |connection| keys::create(connection, &principal, request, &context)).await?;
    Ok(secret_page(&signed_in, "Your new key", &issued))
}

#[derive(Debug, Deserialize)]
pub struct KeyPath {
    key_id: String,
}

pub async fn rotate_key(
    signed_in: SignedIn,
    path: web::Path<KeyPath>,
    identity: RequestIdentity,
    key_store: web::Data<KeyStore>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let id = key_id(&path.key_id)?;
    let grace = form
        .text("grace_period_s")
        .parse::<u32>()
        .map_err(|_| PortalError::InvalidKeyRequest("choose a grace period".to_owned()))?;
    let context = request_context(&identity);
    let issued = key_store.into_inner().rotate(signed_in.principal.clone(), id, grace, context).await?;
    Ok(secret_page(&signed_in, "Your rotated key", &issued))
}

pub async fn revoke_key(
    signed_in: SignedIn,
    path: web::Path<KeyPath>,
    identity: RequestIdentity,
    key_store: web::Data<KeyStore>,
    form: FormFields,
) -> Result<HttpResponse, PageError> {
    signed_in.check_csrf(form.get(CSRF_FIELD))?;
    let id = key_id(&path.key_id)?;
    let context = request_context(&identity);
    key_store.into_inner().revoke(signed_in.principal.clone(), id, context).await?;
    Ok(see_other("/portal/keys"))
}

fn key_id(raw: &str) -> Result<ApiKeyId, PortalError> {
    ApiKeyId::parse(raw).map_err(|_| PortalError::KeyNotFound(raw.to_owned()))
}

/// Shows a secret once, with a copy button that works where scripts run.
fn secret_page(signed_in: &SignedIn, title: &str, issued: &IssuedKey) -> HttpResponse {
    let scopes = ScopeSet::from_stored(&issued.key.scopes);
    let content = html! {
        p class="notice" role="status" {
            "Copy the secret of " strong { (issued.key.name) } " now: it is shown only this once, and Caravan keeps only its hash."
        }
        label { "Secret "
            input id="secret" class="secret" type="text" readonly value=(issued.secret.reveal()) aria-describedby="secret-help";
        }
        button type="button" id="copy" { "Copy" }
        p id="secret-help" { "Send it as " code { "Authorization: Bearer …" } " or " code { "X-API-Key: …" } ". Scopes: "
            @for scope in scopes.iter() { code { (scope.as_str()) } " " } }
        p { a href="/portal/keys" { "Back to the keys" } }
        script { (PreEscaped(COPY_SCRIPT)) }
    };
    layout(signed_in, "keys", title, content)
}

/// The portal's only script; the content security policy allows it by its hash.
pub const COPY_SCRIPT: &str = r#"document.getElementById('copy').addEventListener('click',function(){var s=document.getElementById('secret');s.select();if(navigator.clipboard){navigator.clipboard.writeText(s.value);}else{document.execCommand('copy');}this.textContent='Copied';});"#;
