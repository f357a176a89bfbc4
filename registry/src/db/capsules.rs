//! The `capsules` and `capsule_versions` tables.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{capsule_versions, capsules};
use caravan_core::id::{ApiKeyId, CapsuleVersionId, PublisherKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = capsules)]
pub struct CapsuleRow {
    pub name: String,
    pub namespace: String,
    pub tenant_id: TenantId,
    pub description: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = capsule_versions)]
pub struct VersionRow {
    pub id: CapsuleVersionId,
    pub capsule_name: String,
    pub version: String,
    pub manifest: String,
    pub readme: String,
    pub license: String,
    pub tier: String,
    pub digest: String,
    pub size_bytes: i64,
    pub unpacked_bytes: i64,
    pub file_count: i64,
    pub signature: String,
    pub signer_key_id: PublisherKeyId,
    pub sbom_digest: Option<String>,
    pub sbom_spec_version: Option<String>,
    pub sbom_component_count: Option<i64>,
    pub sbom_licenses: String,
    pub admission: String,
    pub published_by: ApiKeyId,
    pub published_at: NaiveDateTime,
    pub yanked_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    pub deprecated_message: Option<String>,
}

/// What running a version needs of it. A run reads these few columns of each version of
/// its capsule, not whole rows: the readme, the manifest and the admission report are most
/// of a row's bytes, and reading them was most of a run's admission.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = capsule_versions)]
pub struct RunnableVersion {
    pub id: CapsuleVersionId,
    pub version: String,
    pub tier: String,
    pub digest: String,
    pub signature: String,
    pub signer_key_id: PublisherKeyId,
    pub yanked_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
}

pub fn find(connection: &mut DbConnection, name: &str) -> QueryResult<Option<CapsuleRow>> {
    capsules::table.find(name).select(CapsuleRow::as_select()).first(connection).optional()
}

/// The capsules a tenant publishes, by name.
pub fn of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<CapsuleRow>> {
    capsules::table
        .filter(capsules::tenant_id.eq(tenant))
        .order(capsules::name.asc())
        .select(CapsuleRow::as_select())
        .load(connection)
}

/// Creates the capsule on its first version; later versions refresh its description.
/// Call it inside the publish transaction.
pub fn upsert(connection: &mut DbConnection, capsule: &CapsuleRow) -> QueryResult<()> {
    let updated = diesel::update(capsules::table.find(&capsule.name))
        .set((capsules::description.eq(&capsule.description), capsules::updated_at.eq(capsule.updated_at)))
        .execute(connection)?;
    if updated == 0 {
        diesel::insert_into(capsules::table).values(capsule).execute(connection)?;
    }
    Ok(())
}

pub fn insert_version(connection: &mut DbConnection, version: &VersionRow) -> QueryResult<()> {
    diesel::insert_into(capsule_versions::table).values(version).execute(connection).map(drop)
}

pub fn version_exists(connection: &mut DbConnection, capsule: &str, version: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        capsule_versions::table
            .filter(capsule_versions::capsule_name.eq(capsule))
            .filter(capsule_versions::version.eq(version)),
    ))
    .get_result(connection)
}

pub fn find_version(
    connection: &mut DbConnection,
    capsule: &str,
    version: &str,
) -> QueryResult<Option<VersionRow>> {
    capsule_versions::table
        .filter(capsule_versions::capsule_name.eq(capsule))
        .filter(capsule_versions::version.eq(version))
        .select(VersionRow::as_select())
        .first(connection)
        .optional()
}

/// Every version of a capsule, oldest first.
pub fn versions(connection: &mut DbConnection, capsule: &str) -> QueryResult<Vec<VersionRow>> {
    capsule_versions::table
        .filter(capsule_versions::capsule_name.eq(capsule))
        .order(capsule_versions::published_at.asc())
        .then_order_by(capsule_versions::id.asc())
        .select(VersionRow::as_select())
        .load(connection)
}

/// Every version of a capsule as a run sees it, in no particular order.
pub fn runnable_versions(connection: &mut DbConnection, capsule: &str) -> QueryResult<Vec<RunnableVersion>> {
    capsule_versions::table
        .filter(capsule_versions::capsule_name.eq(capsule))
        .select(RunnableVersion::as_select())
        .load(connection)
}

/// A version's manifest (JSON).
pub fn manifest(connection: &mut DbConnection, version: &CapsuleVersionId) -> QueryResult<String> {
    capsule_versions::table.find(version).select(capsule_versions::manifest).first(connection)
}

/// Every version of every capsule the tenant publishes, by capsule, oldest first.
pub fn versions_of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<VersionRow>> {
    let published = capsules::table.filter(capsules::tenant_id.eq(tenant)).select(capsules::name);
    capsule_versions::table
        .filter(capsule_versions::capsule_name.eq_any(published))
        .order((capsule_versions::capsule_name.asc(), capsule_versions::published_at.asc()))
        .then_order_by(capsule_versions::id.asc())
        .select(VersionRow::as_select())
        .load(connection)
}

/// Sets or clears a version's yank mark.
pub fn set_yanked(
    connection: &mut DbConnection,
    id: &CapsuleVersionId,
    at: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(capsule_versions::table.find(id))
        .set(capsule_versions::yanked_at.eq(at))
        .execute(connection)
        .map(drop)
}

pub fn set_revoked(
    connection: &mut DbConnection,
    id: &CapsuleVersionId,
    at: NaiveDateTime,
    reason: &str,
) -> QueryResult<()> {
    diesel::update(capsule_versions::table.find(id))
        .set((capsule_versions::revoked_at.eq(Some(at)), capsule_versions::revoked_reason.eq(Some(reason))))
        .execute(connection)
        .map(drop)
}

pub fn set_deprecated(
    connection: &mut DbConnection,
    id: &CapsuleVersionId,
    message: Option<&str>,
) -> QueryResult<()> {
    diesel::update(capsule_versions::table.find(id))
        .set(capsule_versions::deprecated_message.eq(message))
        .execute(connection)
        .map(drop)
}

/// Does any version point at this blob, as its bundle or its SBOM?
pub fn blob_referenced(connection: &mut DbConnection, digest: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        capsule_versions::table
            .filter(capsule_versions::digest.eq(digest).or(capsule_versions::sbom_digest.eq(digest))),
    ))
    .get_result(connection)
}

/// Marks the capsule changed (its versions' standing), for the search index to follow.
pub fn touch(connection: &mut DbConnection, name: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(capsules::table.find(name)).set(capsules::updated_at.eq(at)).execute(connection).map(drop)
}
