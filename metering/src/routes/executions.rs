//! Running capsules: `POST /v1/capsules/{publisher}/{name}/executions` (sync, stream,
//! async), reading, listing and cancelling executions, and their webhook deliveries.

use super::{Cursor, tenant_scope};
use crate::Metering;
use crate::db::executions::{self, ExecutionFilter, ExecutionRow};
use crate::db::webhooks;
use crate::error::MeteringError;
use crate::executions::dispatch::Progress;
use crate::executions::{self as runs, Mode, RunAsked, Started};
use crate::views::{DeliveryView, ExecutionPage, ExecutionView};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::{ExecutionId, TenantId};
use caravan_core::{ApiError, Database, JsonObject, Principal, Scope};
use futures_util::{StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "version": "^1", "input": { "text": "hello" }, "mode": "sync" }))]
pub struct RunBody {
    /// A semver requirement (`^1.2`, `=1.0.0`); the newest active version by default.
    pub version: Option<String>,
    /// Checked against the capsule's `input_schema`, then given to it on standard input.
    pub input: Value,
    /// `sync` (default), `stream` or `async`.
    #[serde(default)]
    pub mode: Mode,
    /// For `async`: where the result is POSTed, signed (`Caravan-Signature`).
    pub webhook_url: Option<String>,
}

/// Run a capsule
///
/// Admits the run (scope `executions:run`, rate limits, the plan's monthly quota, a
/// version the requirement resolves to — never a revoked one —, the input against the
/// capsule's `input_schema`, a worker of the capsule's tier), then runs it:
///
/// - `sync`: answers the execution with its output; a run that fails answers 502
///   (`execution-failed`), one past its deadline 504, a cancelled one 409.
/// - `stream`: answers `text/event-stream`: `execution` first, then the run's events
///   (`started`, `log`, `usage`, `tool_call`, `result`, `exit`) as they happen, and
///   always a terminal `done` (succeeded) or `error` (anything else, also when the worker
///   dies mid-run).
/// - `async`: answers 202 at once; poll `GET /v1/executions/{id}`, or take the signed
///   webhook at `webhook_url`.
///
/// `Idempotency-Key` (1–255 characters): the same key with the same request answers the
/// same execution (202 while it runs); with another request, 422.
#[utoipa::path(
    post,
    path = "/v1/capsules/{publisher}/{name}/executions",
    operation_id = "run_capsule",
    tag = "executions",
    params(("publisher" = String, Path), ("name" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Same key, same execution")),
    request_body = RunBody,
    responses(
        (status = 200, description = "sync: the ended execution with its output (JSON); stream: server-sent events",
            content((ExecutionView = "application/json"), (String = "text/event-stream"))),
        (status = 202, description = "async (or a key whose execution still runs): the execution", body = ExecutionView),
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict,
        (status = 410, description = "The version is revoked", content_type = "application/problem+json"),
        Unprocessable, TooManyRequests,
        (status = 502, description = "The run failed", content_type = "application/problem+json"),
        (status = 503, description = "No worker of the tier is available; see Retry-After",
            content_type = "application/problem+json"),
        (status = 504, description = "The run exceeded its deadline", content_type = "application/problem+json")),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn run_capsule(
    principal: Principal,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: JsonObject<RunBody>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    let (publisher, name) = path.into_inner();
    let body = body.into_inner();
    let idempotency_key = match request.headers().get("Idempotency-Key") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    MeteringError::InvalidExecution("Idempotency-Key must be visible ASCII".to_owned())
                })?
                .to_owned(),
        ),
        None => None,
    };
    let asked = RunAsked {
        capsule: format!("{publisher}/{name}"),
        requirement: body.version.unwrap_or_else(|| "*".to_owned()),
        input: body.input,
        mode: body.mode,
        webhook_url: body.webhook_url,
        idempotency_key,
    };
    let mode = asked.mode;
    let started = match runs::start(&metering.executions, &metering.plans, principal, asked).await {
        Err(MeteringError::NoWorker(tier)) => {
            use actix_web::ResponseError;
            let mut response = ApiError::from(MeteringError::NoWorker(tier)).error_response();
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            return Ok(response);
        }
        other => other?,
    };
    match started {
        Started::Existing(row) if row.status == "running" => Ok(accepted(&row)),
        Started::Existing(row) => ended(*row),
        Started::New(row, _) if mode == Mode::Async => Ok(accepted(&row)),
        Started::New(row, progress) if mode == Mode::Stream => Ok(event_stream(*row, progress)),
        Started::New(_, mut progress) => {
            while let Some(update) = progress.recv().await {
                if let Progress::Finished(row) = update {
                    return ended(*row);
                }
            }
            Err(MeteringError::InvalidExecution("the run's end could not be recorded".to_owned()).into())
        }
    }
}

