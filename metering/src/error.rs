//! What metering and billing refuse, and how each refusal looks to a client.

use crate::domain::period::InvalidPeriod;
use caravan_core::money::MoneyError;
use caravan_core::{AuthError, DbError, ErrorKind, Problematic};
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    InvalidBatch(String),
    #[error(
        "send `application/cloudevents+json`, `application/cloudevents-batch+json` or `application/json`"
    )]
    UnsupportedContentType,
    #[error("a batch holds at most {max} events; this one holds {count}")]
    BatchTooLarge { count: usize, max: usize },
    #[error("the event was refused: {0}")]
    EventRejected(String),
    #[error("there is no meter `{meter}`; meters are: {known}")]
    UnknownMeter { meter: String, known: String },
    #[error("{0}")]
    InvalidQuery(String),
    #[error(transparent)]
    InvalidPeriod(#[from] InvalidPeriod),
    #[error("period {0} has not ended yet; it can be closed from its last day's end (UTC)")]
    PeriodNotEnded(String),
    #[error("invoice {0} not found")]
    InvoiceNotFound(String),
    #[error("invoice {id} is {status}; only open or unpaid invoices can be voided")]
    NotVoidable { id: String, status: String },
    #[error("`reason` must have 1 to 1000 characters")]
    InvalidVoidReason,
    #[error("tenant {0} not found")]
    TenantNotFound(String),
    #[error("Stripe is not configured on this server")]
    StripeNotConfigured,
    #[error("{0}")]
    InvalidStripeSignature(String),
    #[error("the monthly execution quota of {quota} is used up for {period}; it renews on the 1st (UTC)")]
    QuotaExceeded { quota: u64, used: u64, period: String },
    #[error(transparent)]
    Registry(#[from] caravan_registry::RegistryError),
    #[error("the input does not match the capsule's input_schema: {}", .errors.join("; "))]
    InvalidInput { errors: Vec<String> },
    #[error("{0}")]
    InvalidExecution(String),
    #[error("no worker of tier `{0}` is available; retry shortly")]
    NoWorker(String),
    #[error("execution {0} not found")]
    ExecutionNotFound(String),
    #[error("this Idempotency-Key was used for another request (capsule, version or input differ)")]
    IdempotencyKeyReused,
    #[error("the capsule is priced in {capsule}; this marketplace bills in {billing}")]
    CurrencyMismatch { capsule: String, billing: String },
    #[error("worker {0} not found")]
    WorkerNotFound(String),
    #[error("execution {id} {status}: {reason}")]
    ExecutionEnded { id: String, status: String, reason: String },
    #[error("execution {0} has ended already")]
    ExecutionAlreadyEnded(String),
    #[error("this endpoint is for workers: send `Authorization: Bearer <worker token>`")]
    WorkerUnauthorized,
    #[error("an amount cannot be computed exactly")]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for MeteringError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
    }
}

