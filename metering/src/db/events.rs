//! The `usage_events` table: the raw ledger, deduplicated by (tenant, source, id).

use caravan_core::db::DbConnection;
use caravan_core::db::schema::usage_events;
use caravan_core::id::{ApiKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashSet;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = usage_events)]
pub struct EventRow {
    pub tenant_id: TenantId,
    pub source: String,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub capsule: Option<String>,
    pub api_key_id: Option<ApiKeyId>,
    /// The event as accepted, CloudEvents JSON.
    pub event: String,
}

/// Inserts the rows whose (tenant, source, id) is new and returns the (source, id) of
/// those it inserted; the others are duplicates. Call it inside a write transaction.
pub fn insert_new(
    connection: &mut DbConnection,
    rows: &[EventRow],
) -> QueryResult<HashSet<(String, String)>> {
    let mut inserted = HashSet::with_capacity(rows.len());
    match connection {
        // One statement per row: its count says whether the row was new (diesel's
        // row-by-row RETURNING on SQLite fails on a row that conflicts).
        DbConnection::Sqlite(sqlite) => {
            for row in rows {
                let count = diesel::insert_into(usage_events::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(sqlite)?;
                if count == 1 {
                    inserted.insert((row.source.clone(), row.event_id.clone()));
                }
            }
        }
        DbConnection::Postgres(postgres) => {
            // Nine parameters a row; PostgreSQL takes at most 65,535 per statement.
            for chunk in rows.chunks(1000) {
                let keys: Vec<(String, String)> = diesel::insert_into(usage_events::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .returning((usage_events::source, usage_events::event_id))
                    .get_results(postgres)?;
                inserted.extend(keys);
            }
        }
    }
    Ok(inserted)
}

/// A page of a tenant's events in `[from, to)`, oldest first, after the cursor
/// `(occurred_at, source, event_id)`.
pub fn list(
    connection: &mut DbConnection,
    tenant: &TenantId,
    from: NaiveDateTime,
    to: NaiveDateTime,
    after: Option<&(NaiveDateTime, String, String)>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = usage_events::table
        .select(EventRow::as_select())
        .filter(usage_events::tenant_id.eq(tenant.clone()))
        .filter(usage_events::occurred_at.ge(from))
        .filter(usage_events::occurred_at.lt(to))
        .order((usage_events::occurred_at.asc(), usage_events::source.asc(), usage_events::event_id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((time, source, id)) = after {
        query = query.filter(
            usage_events::occurred_at.gt(*time).or(usage_events::occurred_at.eq(*time).and(
                usage_events::source
                    .gt(source.clone())
                    .or(usage_events::source.eq(source.clone()).and(usage_events::event_id.gt(id.clone()))),
            )),
        );
    }
    query.load(connection)
}
