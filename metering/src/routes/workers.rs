//! Worker backends (the operator registers, lists and removes them), the tenant's webhook
//! signing secrets, and the bundle download workers use (`/internal/bundles/{digest}`,
//! authenticated by the worker token, not an API key).

use crate::Metering;
use crate::db::webhooks::{self, SecretRow};
use crate::db::workers::{self, WorkerRow};
use crate::error::MeteringError;
use crate::executions::pool::{Backend, BackendView, TIERS, registered_id};
use crate::executions::webhooks::new_secret;
use crate::views::{WebhookSecretView, WebhookSecrets};
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::db::{now, write_transaction};
use caravan_core::error::responses::{
    BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::{WebhookSecretId, WorkerId};
use caravan_core::{ApiError, Database, JsonObject, Principal, Scope};
use caravan_registry::Registry;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

/// List worker backends
///
/// Each backend with its tier, health, circuit breaker and runs outstanding. The
/// operator's admin only.
#[utoipa::path(
    get,
    path = "/v1/workers",
    operation_id = "list_workers",
    tag = "executions",
    responses((status = 200, description = "Backends", body = Vec<BackendView>), Unauthorized, Forbidden, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_workers(
    principal: Principal,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    Ok(HttpResponse::Ok().json(metering.executions.pool.views()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "url": "http://10.0.0.7:8090", "tier": "balanced" }))]
pub struct RegisterWorker {
    /// The worker's base URL (`caravan worker` listens on it).
    pub url: String,
    /// `fast`, `balanced` or `flagship`.
    pub tier: String,
}

/// Register a worker backend
///
/// Adds a backend of a tier; it takes runs once its health check answers. The
/// operator's admin only.
#[utoipa::path(
    post,
    path = "/v1/workers",
    operation_id = "register_worker",
    tag = "executions",
    request_body = RegisterWorker,
    responses((status = 201, description = "Registered", body = BackendView), BadRequest, Unauthorized, Forbidden,
        Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn register_worker(
    principal: Principal,
    body: JsonObject<RegisterWorker>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    let body = body.into_inner();
    if !TIERS.contains(&body.tier.as_str()) {
        return Err(MeteringError::InvalidExecution(format!("`tier` is one of {}", TIERS.join(", "))).into());
    }
    let url = match url::Url::parse(&body.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            body.url.trim_end_matches('/').to_owned()
        }
        _ => return Err(MeteringError::InvalidExecution("`url` must be an http(s) URL".to_owned()).into()),
    };
    let row = WorkerRow {
        id: WorkerId::parse(&registered_id()).unwrap_or_else(|_| WorkerId::new()),
        url,
        tier: body.tier,
        created_at: now(),
    };
    let stored = row.clone();
    let row = database
        .run(move |connection| {
            write_transaction(connection, |connection| match workers::find_by_url(connection, &stored.url)? {
                Some(existing) => Ok::<_, MeteringError>(existing),
                None => {
                    workers::insert(connection, &stored)?;
                    Ok(stored)
                }
            })
        })
        .await?;
    let pool = &metering.executions.pool;
    pool.add(Backend::new(row.id.to_string(), row.url.clone(), Some(row.tier.clone()), true));
    pool.check_health().await;
    let view = pool.views().into_iter().find(|view| view.id == row.id.as_str());
    Ok(HttpResponse::Created().json(view))
}

/// Remove a worker backend
///
/// Only backends registered through the API; configured ones stay. Runs under way go on.
/// The operator's admin only.
#[utoipa::path(
    delete,
    path = "/v1/workers/{id}",
    operation_id = "remove_worker",
    tag = "executions",
    params(("id" = String, Path, description = "`wrk_…`")),
    responses((status = 204, description = "Removed"), Unauthorized, Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn remove_worker(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require_operator().map_err(MeteringError::from)?;
    let raw = path.into_inner();
    let id = WorkerId::parse(&raw).map_err(|_| MeteringError::WorkerNotFound(raw.clone()))?;
    let removed_id = id.clone();
    let removed = database
        .run(move |connection| Ok::<_, MeteringError>(workers::delete(connection, &removed_id)?))
        .await?;
    if !removed {
        return Err(MeteringError::WorkerNotFound(raw).into());
    }
    metering.executions.pool.remove(id.as_str());
    Ok(HttpResponse::NoContent().finish())
}

/// Get the webhook signing secrets
///
/// The secrets that sign the tenant's execution webhooks (`Caravan-Signature`), made on
/// first use. Needs `keys:manage`.
#[utoipa::path(
    get,
    path = "/v1/webhooks/secrets",
    operation_id = "get_webhook_secrets",
    tag = "executions",
    responses((status = 200, description = "Live secrets, newest first", body = WebhookSecrets), Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_webhook_secrets(
    principal: Principal,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::KeysManage)?;
    let secrets = database
        .run(move |connection| {
            write_transaction(connection, |connection| {
                let now = now();
                if webhooks::live_secrets(connection, &principal.tenant_id, now)?.is_empty() {
                    webhooks::insert_secret(
                        connection,
                        &SecretRow {
                            id: WebhookSecretId::new(),
                            tenant_id: principal.tenant_id.clone(),
                            secret: new_secret(),
                            created_at: now,
                            expires_at: None,
                        },
                    )?;
                }
                Ok::<_, MeteringError>(webhooks::live_secrets(connection, &principal.tenant_id, now)?)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .json(WebhookSecrets { secrets: secrets.into_iter().map(WebhookSecretView::from).collect() }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the previous secrets keep signing beside the new one: 0 to 604800
    /// seconds, 86400 by default.
    pub expire_previous_in_s: Option<u64>,
}

/// Rotate the webhook signing secret
///
/// Makes a new secret; the previous ones keep signing (a second `v1` in
/// `Caravan-Signature`) for the grace period, so receivers can switch without missing a
/// delivery. Needs `keys:manage`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/secrets/rotate",
    operation_id = "rotate_webhook_secret",
    tag = "executions",
    request_body = RotateSecret,
    responses((status = 200, description = "Live secrets, the new one first", body = WebhookSecrets), BadRequest,
        Unauthorized, Forbidden, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn rotate_webhook_secret(
    principal: Principal,
    body: JsonObject<RotateSecret>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::KeysManage)?;
    let grace = body.into_inner().expire_previous_in_s.unwrap_or(86_400);
    if grace > 604_800 {
        return Err(MeteringError::InvalidExecution(
            "`expire_previous_in_s` is at most 604800 (7 days)".to_owned(),
        )
        .into());
    }
    let secrets = database
        .run(move |connection| {
            write_transaction(connection, |connection| {
                let now = now();
                let fresh = SecretRow {
                    id: WebhookSecretId::new(),
                    tenant_id: principal.tenant_id.clone(),
                    secret: new_secret(),
                    created_at: now,
                    expires_at: None,
                };
                webhooks::insert_secret(connection, &fresh)?;
                let grace = chrono::TimeDelta::seconds(i64::try_from(grace).unwrap_or(0));
                webhooks::expire_others(connection, &principal.tenant_id, &fresh.id, now + grace)?;
                caravan_core::audit::append(
                    connection,
                    caravan_core::audit::AuditRecord {
                        tenant_id: Some(&principal.tenant_id),
                        actor: principal.actor_id(),
                        action: "webhook_secret.rotate",
                        target: fresh.id.as_str(),
                        details: serde_json::json!({ "expire_previous_in_s": grace.num_seconds() }),
                        request_id: None,
                    },
                )?;
                Ok::<_, MeteringError>(webhooks::live_secrets(connection, &principal.tenant_id, now)?)
            })
        })
        .await?;
    Ok(HttpResponse::Ok()
        .json(WebhookSecrets { secrets: secrets.into_iter().map(WebhookSecretView::from).collect() }))
}

/// A bundle for a worker: the stored bytes, with the worker token.
pub async fn worker_bundle(
    request: HttpRequest,
    path: web::Path<String>,
    registry: web::Data<Registry>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    let presented = request
        .headers()
        .get("Authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = metering.executions.pool.token.as_bytes();
    if !bool::from(presented.as_bytes().ct_eq(expected)) {
        return Err(MeteringError::WorkerUnauthorized.into());
    }
    let digest = path.into_inner();
    let bytes = registry.blobs.get(&digest).await.map_err(caravan_registry::RegistryError::from)?;
    Ok(HttpResponse::Ok().content_type("application/gzip").body(bytes))
}
