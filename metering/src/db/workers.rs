//! The `workers` table: worker backends registered through the API (configured ones live
//! in the settings).

use caravan_core::db::DbConnection;
use caravan_core::db::schema::workers;
use caravan_core::id::WorkerId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = workers)]
pub struct WorkerRow {
    pub id: WorkerId,
    pub url: String,
    pub tier: String,
    pub created_at: NaiveDateTime,
}

pub fn all(connection: &mut DbConnection) -> QueryResult<Vec<WorkerRow>> {
    workers::table.order(workers::id.asc()).select(WorkerRow::as_select()).load(connection)
}

pub fn find_by_url(connection: &mut DbConnection, url: &str) -> QueryResult<Option<WorkerRow>> {
    workers::table.filter(workers::url.eq(url)).select(WorkerRow::as_select()).first(connection).optional()
}

pub fn insert(connection: &mut DbConnection, row: &WorkerRow) -> QueryResult<()> {
    diesel::insert_into(workers::table).values(row).execute(connection).map(drop)
}

pub fn delete(connection: &mut DbConnection, id: &WorkerId) -> QueryResult<bool> {
    Ok(diesel::delete(workers::table.find(id)).execute(connection)? == 1)
}
