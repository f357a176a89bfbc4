//! `webhook_deliveries` (the outbox) and `webhook_secrets`.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{webhook_deliveries, webhook_secrets};
use caravan_core::id::{DeliveryId, ExecutionId, TenantId, WebhookSecretId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub execution_id: ExecutionId,
    pub event_id: String,
    pub event_type: String,
    pub url: String,
    /// The JSON body, exactly as signed and sent.
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub delivered_at: Option<NaiveDateTime>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_secrets)]
pub struct SecretRow {
    pub id: WebhookSecretId,
    pub tenant_id: TenantId,
    pub secret: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn enqueue(connection: &mut DbConnection, row: &DeliveryRow) -> QueryResult<()> {
    diesel::insert_into(webhook_deliveries::table).values(row).execute(connection).map(drop)
}

/// Deliveries due at `now`, oldest first.
pub fn due(connection: &mut DbConnection, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(connection)
}

/// Takes a due delivery for `lease_until`, so another replica does not send it at the
/// same time; false when someone else took it first.
pub fn lease(
    connection: &mut DbConnection,
    id: &DeliveryId,
    seen_next: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<bool> {
    let updated = diesel::update(
        webhook_deliveries::table.find(id).filter(webhook_deliveries::next_attempt_at.eq(seen_next)),
    )
    .set(webhook_deliveries::next_attempt_at.eq(lease_until))
    .execute(connection)?;
    Ok(updated == 1)
}

/// Records one attempt: its status or error, and when to try again (`None`: delivered or
/// given up).
pub fn record_attempt(
    connection: &mut DbConnection,
    id: &DeliveryId,
    status: Option<i64>,
    error: Option<&str>,
    delivered_at: Option<NaiveDateTime>,
    next_attempt_at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status.eq(status),
            webhook_deliveries::last_error.eq(error),
            webhook_deliveries::delivered_at.eq(delivered_at),
            webhook_deliveries::next_attempt_at.eq(next_attempt_at),
        ))
        .execute(connection)
        .map(drop)
}

pub fn of_execution(connection: &mut DbConnection, execution: &ExecutionId) -> QueryResult<Vec<DeliveryRow>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::execution_id.eq(execution))
        .order(webhook_deliveries::id.asc())
        .select(DeliveryRow::as_select())
        .load(connection)
}

/// The tenant's secrets still signing at `now`, newest first.
pub fn live_secrets(
    connection: &mut DbConnection,
    tenant: &TenantId,
    now: NaiveDateTime,
) -> QueryResult<Vec<SecretRow>> {
    webhook_secrets::table
        .filter(webhook_secrets::tenant_id.eq(tenant))
        .filter(webhook_secrets::expires_at.is_null().or(webhook_secrets::expires_at.gt(now)))
        .order(webhook_secrets::id.desc())
        .select(SecretRow::as_select())
        .load(connection)
}

pub fn insert_secret(connection: &mut DbConnection, row: &SecretRow) -> QueryResult<()> {
    diesel::insert_into(webhook_secrets::table).values(row).execute(connection).map(drop)
}

/// Makes every secret of the tenant but `keep` stop signing at `at`.
pub fn expire_others(
    connection: &mut DbConnection,
    tenant: &TenantId,
    keep: &WebhookSecretId,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        webhook_secrets::table
            .filter(webhook_secrets::tenant_id.eq(tenant))
            .filter(webhook_secrets::id.ne(keep))
            .filter(webhook_secrets::expires_at.is_null().or(webhook_secrets::expires_at.gt(at))),
    )
    .set(webhook_secrets::expires_at.eq(at))
    .execute(connection)
    .map(drop)
}
