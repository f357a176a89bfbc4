//! Members of a tenant and how they sign in: invitations (one-time links an owner makes,
//! and the operator's first link printed by the bootstrap), accepting one with a password,
//! and signing in with a lockout after repeated failures.
//!
//! A member's role is a set of scopes: the portal acts for a member with exactly the
//! scopes of the role, through the same services the API uses with keys.

use super::RequestContext;
use crate::db::members::{self, InvitationRow, MemberRow};
use crate::error::PortalError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::{InvitationId, MemberId, TenantId};
use caravan_core::{Principal, Scope, ScopeSet};
use chrono::{Duration, NaiveDateTime};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

/// Failed sign-ins in a row that lock a member out.
pub const MAX_FAILED_SIGN_INS: i32 = 5;
/// How long a lockout lasts.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// How long an invitation link works.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// What a member may do in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including members, invitations and the audit log.
    Owner,
    /// Keys, publishing and usage; not invoices, not members.
    Developer,
    /// Usage and invoices.
    Billing,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Developer, Role::Billing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Developer => "developer",
            Self::Billing => "billing",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The scopes the portal acts with for a member of this role.
    pub fn scopes(self) -> ScopeSet {
        match self {
            Self::Owner => Scope::ALL.into_iter().collect(),
            Self::Developer => [
                Scope::RegistryRead,
                Scope::RegistryPublish,
                Scope::RegistryYank,
                Scope::ExecutionsRun,
                Scope::ExecutionsRead,
                Scope::UsageWrite,
                Scope::UsageRead,
                Scope::KeysManage,
            ]
            .into_iter()
            .collect(),
            Self::Billing => [Scope::UsageRead, Scope::BillingRead].into_iter().collect(),
        }
    }
}

/// An invitation with its one-time token, which only its link carries.
#[derive(Debug)]
pub struct InvitationLink {
    pub invitation: InvitationRow,
    pub token: String,
}

/// A new member's choices on the invitation page.
#[derive(Debug)]
pub struct Acceptance {
    /// Only for an invitation without an address (the operator's first link).
    pub email: Option<String>,
    pub display_name: String,
    /// From [`hash_password`], made before the database is asked.
    pub password_hash: String,
}

