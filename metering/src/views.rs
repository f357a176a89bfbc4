//! What the metering API answers: invoices and their lines, closed periods, meters and
//! ingestion results. Amounts appear twice: exact decimals as strings (`"12.34"`) and
//! integer minor units (`1234`).

use crate::billing::ClosedPeriod;
use crate::db::invoices::{InvoiceRow, LineRow};
use crate::domain::meter::{Aggregation, Meter};
use crate::domain::pricing::{LineDraft, LineKind};
use crate::ingest::Outcome;
use caravan_core::id::{InvoiceId, InvoiceLineId, TenantId};
use caravan_core::money::{Currency, Decimal, from_minor_units};
use chrono::NaiveDateTime;
use serde::Serialize;
use std::str::FromStr;
use utoipa::ToSchema;

/// The result for one event of a request, in the order sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventResult {
    pub id: Option<String>,
    pub source: Option<String>,
    pub status: EventStatus,
    /// Why a rejected event was not recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Recorded now.
    Accepted,
    /// An event with this source and id was recorded before; nothing changed.
    Duplicate,
    /// Not recorded; `reason` says why.
    Rejected,
}

impl EventResult {
    pub fn new(id: Option<String>, source: Option<String>, outcome: Outcome) -> Self {
        let (status, reason) = match outcome {
            Outcome::Accepted => (EventStatus::Accepted, None),
            Outcome::Duplicate => (EventStatus::Duplicate, None),
            Outcome::Rejected { reason } => (EventStatus::Rejected, Some(reason)),
        };
        Self { id, source, status, reason }
    }
}

/// The answer to `POST /v1/events`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({ "accepted": 1, "duplicates": 1, "rejected": 0, "results": [
    { "id": "run-42-tokens", "source": "my-runtime", "status": "accepted" },
    { "id": "run-41-tokens", "source": "my-runtime", "status": "duplicate" }] }))]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub results: Vec<EventResult>,
}

