//! The `members` and `invitations` tables.

use super::tenants::Tenant;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::{invitations, members, tenants};
use caravan_core::id::{InvitationId, MemberId, TenantId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = members)]
pub struct MemberRow {
    pub id: MemberId,
    pub tenant_id: TenantId,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub password_hash: String,
    pub failed_sign_ins: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub last_sign_in_at: Option<NaiveDateTime>,
    /// Sessions carry it; raising it ends them all.
    pub session_epoch: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub tenant_id: TenantId,
    /// Empty for the operator's first link: the person chooses the address.
    pub email: String,
    pub role: String,
    pub token_hash: String,
    pub invited_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
}

pub fn insert(connection: &mut DbConnection, member: &MemberRow) -> QueryResult<()> {
    diesel::insert_into(members::table).values(member).execute(connection).map(drop)
}

/// A member together with its tenant, in one query: what every signed-in page starts from.
pub fn find_with_tenant(
    connection: &mut DbConnection,
    id: &MemberId,
) -> QueryResult<Option<(MemberRow, Tenant)>> {
    members::table
        .inner_join(tenants::table)
        .filter(members::id.eq(id))
        .select((MemberRow::as_select(), Tenant::as_select()))
        .first(connection)
        .optional()
}

pub fn find_by_email(connection: &mut DbConnection, email: &str) -> QueryResult<Option<MemberRow>> {
    members::table
        .filter(members::email.eq(email))
        .select(MemberRow::as_select())
        .first(connection)
        .optional()
}

pub fn of_tenant(connection: &mut DbConnection, tenant: &TenantId) -> QueryResult<Vec<MemberRow>> {
    members::table
        .filter(members::tenant_id.eq(tenant))
        .order(members::id.asc())
        .select(MemberRow::as_select())
        .load(connection)
}

/// Adds one failed sign-in; returns the count, atomically, so parallel failures all count.
pub fn count_failure(connection: &mut DbConnection, id: &MemberId) -> QueryResult<i32> {
    diesel::update(members::table.find(id))
        .set(members::failed_sign_ins.eq(members::failed_sign_ins + 1))
        .returning(members::failed_sign_ins)
        .get_result(connection)
}

/// Locks the member out until `until`; the count starts again.
pub fn lock(connection: &mut DbConnection, id: &MemberId, until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(members::table.find(id))
        .set((members::failed_sign_ins.eq(0), members::locked_until.eq(Some(until))))
        .execute(connection)
        .map(drop)
}

/// Records a successful sign-in unless the member is locked out at `at` (a lockout that a
/// parallel attempt set after this one began); false when locked.
pub fn record_sign_in(connection: &mut DbConnection, id: &MemberId, at: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        members::table.find(id).filter(members::locked_until.is_null().or(members::locked_until.le(at))),
    )
    .set((
        members::failed_sign_ins.eq(0),
        members::locked_until.eq(None::<NaiveDateTime>),
        members::last_sign_in_at.eq(Some(at)),
    ))
    .execute(connection)
    .map(|updated| updated == 1)
}

/// Ends every session of the member.
pub fn end_sessions(connection: &mut DbConnection, id: &MemberId) -> QueryResult<()> {
    diesel::update(members::table.find(id))
        .set(members::session_epoch.eq(members::session_epoch + 1))
        .execute(connection)
        .map(drop)
}

pub fn insert_invitation(connection: &mut DbConnection, invitation: &InvitationRow) -> QueryResult<()> {
    diesel::insert_into(invitations::table).values(invitation).execute(connection).map(drop)
}

pub fn find_invitation(
    connection: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::token_hash.eq(token_hash))
        .select(InvitationRow::as_select())
        .first(connection)
        .optional()
}

/// Marks the invitation used; false when it was used already (a concurrent acceptance).
pub fn accept_invitation(
    connection: &mut DbConnection,
    id: &InvitationId,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(invitations::table.find(id).filter(invitations::accepted_at.is_null()))
        .set(invitations::accepted_at.eq(Some(at)))
        .execute(connection)
        .map(|updated| updated == 1)
}

/// The tenant's invitations not yet accepted, newest first.
pub fn pending_invitations(
    connection: &mut DbConnection,
    tenant: &TenantId,
) -> QueryResult<Vec<InvitationRow>> {
    invitations::table
        .filter(invitations::tenant_id.eq(tenant))
        .filter(invitations::accepted_at.is_null())
        .order(invitations::id.desc())
        .select(InvitationRow::as_select())
        .load(connection)
}