/// Invites `email` with `role` to the actor's tenant, or — for the operator's admin, who
/// invites each tenant's first owner — to `tenant`. Needs `admin` (owners).
pub fn invite(
    connection: &mut DbConnection,
    actor: &Principal,
    tenant: Option<&TenantId>,
    email: &str,
    role: Role,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<InvitationLink, PortalError> {
    actor.require(Scope::Admin)?;
    let tenant = tenant.unwrap_or(&actor.tenant_id);
    if !actor.can_access_tenant(tenant) {
        return Err(PortalError::TenantNotFound(tenant.to_string()));
    }
    let email = valid_email(email)?;
    write_transaction(connection, |connection| {
        if crate::db::tenants::find(connection, tenant)?.is_none() {
            return Err(PortalError::TenantNotFound(tenant.to_string()));
        }
        if members::find_by_email(connection, &email)?.is_some() {
            return Err(PortalError::MemberExists(email.clone()));
        }
        let link = new_link(tenant, &email, role, actor.actor_id(), now);
        members::insert_invitation(connection, &link.invitation)?;
        context.audit(
            connection,
            actor,
            tenant,
            "member.invite",
            link.invitation.id.as_str(),
            json!({ "email": email, "role": role.as_str() }),
        )?;
        Ok(link)
    })
}

/// The operator's first link: an owner invitation whose address the person chooses.
/// Call it inside the bootstrap transaction.
pub fn operator_link(
    connection: &mut DbConnection,
    tenant: &TenantId,
    now: NaiveDateTime,
) -> Result<InvitationLink, PortalError> {
    let link = new_link(tenant, "", Role::Owner, "system", now);
    members::insert_invitation(connection, &link.invitation)?;
    Ok(link)
}

/// 256 random bits, URL-safe: invitation tokens and CSRF tokens.
pub fn random_token() -> String {
    let mut random = [0_u8; 32];
    rand::rng().fill_bytes(&mut random);
    URL_SAFE_NO_PAD.encode(random)
}

fn new_link(
    tenant: &TenantId,
    email: &str,
    role: Role,
    invited_by: &str,
    now: NaiveDateTime,
) -> InvitationLink {
    let token = random_token();
    let invitation = InvitationRow {
        id: InvitationId::new(),
        tenant_id: tenant.clone(),
        email: email.to_owned(),
        role: role.as_str().to_owned(),
        token_hash: token_hash(&token),
        invited_by: invited_by.to_owned(),
        created_at: now,
        expires_at: now + INVITATION_LIFETIME,
        accepted_at: None,
    };
    InvitationLink { invitation, token }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The invitation a link's token names, while it can still be accepted.
pub fn open_invitation(
    connection: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<InvitationRow, PortalError> {
    members::find_invitation(connection, &token_hash(token))?
        .filter(|invitation| invitation.accepted_at.is_none() && invitation.expires_at > now)
        .ok_or(PortalError::InvitationInvalid)
}

/// Accepts an invitation: the member is created with the argon2id password hash and the
/// link stops working, in one transaction.
pub fn accept(
    connection: &mut DbConnection,
    token: &str,
    acceptance: Acceptance,
    context: &RequestContext,
    now: NaiveDateTime,
) -> Result<MemberRow, PortalError> {
    let display_name = bounded("display name", &acceptance.display_name, 1, 100)?;
    let password_hash = acceptance.password_hash;
    write_transaction(connection, |connection| {
        let invitation = open_invitation(connection, token, now)?;
        let email = if invitation.email.is_empty() {
            valid_email(acceptance.email.as_deref().unwrap_or_default())?
        } else {
            invitation.email.clone()
        };
        if members::find_by_email(connection, &email)?.is_some() {
            return Err(PortalError::MemberExists(email));
        }
        if !members::accept_invitation(connection, &invitation.id, now)? {
            return Err(PortalError::InvitationInvalid);
        }
        let member = MemberRow {
            id: MemberId::new(),
            tenant_id: invitation.tenant_id.clone(),
            email,
            display_name: display_name.clone(),
            role: invitation.role.clone(),
            password_hash: password_hash.clone(),
            failed_sign_ins: 0,
            locked_until: None,
            created_at: now,
            last_sign_in_at: None,
            session_epoch: 0,
        };
        members::insert(connection, &member).map_err(|error| match error {
            // A parallel acceptance for the same address (PostgreSQL does not serialize them).
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                PortalError::MemberExists(member.email.clone())
            }
            other => other.into(),
        })?;
        caravan_core::audit::append(
            connection,
            caravan_core::audit::AuditRecord {
                tenant_id: Some(&member.tenant_id),
                actor: member.id.as_str(),
                action: "member.join",
                target: member.id.as_str(),
                details: json!({ "email": member.email, "role": member.role, "invitation": invitation.id }),
                request_id: context.request_id.as_deref(),
            },
        )?;
        Ok(member)
    })
}

/// A sign-in attempt's member, found before the password is checked (the check runs
/// without holding a database connection).
#[derive(Debug)]
pub struct Candidate {
    member: Option<MemberRow>,
    tenant_active: bool,
}

/// Finds who is signing in. A member locked out now is refused as a wrong password is, so
/// a lockout does not tell who is a member.
pub fn candidate(
    connection: &mut DbConnection,
    email: &str,
    now: NaiveDateTime,
) -> Result<Candidate, PortalError> {
    let email = email.trim().to_lowercase();
    let Some(member) = members::find_by_email(connection, &email)? else {
        return Ok(Candidate { member: None, tenant_active: false });
    };
    if member.locked_until.is_some_and(|until| until > now) {
        return Err(PortalError::SignInRefused);
    }
    let tenant_active = crate::db::tenants::find(connection, &member.tenant_id)?
        .is_some_and(|tenant| tenant.status == crate::domain::TenantStatus::Active.as_str());
    Ok(Candidate { member: Some(member), tenant_active })
}

/// Checks the password (argon2id, tens of milliseconds: call it off the database pool).
/// An unknown address takes as long to refuse as a wrong password.
pub fn password_matches(candidate: &Candidate, password: &str) -> bool {
    match &candidate.member {
        Some(member) => verify_password(&member.password_hash, password),
        None => {
            let _ = verify_password(UNKNOWN_MEMBER_HASH, password);
            false
        }
    }
}

/// Records the attempt's outcome and answers it. Failures are counted atomically, so
/// parallel guesses cannot share one count; the `MAX_FAILED_SIGN_INS`th in a row locks the
/// member out for [`LOCKOUT`], and a right password during a lockout is refused too, with
/// the same answer as every other refusal.
pub fn conclude(
    connection: &mut DbConnection,
    candidate: Candidate,
    matched: bool,
    now: NaiveDateTime,
) -> Result<MemberRow, PortalError> {
    let Some(member) = candidate.member else { return Err(PortalError::SignInRefused) };
    if !matched {
        let failures = members::count_failure(connection, &member.id)?;
        if failures >= MAX_FAILED_SIGN_INS {
            members::lock(connection, &member.id, now + LOCKOUT)?;
        }
        return Err(PortalError::SignInRefused);
    }
    if !members::record_sign_in(connection, &member.id, now)? {
        return Err(PortalError::SignInRefused);
    }
    if !candidate.tenant_active {
        return Err(caravan_core::AuthError::TenantSuspended.into());
    }
    Ok(member)
}

/// The tenant's members and open invitations; owners only.
pub fn list(
    connection: &mut DbConnection,
    actor: &Principal,
) -> Result<(Vec<MemberRow>, Vec<InvitationRow>), PortalError> {
    actor.require(Scope::Admin)?;
    Ok((
        members::of_tenant(connection, &actor.tenant_id)?,
        members::pending_invitations(connection, &actor.tenant_id)?,
    ))
}

/// A valid argon2id hash of a password nobody has, checked when the address is unknown.
const UNKNOWN_MEMBER_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2lnbi1pbi10aW1pbmc$0m5Y3r1zZ8bYy2c4aW4tdGltaW5nLWVxdWFsaXNlcg";

/// The argon2id PHC string of a new password (tens of milliseconds: call it off the
/// database pool). Refuses a password outside the length bounds.
pub fn hash_password(password: &str) -> Result<String, PortalError> {
    let length = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&length) {
        return Err(PortalError::InvalidMember(format!(
            "a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|error| PortalError::PasswordHashing(error.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| PortalError::PasswordHashing(error.to_string()))
}

fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

fn valid_email(email: &str) -> Result<String, PortalError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(PortalError::InvalidMember(format!("`{email}` is not an e-mail address")))
    }
}

fn bounded(what: &str, text: &str, min: usize, max: usize) -> Result<String, PortalError> {
    let text = text.trim();
    let length = text.chars().count();
    if (min..=max).contains(&length) && !text.chars().any(char::is_control) {
        Ok(text.to_owned())
    } else {
        Err(PortalError::InvalidMember(format!("a {what} has {min} to {max} characters")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_another_does_not() {
        let hash = hash_password("correct horse battery staple").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery staple"));
        assert!(!verify_password(&hash, "correct horse battery stapler"));
    }

    #[test]
    fn short_passwords_and_odd_addresses_are_refused() {
        assert!(hash_password("short").is_err());
        assert!(valid_email("no-at-sign").is_err());
        assert!(valid_email("two@@example.com").is_err());
        assert_eq!(valid_email(" Ada@Example.com ").expect("valid"), "ada@example.com");
    }

    #[test]
    fn the_unknown_member_hash_parses_so_refusals_take_as_long_as_real_checks() {
        assert!(PasswordHash::new(UNKNOWN_MEMBER_HASH).is_ok());
    }

    #[test]
    fn roles_are_scope_sets() {
        assert!(Role::Owner.scopes().contains(Scope::Admin));
        assert!(!Role::Developer.scopes().contains(Scope::BillingRead));
        assert!(!Role::Billing.scopes().contains(Scope::KeysManage));
    }
}