fn accepted(row: &ExecutionRow) -> HttpResponse {
    HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/v1/executions/{}", row.id)))
        .json(ExecutionView::from(row.clone()))
}

/// The answer for an ended execution: the execution when it succeeded, else its problem.
fn ended(row: ExecutionRow) -> Result<HttpResponse, ApiError> {
    if row.status == "succeeded" {
        return Ok(HttpResponse::Ok().json(ExecutionView::from(row)));
    }
    Err(MeteringError::ExecutionEnded {
        id: row.id.to_string(),
        reason: row.error.clone().unwrap_or_else(|| row.status.clone()),
        status: row.status,
    }
    .into())
}

/// `event: <name>\ndata: <json>\n\n`
fn frame(name: &str, data: &impl serde::Serialize) -> web::Bytes {
    let data = serde_json::to_string(data).unwrap_or_default();
    web::Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The run's events as server-sent events, ending with `done` or `error`.
fn event_stream(row: ExecutionRow, progress: mpsc::Receiver<Progress>) -> HttpResponse {
    let opening = frame("execution", &ExecutionView::from(row));
    let events = stream::unfold(Some(progress), |state| async move {
        let mut progress = state?;
        let frame = match progress.recv().await {
            Some(Progress::Event(event)) => {
                return Some((Ok::<_, actix_web::Error>(frame(event.name(), &event)), Some(progress)));
            }
            Some(Progress::Finished(row)) if row.status == "succeeded" => {
                frame("done", &ExecutionView::from(*row))
            }
            Some(Progress::Finished(row)) => {
                let reason = row.error.clone().unwrap_or_else(|| row.status.clone());
                frame("error", &json!({ "reason": reason, "execution": ExecutionView::from(*row) }))
            }
            None => frame("error", &json!({ "reason": "the run's end could not be recorded" })),
        };
        Some((Ok(frame), None))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(stream::once(async move { Ok::<_, actix_web::Error>(opening) }).chain(events))
}

/// Get an execution
///
/// Needs `executions:read`; another tenant's executions are not found.
#[utoipa::path(
    get,
    path = "/v1/executions/{id}",
    operation_id = "get_execution",
    tag = "executions",
    params(("id" = String, Path, description = "`exe_…`")),
    responses((status = 200, description = "The execution", body = ExecutionView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn get_execution(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ExecutionsRead)?;
    let row = find_own(&database, &principal, &path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ExecutionView::from(row)))
}

async fn find_own(
    database: &Database,
    principal: &Principal,
    raw: &str,
) -> Result<ExecutionRow, MeteringError> {
    let id = ExecutionId::parse(raw).map_err(|_| MeteringError::ExecutionNotFound(raw.to_owned()))?;
    let principal = principal.clone();
    database
        .run(move |connection| {
            executions::find(connection, &id)?
                .filter(|row| principal.can_access_tenant(&row.tenant_id))
                .ok_or_else(|| MeteringError::ExecutionNotFound(id.to_string()))
        })
        .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListQuery {
    /// Only this capsule's (`publisher/name`).
    pub capsule: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Another tenant's (the operator's admin; without it the operator sees every tenant's).
    pub tenant_id: Option<TenantId>,
    pub cursor: Option<String>,
    /// 1 to 200; 50 by default.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// List executions
///
/// Newest first. Needs `executions:read`.
#[utoipa::path(
    get,
    path = "/v1/executions",
    operation_id = "list_executions",
    tag = "executions",
    params(ExecutionListQuery),
    responses((status = 200, description = "A page of executions", body = ExecutionPage), BadRequest, Unauthorized,
        Forbidden, NotFound, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_executions(
    principal: Principal,
    query: web::Query<ExecutionListQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ExecutionsRead)?;
    let query = query.into_inner();
    if let Some(status) = &query.status
        && !matches!(status.as_str(), "running" | "succeeded" | "failed" | "cancelled" | "timed_out")
    {
        return Err(MeteringError::InvalidQuery(
            "`status` is one of running, succeeded, failed, cancelled, timed_out".to_owned(),
        )
        .into());
    }
    let limit = match query.limit {
        None => 50,
        Some(limit) if (1..=200).contains(&limit) => limit,
        Some(_) => {
            return Err(MeteringError::InvalidQuery("`limit` must be between 1 and 200".to_owned()).into());
        }
    };
    let before = query.cursor.as_deref().map(Cursor::<ExecutionId>::decode).transpose()?;
    let filter = ExecutionFilter {
        tenant: tenant_scope(&principal, query.tenant_id)?,
        capsule: query.capsule,
        status: query.status,
    };
    let rows = database
        .run(move |connection| {
            executions::list(connection, &filter, before.as_ref(), limit).map_err(MeteringError::from)
        })
        .await?;
    let full = usize::try_from(limit).is_ok_and(|limit| rows.len() == limit);
    let next_cursor = rows.last().filter(|_| full).map(|last| Cursor::encode(&last.id));
    Ok(HttpResponse::Ok()
        .json(ExecutionPage { data: rows.into_iter().map(ExecutionView::from).collect(), next_cursor }))
}

/// Cancel an execution
///
/// Kills a running execution on its worker and answers it as it ended (`cancelled`).
/// Needs `executions:run`; an ended execution answers 409.
#[utoipa::path(
    delete,
    path = "/v1/executions/{id}",
    operation_id = "cancel_execution",
    tag = "executions",
    params(("id" = String, Path, description = "`exe_…`")),
    responses((status = 200, description = "The execution as it ended", body = ExecutionView), Unauthorized, Forbidden,
        NotFound, Conflict, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn cancel_execution(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ExecutionsRun)?;
    let row = find_own(&database, &principal, &path.into_inner()).await?;
    if row.status != "running" {
        return Err(MeteringError::ExecutionAlreadyEnded(row.id.to_string()).into());
    }
    runs::cancel(&metering.executions, &row).await?;
    // The dispatch records the end as soon as the worker reports it.
    for _ in 0..100 {
        let current = find_own(&database, &principal, row.id.as_str()).await?;
        if current.status != "running" {
            return Ok(HttpResponse::Ok().json(ExecutionView::from(current)));
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    let current = find_own(&database, &principal, row.id.as_str()).await?;
    Ok(HttpResponse::Ok().json(ExecutionView::from(current)))
}

/// List an execution's webhook deliveries
///
/// Each delivery with its attempts, last status or error, and next attempt. Needs
/// `executions:read`.
#[utoipa::path(
    get,
    path = "/v1/executions/{id}/deliveries",
    operation_id = "list_execution_deliveries",
    tag = "executions",
    params(("id" = String, Path, description = "`exe_…`")),
    responses((status = 200, description = "Deliveries", body = Vec<DeliveryView>), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_deliveries(
    principal: Principal,
    path: web::Path<String>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ExecutionsRead)?;
    let row = find_own(&database, &principal, &path.into_inner()).await?;
    let deliveries = database
        .run(move |connection| webhooks::of_execution(connection, &row.id).map_err(MeteringError::from))
        .await?;
    Ok(HttpResponse::Ok().json(deliveries.into_iter().map(DeliveryView::from).collect::<Vec<_>>()))
}
