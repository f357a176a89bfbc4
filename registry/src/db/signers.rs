//! The publisher keys a tenant's capsules may be signed with, read at publish time.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{namespaces, publisher_keys};
use caravan_core::id::{PublisherKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = publisher_keys)]
pub struct Signer {
    pub id: PublisherKeyId,
    pub namespace: String,
    pub public_key_pem: String,
    pub retired_at: Option<NaiveDateTime>,
}

/// Every key, live or retired, registered for the namespaces `tenant` owns.
pub fn of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<Signer>> {
    publisher_keys::table
        .inner_join(namespaces::table)
        .filter(namespaces::tenant_id.eq(tenant))
        .order(publisher_keys::id.asc())
        .select(Signer::as_select())
        .load(connection)
}

/// The public key that signed a version (live or retired: versions it signed stay valid).
pub fn public_key(connection: &mut DbConnection, id: &PublisherKeyId) -> QueryResult<String> {
    publisher_keys::table.find(id).select(publisher_keys::public_key_pem).first(connection)
}
