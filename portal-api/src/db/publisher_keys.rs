//! The `namespaces` and `publisher_keys` tables.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{namespaces, publisher_keys};
use caravan_core::id::{PublisherKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = namespaces)]
pub struct Namespace {
    pub name: String,
    pub tenant_id: TenantId,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = publisher_keys)]
pub struct PublisherKey {
    pub id: PublisherKeyId,
    pub namespace: String,
    pub name: String,
    pub public_key_pem: String,
    pub fingerprint: String,
    pub created_at: NaiveDateTime,
    pub retired_at: Option<NaiveDateTime>,
}

pub fn find_namespace(connection: &mut DbConnection, name: &str) -> QueryResult<Option<Namespace>> {
    namespaces::table.find(name).select(Namespace::as_select()).first(connection).optional()
}

/// The namespaces a tenant owns, by name.
pub fn namespaces_of(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<String>> {
    namespaces::table
        .filter(namespaces::tenant_id.eq(tenant))
        .order(namespaces::name.asc())
        .select(namespaces::name)
        .load(connection)
}

pub fn claim_namespace(
    connection: &mut DbConnection,
    name: &str,
    tenant: &TenantId,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(namespaces::table)
        .values((namespaces::name.eq(name), namespaces::tenant_id.eq(tenant), namespaces::created_at.eq(at)))
        .execute(connection)
        .map(drop)
}

pub fn insert(connection: &mut DbConnection, key: &PublisherKey) -> QueryResult<()> {
    diesel::insert_into(publisher_keys::table).values(key).execute(connection).map(drop)
}

pub fn find_by_fingerprint(
    connection: &mut DbConnection,
    namespace: &str,
    fingerprint: &str,
) -> QueryResult<Option<PublisherKey>> {
    publisher_keys::table
        .filter(publisher_keys::namespace.eq(namespace))
        .filter(publisher_keys::fingerprint.eq(fingerprint))
        .select(PublisherKey::as_select())
        .first(connection)
        .optional()
}

pub fn list(connection: &mut DbConnection, namespace: &str) -> QueryResult<Vec<PublisherKey>> {
    publisher_keys::table
        .filter(publisher_keys::namespace.eq(namespace))
        .order(publisher_keys::id.asc())
        .select(PublisherKey::as_select())
        .load(connection)
}

/// Every key of every namespace the tenant owns, by namespace then age.
pub fn of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<PublisherKey>> {
    let owned = namespaces::table.filter(namespaces::tenant_id.eq(tenant)).select(namespaces::name);
    publisher_keys::table
        .filter(publisher_keys::namespace.eq_any(owned))
        .order((publisher_keys::namespace.asc(), publisher_keys::id.asc()))
        .select(PublisherKey::as_select())
        .load(connection)
}

pub fn find(
    connection: &mut DbConnection,
    namespace: &str,
    id: &PublisherKeyId,
) -> QueryResult<Option<PublisherKey>> {
    publisher_keys::table
        .find(id)
        .filter(publisher_keys::namespace.eq(namespace))
        .select(PublisherKey::as_select())
        .first(connection)
        .optional()
}

pub fn retire(connection: &mut DbConnection, id: &PublisherKeyId, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(publisher_keys::table.find(id).filter(publisher_keys::retired_at.is_null()))
        .set(publisher_keys::retired_at.eq(Some(at)))
        .execute(connection)
}
