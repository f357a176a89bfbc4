//! The `executions` table.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::executions;
use caravan_core::id::{ApiKeyId, ExecutionId, TenantId};
use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Nullable, Text, Timestamp};

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
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl ExecutionRow {
    /// The row once `finish` is recorded on it.
    pub fn ended(&self, finish: &Finish) -> Self {
        Self {
            status: finish.status.clone(),
            output: finish.output.clone(),
            error: finish.error.clone(),
            tokens_in: finish.tokens_in,
            tokens_out: finish.tokens_out,
            tool_calls: finish.tool_calls,
            job_micros: finish.job_micros,
            finished_at: finish.finished_at,
            duration_ms: finish.duration_ms,
            ..self.clone()
        }
    }
}

/// Records the end of a run that is still `running`; false when it had ended already.
pub fn finish(connection: &mut DbConnection, id: &ExecutionId, finish: &Finish) -> QueryResult<bool> {
    let update = FinishRunning { id, finish };
    let updated = match connection {
        DbConnection::Sqlite(sqlite) => update.execute(sqlite)?,
        DbConnection::Postgres(postgres) => update.execute(postgres)?,
    };
    Ok(updated == 1)
}

/// [`finish`]'s UPDATE, written out so that it stays prepared: diesel prepares every
/// `UPDATE … SET` anew (a changeset may skip `None` fields, which changes the SQL), and
/// preparing it cost more than running it. This one writes `None` as NULL.
#[derive(Debug)]
struct FinishRunning<'a> {
    id: &'a ExecutionId,
    finish: &'a Finish,
}

impl QueryId for FinishRunning<'_> {
    type QueryId = FinishRunning<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for FinishRunning<'_>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    str: ToSql<Text, DB>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    Option<String>: ToSql<Nullable<Text>, DB>,
    Option<i64>: ToSql<Nullable<BigInt>, DB>,
    Option<NaiveDateTime>: ToSql<Nullable<Timestamp>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let finish = self.finish;
        out.push_sql("UPDATE executions SET status = ");
        out.push_bind_param::<Text, _>(&finish.status)?;
        for (column, text) in [(", output = ", &finish.output), (", error = ", &finish.error)] {
            out.push_sql(column);
            out.push_bind_param::<Nullable<Text>, _>(text)?;
        }
        for (column, count) in [
            (", tokens_in = ", &finish.tokens_in),
            (", tokens_out = ", &finish.tokens_out),
            (", tool_calls = ", &finish.tool_calls),
            (", job_micros = ", &finish.job_micros),
        ] {
            out.push_sql(column);
            out.push_bind_param::<BigInt, _>(count)?;
        }
        out.push_sql(", finished_at = ");
        out.push_bind_param::<Nullable<Timestamp>, _>(&finish.finished_at)?;
        out.push_sql(", duration_ms = ");
        out.push_bind_param::<Nullable<BigInt>, _>(&finish.duration_ms)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, str>(self.id.as_str())?;
        out.push_sql(" AND status = 'running'");
        Ok(())
    }
}

impl<Connection> RunQueryDsl<Connection> for FinishRunning<'_> {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ended(status: &str) -> Finish {
        Finish {
            status: status.to_owned(),
            output: None,
            error: Some("the worker stopped".to_owned()),
            tokens_in: 3,
            tokens_out: 4,
            tool_calls: 1,
            job_micros: 2_500_000,
            finished_at: Some(caravan_core::db::now()),
            duration_ms: Some(7),
        }
    }

    #[test]
    fn the_end_of_a_run_is_written_once_by_a_statement_prepared_once() {
        let mut sqlite = SqliteConnection::establish(":memory:").expect("an in-memory database");
        let ids = [ExecutionId::new(), ExecutionId::new()];
        sqlite
            .batch_execute(&format!(
                "CREATE TABLE executions (id TEXT PRIMARY KEY, status TEXT NOT NULL, output TEXT, error TEXT, \
                 tokens_in BIGINT, tokens_out BIGINT, tool_calls BIGINT, job_micros BIGINT, \
                 finished_at TIMESTAMP, duration_ms BIGINT); \
                 INSERT INTO executions (id, status, output) VALUES ('{}', 'running', 'old'), ('{}', 'running', NULL);",
                ids[0], ids[1]
            ))
            .expect("the table");
        let prepared = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&prepared);
        sqlite.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if matches!(event, InstrumentationEvent::CacheQuery { .. }) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut connection = DbConnection::Sqlite(sqlite);

        assert!(finish(&mut connection, &ids[0], &ended("failed")).expect("the first end"));
        assert!(finish(&mut connection, &ids[1], &ended("succeeded")).expect("the second end"));
        assert!(
            !finish(&mut connection, &ids[0], &ended("succeeded")).expect("a repeated end"),
            "ended already"
        );

        assert_eq!(prepared.load(Ordering::Relaxed), 1, "prepared once, then reused");
        let DbConnection::Sqlite(sqlite) = &mut connection else { unreachable!("an SQLite connection") };
        let row: (String, Option<String>, Option<String>, i64) = executions::table
            .find(&ids[0])
            .select((executions::status, executions::output, executions::error, executions::job_micros))
            .first(sqlite)
            .expect("the first run");
        assert_eq!(
            row,
            ("failed".to_owned(), None, Some("the worker stopped".to_owned()), 2_500_000),
            "None is NULL"
        );
    }
}
