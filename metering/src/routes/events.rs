//! `POST /v1/events` (ingest CloudEvents, one or a batch) and `GET /v1/events` (the raw
//! ledger, to recompute invoices from).

use super::{Cursor, tenant_scope};
use crate::Metering;
use crate::db::events;
use crate::domain::event::UsageEvent;
use crate::domain::period::Period;
use crate::error::MeteringError;
use crate::ingest::{self, MAX_BATCH, Outcome};
use crate::views::{EventResult, IngestResponse};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::error::responses::{
    BadRequest, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::id::TenantId;
use caravan_core::{ApiError, Database, Principal, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

/// The largest request body of `POST /v1/events`.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A CloudEvents 1.0 event in JSON, as `POST /v1/events` reads it. Caravan meters
/// `caravan.usage` events: `data.capsule` names the capsule, and the built-in meters read
/// `executions`, `tokens_in`, `tokens_out`, `tool_calls` and `job_seconds` from `data`;
/// operator meters read the fields they name. Other attributes are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // describes the request body; events are checked by `UsageEvent::parse`
pub struct CloudEvent {
    /// Always `1.0`.
    #[schema(example = "1.0")]
    specversion: String,
    /// Unique within `source`: an event whose `source` and `id` were seen before is a duplicate.
    id: String,
    /// Who sent it; sources starting with `caravan/` are reserved.
    source: String,
    #[serde(rename = "type")]
    #[schema(example = "caravan.usage")]
    event_type: String,
    /// RFC 3339; when it arrived if absent.
    time: Option<DateTime<Utc>>,
    subject: Option<String>,
    /// A JSON object of up to 16 KiB.
    #[schema(value_type = Option<std::collections::HashMap<String, Value>>)]
    data: Option<Value>,
}

/// Send usage events
///
/// CloudEvents 1.0 in JSON: one event (`application/cloudevents+json`) or a batch of up to
/// 1,000 (`application/cloudevents-batch+json`, or `application/json` with an array).
/// Each event is answered on its own: `accepted`, `duplicate` (its `source` and `id`
/// were seen before; nothing changes) or `rejected` with a reason. An accepted event is
/// durable before the answer is sent, so retrying anything that got no answer is safe.
/// A single event that is rejected answers 422. Needs `usage:write`.
#[utoipa::path(
    post,
    path = "/v1/events",
    operation_id = "ingest_events",
    tag = "metering",
    request_body(content = Vec<CloudEvent>, description = "One CloudEvent or an array of them",
        content_type = "application/cloudevents-batch+json",
        example = json!([{ "specversion": "1.0", "id": "run-42-tokens", "source": "my-runtime",
            "type": "caravan.usage", "time": "2026-11-22T10:00:00Z",
            "data": { "capsule": "acme/echo", "tokens_in": 1200, "tokens_out": 340 } }])),
    responses((status = 200, description = "Each event's outcome", body = IngestResponse), BadRequest, Unauthorized,
        Forbidden, PayloadTooLarge, (status = 415, description = "Not a JSON content type",
        content_type = "application/problem+json"), Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn ingest_events(
    principal: Principal,
    request: HttpRequest,
    body: web::Bytes,
    database: web::Data<Database>,
    metering: web::Data<Metering>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::UsageWrite)?;
    let single = match media_type(&request).as_deref() {
        Some("application/cloudevents+json") => true,
        Some("application/cloudevents-batch+json" | "application/json") => false,
        _ => return Err(MeteringError::UnsupportedContentType.into()),
    };
    let document: Value = serde_json::from_slice(&body)
        .map_err(|error| MeteringError::InvalidBatch(format!("the body is not JSON: {error}")))?;
    let (documents, single) = match document {
        Value::Array(events) if !single => (events, false),
        Value::Array(_) => {
            return Err(MeteringError::InvalidBatch(
                "`application/cloudevents+json` carries one event; send arrays as \
                `application/cloudevents-batch+json`"
                    .to_owned(),
            )
            .into());
        }
        event => (vec![event], true),
    };
    if documents.is_empty() {
        return Err(MeteringError::InvalidBatch("the batch is empty".to_owned()).into());
    }
    if documents.len() > MAX_BATCH {
        return Err(MeteringError::BatchTooLarge { count: documents.len(), max: MAX_BATCH }.into());
    }
    let labels: Vec<(Option<String>, Option<String>)> = documents
        .iter()
        .map(|event| (event["id"].as_str().map(str::to_owned), event["source"].as_str().map(str::to_owned)))
        .collect();
    let parsed: Vec<_> = documents.into_iter().map(UsageEvent::parse).collect();
    let outcomes = database
        .run(move |connection| {
            let now = caravan_core::db::now();
            ingest::ingest(
                connection,
                &metering.meters,
                &principal.tenant_id,
                principal.require_key()?,
                parsed,
                now,
            )
        })
        .await?;
    if single && let Some(Outcome::Rejected { reason }) = outcomes.first() {
        return Err(MeteringError::EventRejected(reason.clone()).into());
    }
    let results =
        labels.into_iter().zip(outcomes).map(|((id, source), outcome)| EventResult::new(id, source, outcome));
    Ok(HttpResponse::Ok().json(IngestResponse::new(results.collect())))
}

fn media_type(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Start (inclusive); the start of the current period by default.
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive); now by default.
    pub to: Option<DateTime<Utc>>,
    /// Another tenant's events (the operator's admin only).
    pub tenant_id: Option<TenantId>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 1000; 100 by default.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events as accepted, CloudEvents JSON, oldest first.
    pub data: Vec<Object>,
    pub next_cursor: Option<String>,
}

/// A CloudEvent, as JSON.
pub type Object = Value;

/// List usage events
///
/// The raw events a tenant's usage and invoices are computed from, oldest first. Needs
/// `usage:read`.
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "list_events",
    tag = "metering",
    params(EventsQuery),
    responses((status = 200, description = "A page of events", body = EventPage), BadRequest, Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn list_events(
    principal: Principal,
    query: web::Query<EventsQuery>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::UsageRead)?;
    let query = query.into_inner();
    let tenant =
        tenant_scope(&principal, query.tenant_id.clone())?.unwrap_or_else(|| principal.tenant_id.clone());
    let limit = match query.limit {
        None => 100,
        Some(limit) if (1..=1000).contains(&limit) => limit,
        Some(_) => {
            return Err(MeteringError::InvalidQuery("`limit` must be between 1 and 1000".to_owned()).into());
        }
    };
    let now = caravan_core::db::now();
    let from = query.from.map_or_else(|| Period::containing(now).start(), |time| time.naive_utc());
    let to = query.to.map_or(now, |time| time.naive_utc());
    let after =
        query.cursor.as_deref().map(Cursor::<(chrono::NaiveDateTime, String, String)>::decode).transpose()?;
    let rows = database
        .run(move |connection| {
            events::list(connection, &tenant, from, to, after.as_ref(), limit).map_err(MeteringError::from)
        })
        .await?;
    let full = usize::try_from(limit).is_ok_and(|limit| rows.len() == limit);
    let next_cursor = rows
        .last()
        .filter(|_| full)
        .map(|last| Cursor::encode(&(last.occurred_at, last.source.clone(), last.event_id.clone())));
    let events = rows.iter().map(|row| serde_json::from_str(&row.event).unwrap_or(Value::Null)).collect();
    Ok(HttpResponse::Ok().json(EventPage { data: events, next_cursor }))
}
