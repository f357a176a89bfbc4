//! The `usage_events` table: the raw ledger, deduplicated by (tenant, source, id).

use caravan_core::db::DbConnection;
use caravan_core::db::schema::usage_events;
use caravan_core::id::{ApiKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, Nullable, Text, Timestamp};
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
            if !rows.is_empty() {
                inserted.extend(InsertNewPostgres::of(rows).load::<(String, String)>(postgres)?);
            }
        }
    }
    Ok(inserted)
}

/// The insert of any number of events on PostgreSQL as one statement whose text does not
/// depend on how many there are, so it stays prepared: each column goes in as one array,
/// unnested by the server into rows. diesel's multi-row insert was parsed and planned
/// anew for every batch, an execution's end included.
#[derive(Debug)]
struct InsertNewPostgres<'a> {
    tenant_ids: Vec<&'a str>,
    sources: Vec<&'a str>,
    event_ids: Vec<&'a str>,
    event_types: Vec<&'a str>,
    occurred_at: Vec<NaiveDateTime>,
    received_at: Vec<NaiveDateTime>,
    capsules: Vec<Option<&'a str>>,
    api_key_ids: Vec<Option<&'a str>>,
    events: Vec<&'a str>,
}

impl<'a> InsertNewPostgres<'a> {
    fn of(rows: &'a [EventRow]) -> Self {
        let text = |column: fn(&'a EventRow) -> &'a str| rows.iter().map(column).collect::<Vec<_>>();
        let time = |column: fn(&EventRow) -> NaiveDateTime| rows.iter().map(column).collect::<Vec<_>>();
        Self {
            tenant_ids: text(|row| row.tenant_id.as_str()),
            sources: text(|row| &row.source),
            event_ids: text(|row| &row.event_id),
            event_types: text(|row| &row.event_type),
            occurred_at: time(|row| row.occurred_at),
            received_at: time(|row| row.received_at),
            capsules: rows.iter().map(|row| row.capsule.as_deref()).collect(),
            api_key_ids: rows.iter().map(|row| row.api_key_id.as_ref().map(ApiKeyId::as_str)).collect(),
            events: text(|row| &row.event),
        }
    }
}

impl QueryId for InsertNewPostgres<'_> {
    type QueryId = InsertNewPostgres<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for InsertNewPostgres<'_> {
    type SqlType = (Text, Text);
}

impl QueryFragment<Pg> for InsertNewPostgres<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO usage_events (tenant_id, source, event_id, event_type, occurred_at, received_at, \
             capsule, api_key_id, event) SELECT * FROM UNNEST(",
        );
        for texts in [&self.tenant_ids, &self.sources, &self.event_ids, &self.event_types] {
            out.push_bind_param::<Array<Text>, _>(texts)?;
            out.push_sql(", ");
        }
        for times in [&self.occurred_at, &self.received_at] {
            out.push_bind_param::<Array<Timestamp>, _>(times)?;
            out.push_sql(", ");
        }
        for texts in [&self.capsules, &self.api_key_ids] {
            out.push_bind_param::<Array<Nullable<Text>>, _>(texts)?;
            out.push_sql(", ");
        }
        out.push_bind_param::<Array<Text>, _>(&self.events)?;
        out.push_sql(") ON CONFLICT DO NOTHING RETURNING source, event_id");
        Ok(())
    }
}

impl RunQueryDsl<PgConnection> for InsertNewPostgres<'_> {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use caravan_core::db::{Database, PoolOptions, write_transaction};
    use caravan_core::testing::{TestDatabase, count_preparations};
    use chrono::NaiveDate;
    use diesel::connection::SimpleConnection;
    use std::sync::atomic::Ordering;

    fn at(hour: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 24).and_then(|day| day.and_hms_opt(hour, 0, 0)).expect("time")
    }

    fn event(tenant: &TenantId, id: &str, capsule: Option<&str>, key: Option<&ApiKeyId>) -> EventRow {
        EventRow {
            tenant_id: tenant.clone(),
            source: "caravan/executions".to_owned(),
            event_id: id.to_owned(),
            event_type: "tokens".to_owned(),
            occurred_at: at(9),
            received_at: at(10),
            capsule: capsule.map(str::to_owned),
            api_key_id: key.cloned(),
            event: format!(r#"{{"id":"{id}"}}"#),
        }
    }

    /// On PostgreSQL when the suite runs there.
    #[test]
    fn new_events_are_inserted_whole_by_a_statement_prepared_once_and_duplicates_are_skipped() {
        let test_database = TestDatabase::create();
        let database = Database::connect(test_database.target(), &PoolOptions::default()).expect("connect");
        database.migrate().expect("migrate");
        let mut connection = database.connection().expect("connection");
        let tenant = TenantId::new();
        connection
            .batch_execute(&format!(
                "INSERT INTO tenants (id, name, plan, created_at, updated_at) \
                 VALUES ('{tenant}', 'Acme', 'free', '2026-11-01 00:00:00', '2026-11-01 00:00:00')"
            ))
            .expect("a tenant");
        let prepared = count_preparations(&mut connection, "INSERT INTO usage_events");
        let key = ApiKeyId::new();
        let first = vec![
            event(&tenant, "e1", Some("acme/echo"), Some(&key)),
            event(&tenant, "e2", None, None),
            event(&tenant, "e3", Some("acme/echo"), None),
        ];
        let second =
            vec![event(&tenant, "e2", Some("acme/other"), None), event(&tenant, "e4", None, Some(&key))];

        let on_postgres = matches!(*connection, DbConnection::Postgres(_));
        let mut insert = |rows: Vec<EventRow>| {
            write_transaction(&mut connection, |connection| insert_new(connection, &rows)).expect("insert")
        };
        let inserted_first = insert(first);
        let inserted_second = insert(second);
        let prepared_by_then = prepared.load(Ordering::Relaxed);
        let third = vec![
            event(&tenant, "e5", Some("acme/echo"), Some(&key)),
            event(&tenant, "e6", None, None),
            event(&tenant, "e7", Some("acme/echo"), None),
            event(&tenant, "e8", None, Some(&key)),
        ];
        insert(third);

        let keys = |ids: &[&str]| -> HashSet<(String, String)> {
            ids.iter().map(|id| ("caravan/executions".to_owned(), (*id).to_owned())).collect()
        };
        assert_eq!(inserted_first, keys(&["e1", "e2", "e3"]));
        assert_eq!(inserted_second, keys(&["e4"]), "e2 was a duplicate");
        assert_eq!(prepared.load(Ordering::Relaxed), prepared_by_then, "statements stay prepared");
        if on_postgres {
            // SQLite's row-by-row insert leaves absent optional columns out of its text: one
            // statement per combination, each prepared once.
            assert_eq!(prepared_by_then, 1, "one statement for any number of rows");
        }
        let stored = list(&mut connection, &tenant, at(0), at(23), None, 4).expect("list");
        let described: Vec<_> = stored
            .iter()
            .map(|row| {
                (row.event_id.as_str(), row.capsule.as_deref(), row.api_key_id.as_ref(), row.event.as_str())
            })
            .collect();
        assert_eq!(
            described,
            [
                ("e1", Some("acme/echo"), Some(&key), r#"{"id":"e1"}"#),
                ("e2", None, None, r#"{"id":"e2"}"#),
                ("e3", Some("acme/echo"), None, r#"{"id":"e3"}"#),
                ("e4", None, Some(&key), r#"{"id":"e4"}"#),
            ],
            "every column as given, the duplicate's second version not stored"
        );
        assert!(stored.iter().all(|row| (row.occurred_at, row.received_at) == (at(9), at(10))));
    }
}