impl IngestResponse {
    pub fn new(results: Vec<EventResult>) -> Self {
        let count = |wanted: EventStatus| results.iter().filter(|result| result.status == wanted).count();
        Self {
            accepted: count(EventStatus::Accepted),
            duplicates: count(EventStatus::Duplicate),
            rejected: count(EventStatus::Rejected),
            results,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeterView {
    pub slug: String,
    pub description: String,
    pub event_type: String,
    pub aggregation: Aggregation,
    /// The `data` field it reads; none for `count`.
    pub value_property: Option<String>,
    /// Names usage can be grouped by, beside `capsule` and `key`.
    pub group_by: Vec<String>,
}

impl From<&Meter> for MeterView {
    fn from(meter: &Meter) -> Self {
        Self {
            slug: meter.slug.clone(),
            description: meter.description.clone(),
            event_type: meter.event_type.clone(),
            aggregation: meter.aggregation,
            value_property: meter.value_property(),
            group_by: meter.group_names().map(str::to_owned).collect(),
        }
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineView {
    pub id: Option<InvoiceLineId>,
    pub kind: LineKind,
    pub meter: Option<String>,
    pub capsule: Option<String>,
    pub description: String,
    /// Exact decimal.
    #[schema(value_type = String, example = "500")]
    pub quantity: Decimal,
    /// Exact decimal, in the invoice's currency.
    #[schema(value_type = String, example = "0.002")]
    pub unit_price: Decimal,
    /// `quantity × unit_price` (+ a tier's flat price), rounded once to the minor unit,
    /// half away from zero.
    #[schema(value_type = String, example = "1.00")]
    pub amount: Decimal,
    pub amount_minor: i64,
    pub stripe_invoice_item_id: Option<String>,
}

impl LineView {
    pub fn from_row(row: LineRow, currency: &Currency) -> Self {
        Self {
            id: Some(row.id),
            kind: LineKind::parse(&row.kind).unwrap_or(LineKind::Usage),
            meter: row.meter,
            capsule: row.capsule,
            description: row.description,
            quantity: Decimal::from_str(&row.quantity).unwrap_or_default(),
            unit_price: Decimal::from_str(&row.unit_price).unwrap_or_default(),
            amount: from_minor_units(row.amount_minor, currency),
            amount_minor: row.amount_minor,
            stripe_invoice_item_id: row.stripe_invoice_item_id,
        }
    }

    pub fn from_draft(draft: LineDraft, currency: &Currency) -> Self {
        Self {
            id: None,
            kind: draft.kind,
            meter: draft.meter,
            capsule: draft.capsule,
            description: draft.description,
            quantity: draft.quantity.normalize(),
            unit_price: draft.unit_price.normalize(),
            amount: from_minor_units(draft.amount_minor, currency),
            amount_minor: draft.amount_minor,
            stripe_invoice_item_id: None,
        }
    }
}

/// Where an invoice stands with Stripe.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StripeView {
    /// `disabled` (no Stripe configured), `pending`, `synced` or `failed`.
    pub status: String,
    pub invoice_id: Option<String>,
    /// The page where the customer pays.
    pub hosted_url: Option<String>,
    #[serde(with = "caravan_core::utc::option")]
    pub synced_at: Option<NaiveDateTime>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({ "id": "inv_01JD8X3ZQK9V6R2N4T7W5YB1CM", "tenant_id": "ten_01JD8X3ZQK9V6R2N4T7W5YB1CM",
    "period": "2026-10", "plan": "pro", "currency": "usd", "status": "open", "total": "50.00", "total_minor": 5000,
    "created_at": "2026-11-01T00:05:00", "stripe": { "status": "synced", "invoice_id": "in_1Q", "hosted_url": null,
    "synced_at": "2026-11-01T00:05:02", "error": null }, "lines": [] }))]
pub struct InvoiceView {
    pub id: InvoiceId,
    pub tenant_id: TenantId,
    /// `YYYY-MM`.
    pub period: String,
    pub plan: String,
    pub currency: String,
    /// `open`, `paid`, `payment_failed` or `void`.
    pub status: String,
    #[schema(value_type = String, example = "50.00")]
    pub total: Decimal,
    pub total_minor: i64,
    pub created_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub voided_at: Option<NaiveDateTime>,
    pub void_reason: Option<String>,
    pub stripe: StripeView,
    /// Present on `GET /v1/invoices/{id}`; empty in lists.
    pub lines: Vec<LineView>,
}

impl InvoiceView {
    pub fn new(row: InvoiceRow, lines: Vec<LineRow>) -> Self {
        let currency = Currency::parse(&row.currency).unwrap_or_else(|_| Currency::usd());
        Self {
            total: from_minor_units(row.total_minor, &currency),
            lines: lines.into_iter().map(|line| LineView::from_row(line, &currency)).collect(),
            id: row.id,
            tenant_id: row.tenant_id,
            period: row.period,
            plan: row.plan,
            currency: row.currency,
            status: row.status,
            total_minor: row.total_minor,
            created_at: row.created_at,
            paid_at: row.paid_at,
            voided_at: row.voided_at,
            void_reason: row.void_reason,
            stripe: StripeView {
                status: row.stripe_status,
                invoice_id: row.stripe_invoice_id,
                hosted_url: row.stripe_hosted_url,
                synced_at: row.stripe_synced_at,
                error: row.stripe_error,
            },
        }
    }
}

/// A page of invoices, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoicePage {
    pub data: Vec<InvoiceView>,
    pub next_cursor: Option<String>,
}

/// The invoice the open period would get if it closed now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpcomingInvoice {
    pub tenant_id: TenantId,
    pub period: String,
    pub plan: String,
    pub currency: String,
    #[schema(value_type = String, example = "49.00")]
    pub total: Decimal,
    pub total_minor: i64,
    /// When the figures were computed; usage after this is not included.
    #[serde(with = "caravan_core::utc")]
    pub as_of: NaiveDateTime,
    pub lines: Vec<LineView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClosedPeriodView {
    pub period: String,
    #[serde(with = "caravan_core::utc")]
    pub closed_at: NaiveDateTime,
    /// The key that closed it.
    pub closed_by: String,
    pub invoice_count: i64,
    /// False when an earlier request had closed it already.
    pub closed_now: bool,
}

impl From<ClosedPeriod> for ClosedPeriodView {
    fn from(closed: ClosedPeriod) -> Self {
        Self {
            period: closed.row.period,
            closed_at: closed.row.closed_at,
            closed_by: closed.row.closed_by,
            invoice_count: closed.row.invoice_count,
            closed_now: closed.closed_now,
        }
    }
}

/// An execution of a capsule.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({ "id": "exe_01JD8X3ZQK9V6R2N4T7W5YB1CM", "capsule": "acme/echo", "version": "1.0.0",
    "mode": "sync", "status": "succeeded", "input": { "text": "hi" }, "output": { "text": "hi" }, "error": null,
    "usage": { "tokens_in": 0, "tokens_out": 0, "tool_calls": 0, "job_seconds": "0.012" },
    "created_at": "2026-11-22T10:00:00", "finished_at": "2026-11-22T10:00:00.020", "duration_ms": 20 }))]
