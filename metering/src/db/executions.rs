//! The `executions` table.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::executions;
use caravan_core::id::{ApiKeyId, ExecutionId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = executions)]
pub struct ExecutionRow {
    pub id: ExecutionId,
    pub tenant_id: TenantId,
    pub api_key_id: ApiKeyId,
    pub capsule: String,
    pub version: String,
    pub digest: String,
    pub tier: String,
    /// `sync`, `stream` or `async`.
    pub mode: String,
    /// `running`, `succeeded`, `failed`, `cancelled` or `timed_out`.
    pub status: String,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    /// JSON.
    pub input: String,
    /// JSON, once succeeded.
    pub output: Option<String>,
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub webhook_url: Option<String>,
    pub unit_price: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool_calls: i64,
    pub job_micros: i64,
    pub created_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

/// How a run ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = executions)]
pub struct Finish {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tool_calls: i64,
    pub job_micros: i64,
    pub finished_at: Option<NaiveDateTime>,
    pub duration_ms: Option<i64>,
}

pub fn insert(connection: &mut DbConnection, row: &ExecutionRow) -> QueryResult<()> {
    diesel::insert_into(executions::table).values(row).execute(connection).map(drop)
}

pub fn find(connection: &mut DbConnection, id: &ExecutionId) -> QueryResult<Option<ExecutionRow>> {
    executions::table.find(id).select(ExecutionRow::as_select()).first(connection).optional()
}

pub fn find_by_key(
    connection: &mut DbConnection,
    tenant: &TenantId,
    key: &str,
) -> QueryResult<Option<ExecutionRow>> {
    executions::table
        .filter(executions::tenant_id.eq(tenant))
        .filter(executions::idempotency_key.eq(key))
        .select(ExecutionRow::as_select())
        .first(connection)
        .optional()
}

/// Records the end of a run that is still `running`; false when it had ended already.
pub fn finish(connection: &mut DbConnection, id: &ExecutionId, finish: &Finish) -> QueryResult<bool> {
    let updated = diesel::update(executions::table.find(id).filter(executions::status.eq("running")))
        .set(finish)
        .execute(connection)?;
    Ok(updated == 1)
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub tenant: Option<TenantId>,
    pub capsule: Option<String>,
    pub status: Option<String>,
}

/// Newest first, before the cursor.
pub fn list(
    connection: &mut DbConnection,
    filter: &ExecutionFilter,
    before: Option<&ExecutionId>,
    limit: i64,
) -> QueryResult<Vec<ExecutionRow>> {
    let mut query = executions::table
        .select(ExecutionRow::as_select())
        .order(executions::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(tenant) = &filter.tenant {
        query = query.filter(executions::tenant_id.eq(tenant.clone()));
    }
    if let Some(capsule) = &filter.capsule {
        query = query.filter(executions::capsule.eq(capsule.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(executions::status.eq(status.clone()));
    }
    if let Some(before) = before {
        query = query.filter(executions::id.lt(before.clone()));
    }
    query.load(connection)
}

/// Executions marked running that started before `before`: the sweeper asks their
/// workers whether they still run.
pub fn running_since(connection: &mut DbConnection, before: NaiveDateTime) -> QueryResult<Vec<ExecutionRow>> {
    executions::table
        .filter(executions::status.eq("running"))
        .filter(executions::created_at.lt(before))
        .select(ExecutionRow::as_select())
        .load(connection)
}