impl Problematic for MeteringError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Auth(error) => error.kind(),
            Self::InvalidBatch(_)
            | Self::InvalidQuery(_)
            | Self::InvalidPeriod(_)
            | Self::UnknownMeter { .. } => ErrorKind::BadRequest,
            Self::InvalidStripeSignature(_) => ErrorKind::BadRequest,
            Self::UnsupportedContentType => ErrorKind::UnsupportedMediaType,
            Self::BatchTooLarge { .. } => ErrorKind::PayloadTooLarge,
            Self::EventRejected(_) | Self::InvalidVoidReason => ErrorKind::Unprocessable,
            Self::PeriodNotEnded(_) | Self::NotVoidable { .. } | Self::StripeNotConfigured => {
                ErrorKind::Conflict
            }
            Self::InvoiceNotFound(_) | Self::TenantNotFound(_) => ErrorKind::NotFound,
            Self::QuotaExceeded { .. } => ErrorKind::TooManyRequests,
            Self::Registry(error) => error.kind(),
            Self::InvalidInput { .. } | Self::InvalidExecution(_) | Self::CurrencyMismatch { .. } => {
                ErrorKind::Unprocessable
            }
            Self::IdempotencyKeyReused => ErrorKind::Unprocessable,
            Self::NoWorker(_) => ErrorKind::Unavailable,
            Self::ExecutionNotFound(_) | Self::WorkerNotFound(_) => ErrorKind::NotFound,
            Self::ExecutionEnded { status, .. } => match status.as_str() {
                "timed_out" => ErrorKind::GatewayTimeout,
                "cancelled" => ErrorKind::Conflict,
                _ => ErrorKind::BadGateway,
            },
            Self::ExecutionAlreadyEnded(_) => ErrorKind::Conflict,
            Self::WorkerUnauthorized => ErrorKind::Unauthorized,
            Self::Money(_) => ErrorKind::Internal,
            Self::Database(error) => error.kind(),
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.slug(),
            Self::InvalidBatch(_) => "invalid-event-batch",
            Self::UnsupportedContentType => "unsupported-media-type",
            Self::BatchTooLarge { .. } => "batch-too-large",
            Self::EventRejected(_) => "invalid-event",
            Self::UnknownMeter { .. } => "unknown-meter",
            Self::InvalidQuery(_) => "invalid-usage-query",
            Self::InvalidPeriod(_) => "invalid-period",
            Self::PeriodNotEnded(_) => "period-not-ended",
            Self::InvoiceNotFound(_) => "invoice-not-found",
            Self::NotVoidable { .. } => "invoice-not-voidable",
            Self::InvalidVoidReason => "invalid-void-reason",
            Self::TenantNotFound(_) => "tenant-not-found",
            Self::StripeNotConfigured => "stripe-not-configured",
            Self::InvalidStripeSignature(_) => "invalid-stripe-signature",
            Self::QuotaExceeded { .. } => "quota-exceeded",
            Self::Registry(error) => error.slug(),
            Self::InvalidInput { .. } => "invalid-input",
            Self::InvalidExecution(_) => "invalid-execution",
            Self::NoWorker(_) => "no-worker-available",
            Self::ExecutionNotFound(_) => "execution-not-found",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::CurrencyMismatch { .. } => "currency-mismatch",
            Self::WorkerNotFound(_) => "worker-not-found",
            Self::ExecutionEnded { status, .. } => match status.as_str() {
                "timed_out" => "execution-timed-out",
                "cancelled" => "execution-cancelled",
                _ => "execution-failed",
            },
            Self::ExecutionAlreadyEnded(_) => "execution-ended",
            Self::WorkerUnauthorized => "worker-token-required",
            Self::Money(_) => "internal",
            Self::Database(error) => error.slug(),
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Auth(error) => error.title(),
            Self::InvalidBatch(_) => "Malformed event batch",
            Self::UnsupportedContentType => "Unsupported content type",
            Self::BatchTooLarge { .. } => "Batch too large",
            Self::EventRejected(_) => "Event refused",
            Self::UnknownMeter { .. } => "Unknown meter",
            Self::InvalidQuery(_) => "Invalid usage query",
            Self::InvalidPeriod(_) => "Invalid billing period",
            Self::PeriodNotEnded(_) => "Period not ended",
            Self::InvoiceNotFound(_) => "Invoice not found",
            Self::NotVoidable { .. } => "Invoice cannot be voided",
            Self::InvalidVoidReason => "Invalid void reason",
            Self::TenantNotFound(_) => "Tenant not found",
            Self::StripeNotConfigured => "Stripe not configured",
            Self::InvalidStripeSignature(_) => "Invalid Stripe signature",
            Self::QuotaExceeded { .. } => "Quota exceeded",
            Self::Registry(error) => error.title(),
            Self::InvalidInput { .. } => "Input does not match the schema",
            Self::InvalidExecution(_) => "Invalid execution request",
            Self::NoWorker(_) => "No worker available",
            Self::ExecutionNotFound(_) => "Execution not found",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::CurrencyMismatch { .. } => "Currency mismatch",
            Self::WorkerNotFound(_) => "Worker not found",
            Self::ExecutionEnded { status, .. } => match status.as_str() {
                "timed_out" => "Execution timed out",
                "cancelled" => "Execution cancelled",
                _ => "Execution failed",
            },
            Self::ExecutionAlreadyEnded(_) => "Execution already ended",
            Self::WorkerUnauthorized => "Worker token required",
            Self::Money(_) => "Internal error",
            Self::Database(error) => error.title(),
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        match self {
            Self::Auth(error) => error.extensions(),
            Self::QuotaExceeded { quota, used, period } => Map::from_iter([
                ("quota".to_owned(), Value::from(*quota)),
                ("used".to_owned(), Value::from(*used)),
                ("period".to_owned(), Value::from(period.clone())),
            ]),
            Self::BatchTooLarge { max, .. } => Map::from_iter([("max-events".to_owned(), Value::from(*max))]),
            Self::Registry(error) => error.extensions(),
            Self::InvalidInput { errors } => {
                Map::from_iter([("errors".to_owned(), Value::from(errors.clone()))])
            }
            Self::ExecutionEnded { id, .. } => {
                Map::from_iter([("execution_id".to_owned(), Value::from(id.clone()))])
            }
            _ => Map::new(),
        }
    }
}