pub struct ExecutionView {
    pub id: caravan_core::id::ExecutionId,
    pub tenant_id: TenantId,
    pub capsule: String,
    /// The version the requirement resolved to.
    pub version: String,
    pub digest: String,
    pub tier: String,
    /// `sync`, `stream` or `async`.
    pub mode: String,
    /// `running`, `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: String,
    pub input: serde_json::Value,
    /// The capsule's result, once it succeeded.
    pub output: Option<serde_json::Value>,
    /// Why it did not succeed.
    pub error: Option<String>,
    pub usage: ExecutionUsage,
    /// The capsule's per-execution price, charged when it succeeds.
    pub unit_price: Option<String>,
    pub webhook_url: Option<String>,
    pub idempotency_key: Option<String>,
    #[serde(with = "caravan_core::utc")]
    pub created_at: NaiveDateTime,
    #[serde(with = "caravan_core::utc::option")]
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionUsage {
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool_calls: i64,
    /// Exact decimal seconds of the entrypoint's run.
    #[schema(value_type = String, example = "0.012")]
    pub job_seconds: Decimal,
}

impl From<crate::db::executions::ExecutionRow> for ExecutionView {
    fn from(row: crate::db::executions::ExecutionRow) -> Self {
        let json = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        Self {
            input: json(&row.input),
            output: row.output.as_deref().map(json),
            usage: ExecutionUsage {
                tokens_in: row.tokens_in,
                tokens_out: row.tokens_out,
                tool_calls: row.tool_calls,
                job_seconds: caravan_core::money::micros_to_quantity(row.job_micros),
            },
            id: row.id,
            tenant_id: row.tenant_id,
            capsule: row.capsule,
            version: row.version,
            digest: row.digest,
            tier: row.tier,
            mode: row.mode,
            status: row.status,
            error: row.error,
            unit_price: row.unit_price,
            webhook_url: row.webhook_url,
            idempotency_key: row.idempotency_key,
            created_at: row.created_at,
            finished_at: row.finished_at,
            duration_ms: row.duration_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExecutionPage {
    pub data: Vec<ExecutionView>,
    pub next_cursor: Option<String>,
}

/// One webhook of an execution and its attempts so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: caravan_core::id::DeliveryId,
    /// The event's id, the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    pub attempts: i64,
    #[serde(with = "caravan_core::utc::option")]
    pub delivered_at: Option<NaiveDateTime>,
    /// When the next attempt is due; none once delivered or given up.
    #[serde(with = "caravan_core::utc::option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    #[serde(with = "caravan_core::utc")]
    pub created_at: NaiveDateTime,
}

impl From<crate::db::webhooks::DeliveryRow> for DeliveryView {
    fn from(row: crate::db::webhooks::DeliveryRow) -> Self {
        Self {
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            url: row.url,
            attempts: row.attempts,
            delivered_at: row.delivered_at,
            next_attempt_at: row.next_attempt_at,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: row.created_at,
        }
    }
}

/// The secrets that sign a tenant's webhooks, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookSecrets {
    pub secrets: Vec<WebhookSecretView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookSecretView {
    pub id: caravan_core::id::WebhookSecretId,
    /// `whsec_…`: verify `Caravan-Signature` with it.
    pub secret: String,
    #[serde(with = "caravan_core::utc")]
    pub created_at: NaiveDateTime,
    /// When it stops signing; none for the current one.
    #[serde(with = "caravan_core::utc::option")]
    pub expires_at: Option<NaiveDateTime>,
}

impl From<crate::db::webhooks::SecretRow> for WebhookSecretView {
    fn from(row: crate::db::webhooks::SecretRow) -> Self {
        Self { id: row.id, secret: row.secret, created_at: row.created_at, expires_at: row.expires_at }
    }
}
