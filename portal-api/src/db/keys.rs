//! The `api_keys` and `api_key_secrets` tables.

use caravan_core::db::DbConnection;
use caravan_core::db::schema::{api_key_secrets, api_keys, tenants};
use caravan_core::id::{ApiKeyId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub name: String,
    pub environment: String,
    pub scopes: String,
    pub capsule_patterns: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyInsertForm<'a> {
    pub id: &'a ApiKeyId,
    pub tenant_id: &'a TenantId,
    pub name: &'a str,
    pub environment: &'a str,
    pub scopes: &'a str,
    pub capsule_patterns: &'a str,
    pub created_by: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_key_secrets)]
pub struct SecretInsertForm<'a> {
    pub secret_hash: &'a str,
    pub key_id: &'a ApiKeyId,
    pub prefix: &'a str,
    pub created_at: NaiveDateTime,
    pub valid_until: Option<NaiveDateTime>,
}

/// Everything authentication needs about one secret, in one query.
#[derive(Debug, Clone, Queryable)]
pub struct SecretRecord {
    pub secret_hash: String,
    pub valid_until: Option<NaiveDateTime>,
    pub key: ApiKey,
    pub tenant_kind: String,
    pub tenant_plan: String,
    pub tenant_status: String,
}

pub fn insert(
    connection: &mut DbConnection,
    key: &ApiKeyInsertForm<'_>,
    secret: &SecretInsertForm<'_>,
) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table).values(key).execute(connection)?;
    insert_secret(connection, secret)?;
    find(connection, key.id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn insert_secret(connection: &mut DbConnection, secret: &SecretInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(api_key_secrets::table).values(secret).execute(connection).map(drop)
}

pub fn find(connection: &mut DbConnection, id: &ApiKeyId) -> QueryResult<Option<ApiKey>> {
    api_keys::table.find(id).select(ApiKey::as_select()).first(connection).optional()
}

/// Keys of `tenant` after `cursor`, in id (creation) order.
pub fn list(
    connection: &mut DbConnection,
    tenant: &TenantId,
    cursor: Option<&ApiKeyId>,
    limit: i64,
) -> QueryResult<Vec<ApiKey>> {
    let mut query = api_keys::table
        .filter(api_keys::tenant_id.eq(tenant.clone()))
        .select(ApiKey::as_select())
        .order(api_keys::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(cursor) = cursor {
        query = query.filter(api_keys::id.gt(cursor.clone()));
    }
    query.load(connection)
}

/// The newest secret's visible prefix of each of `keys`, in one query.
pub fn current_prefixes(
    connection: &mut DbConnection,
    keys: &[ApiKeyId],
) -> QueryResult<std::collections::HashMap<ApiKeyId, String>> {
    let rows: Vec<(ApiKeyId, String)> = api_key_secrets::table
        .filter(api_key_secrets::key_id.eq_any(keys))
        .order(api_key_secrets::created_at.asc())
        .select((api_key_secrets::key_id, api_key_secrets::prefix))
        .load(connection)?;
    // Oldest first, so each key ends with its newest secret's prefix.
    Ok(rows.into_iter().collect())
}

/// The newest secret's visible prefix of one key.
pub fn current_prefix(connection: &mut DbConnection, key: &ApiKeyId) -> QueryResult<String> {
    api_key_secrets::table
        .filter(api_key_secrets::key_id.eq(key.clone()))
        .order(api_key_secrets::created_at.desc())
        .select(api_key_secrets::prefix)
        .first(connection)
}

/// Candidates for a presented secret: every secret with its visible prefix.
pub fn secrets_with_prefix(connection: &mut DbConnection, prefix: &str) -> QueryResult<Vec<SecretRecord>> {
    api_key_secrets::table
        .inner_join(api_keys::table.inner_join(tenants::table))
        .filter(api_key_secrets::prefix.eq(prefix))
        .select((
            api_key_secrets::secret_hash,
            api_key_secrets::valid_until,
            ApiKey::as_select(),
            tenants::kind,
            tenants::plan,
            tenants::status,
        ))
        .load(connection)
}

pub fn revoke(connection: &mut DbConnection, id: &ApiKeyId, at: NaiveDateTime) -> QueryResult<ApiKey> {
    diesel::update(api_keys::table.find(id)).set(api_keys::revoked_at.eq(Some(at))).execute(connection)?;
    find(connection, id)?.ok_or(diesel::result::Error::NotFound)
}

/// Ends every current secret of `key` at `until` (unless it ends sooner already).
pub fn expire_secrets(
    connection: &mut DbConnection,
    key: &ApiKeyId,
    until: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_key_secrets::table
            .filter(api_key_secrets::key_id.eq(key.clone()))
            .filter(api_key_secrets::valid_until.is_null().or(api_key_secrets::valid_until.gt(until))),
    )
    .set(api_key_secrets::valid_until.eq(Some(until)))
    .execute(connection)
}

pub fn touch_last_used(
    connection: &mut DbConnection,
    key: &ApiKeyId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(api_keys::table.find(key)).set(api_keys::last_used_at.eq(Some(at))).execute(connection)
}
