//! The `tenants` table.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::tenants;
use caravan_core::id::TenantId;
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub kind: String,
    pub plan: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tenants)]
pub struct TenantInsertForm<'a> {
    pub id: &'a TenantId,
    pub name: &'a str,
    pub kind: &'a str,
    pub plan: &'a str,
    pub status: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = tenants)]
pub struct TenantUpdateForm<'a> {
    pub plan: Option<&'a str>,
    pub status: Option<&'a str>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(connection: &mut DbConnection, form: &TenantInsertForm<'_>) -> QueryResult<Tenant> {
    diesel::insert_into(tenants::table).values(form).execute(connection)?;
    find(connection, form.id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn find(connection: &mut DbConnection, id: &TenantId) -> QueryResult<Option<Tenant>> {
    tenants::table.find(id).select(Tenant::as_select()).first(connection).optional()
}

pub fn find_operator(connection: &mut DbConnection) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(tenants::kind.eq("operator"))
        .select(Tenant::as_select())
        .first(connection)
        .optional()
}

/// Tenants after `cursor` in id (creation) order.
pub fn list(
    connection: &mut DbConnection,
    cursor: Option<&TenantId>,
    limit: i64,
) -> QueryResult<Vec<Tenant>> {
    let mut query =
        tenants::table.select(Tenant::as_select()).order(tenants::id.asc()).limit(limit).into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(tenants::id.gt(cursor.clone()));
    }
    query.load(connection)
}

pub fn update(
    connection: &mut DbConnection,
    id: &TenantId,
    form: &TenantUpdateForm<'_>,
) -> QueryResult<Tenant> {
    diesel::update(tenants::table.find(id)).set(form).execute(connection)?;
    find(connection, id)?.ok_or(diesel::result::Error::NotFound)
}
