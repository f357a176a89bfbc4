//! Signing in and out of the portal: the encrypted session cookie (actix-session's cookie
//! store, private mode) holds the member id, their session epoch, when they signed in and
//! the CSRF token of their forms. [`SignedIn`] reloads the member on every request, so a
//! removed member, a suspended tenant, an expired session or one ended by signing out
//! (which raises the epoch) is signed out at once; a cookie that does not decrypt
//! (tampered, or made with another key) is no session at all.

use super::page::PageError;
use crate::db::members::{self, MemberRow};
use crate::db::tenants::Tenant;
use crate::domain::TenantStatus;
use crate::error::PortalError;
use crate::service::members::Role;
use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::{Session, SessionExt, SessionMiddleware};
use actix_web::cookie::{Key, SameSite, time};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use caravan_core::id::MemberId;
use caravan_core::{Actor, Database, Principal, PrincipalDetails};
use futures_util::future::LocalBoxFuture;
use maud::{Markup, html};
use subtle::ConstantTimeEq;

const MEMBER: &str = "member";
const CSRF: &str = "csrf";
const SIGNED_IN_AT: &str = "signed_in_at";
const EPOCH: &str = "epoch";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// How long a sign-in lasts.
pub const SESSION_HOURS: i64 = 12;

/// How the session cookie is made.
#[derive(Clone)]
pub struct SessionSettings {
    /// Encrypts and signs the cookie; at least 64 bytes. Replicas share it.
    pub key: Key,
    /// Send the cookie over HTTPS only; on when the portal is served behind TLS.
    pub secure: bool,
}

impl std::fmt::Debug for SessionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSettings").field("secure", &self.secure).finish_non_exhaustive()
    }
}

/// The session middleware of the `/portal` scope.
pub fn middleware(settings: &SessionSettings) -> SessionMiddleware<CookieSessionStore> {
    SessionMiddleware::builder(CookieSessionStore::default(), settings.key.clone())
        .cookie_name("caravan_portal".to_owned())
        .cookie_path("/portal".to_owned())
        .cookie_secure(settings.secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Strict)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(PersistentSession::default().session_ttl(time::Duration::hours(SESSION_HOURS)))
        .build()
}

/// Starts a member's session: a fresh cookie (no fixation) with a fresh CSRF token and
/// the member's session epoch.
pub fn begin(session: &Session, member: &MemberRow) -> Result<(), PageError> {
    session.renew();
    let stored = session
        .insert(MEMBER, member.id.as_str())
        .and_then(|()| session.insert(CSRF, fresh_token()))
        .and_then(|()| session.insert(EPOCH, member.session_epoch))
        .and_then(|()| session.insert(SIGNED_IN_AT, chrono::Utc::now().timestamp()));
    stored.map_err(|_| PageError::SignedOut)
}

/// Ends this browser's session: the cookie is removed.
pub fn end(session: &Session) {
    session.purge();
}

/// Signs the member out everywhere: every session made before now stops working, also a
/// copy of this cookie.
pub async fn end_everywhere(signed_in: &SignedIn, database: &Database) -> Result<(), PageError> {
    let member = signed_in.member.id.clone();
    database
        .run(move |connection| members::end_sessions(connection, &member).map_err(PortalError::from))
        .await?;
    end(&signed_in.session);
    Ok(())
}

/// The CSRF token of a visitor who is not signed in (the sign-in and invitation forms),
/// made on first use.
pub fn visitor_csrf(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    let token = fresh_token();
    let _ = session.insert(CSRF, &token);
    token
}

/// Refuses a form whose CSRF token is not the session's.
pub fn check_csrf(session: &Session, presented: Option<&str>) -> Result<(), PageError> {
    let expected = session.get::<String>(CSRF).ok().flatten();
    match (expected, presented) {
        (Some(expected), Some(presented)) if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) => {
            Ok(())
        }
        _ => Err(PageError::Csrf),
    }
}

/// The hidden field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

fn fresh_token() -> String {
    crate::service::members::random_token()
}

/// A signed-in member, their tenant, and the [`Principal`] the portal acts with for them.
pub struct SignedIn {
    pub member: MemberRow,
    pub role: Role,
    pub tenant: Tenant,
    pub principal: Principal,
    pub session: Session,
    csrf: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("member", &self.member.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    pub fn csrf_field(&self) -> Markup {
        csrf_field(&self.csrf)
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), PageError> {
        check_csrf(&self.session, presented)
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let database = req.app_data::<web::Data<Database>>().cloned();
        Box::pin(async move {
            let member_id = session.get::<String>(MEMBER).ok().flatten();
            let csrf = session.get::<String>(CSRF).ok().flatten();
            let signed_in_at = session.get::<i64>(SIGNED_IN_AT).ok().flatten().unwrap_or_default();
            let epoch = session.get::<i32>(EPOCH).ok().flatten();
            let fresh = chrono::Utc::now().timestamp() - signed_in_at < SESSION_HOURS * 3600;
            let (Some(member_id), Some(csrf), Some(database), true) = (member_id, csrf, database, fresh)
            else {
                end(&session);
                return Err(PageError::SignedOut);
            };
            let Ok(member_id) = MemberId::parse(&member_id) else {
                end(&session);
                return Err(PageError::SignedOut);
            };
            let found = database
                .run(move |connection| {
                    members::find_with_tenant(connection, &member_id).map_err(PageError::from)
                })
                .await?;
            let active = |tenant: &Tenant| tenant.status == TenantStatus::Active.as_str();
            let current = |member: &MemberRow| Some(member.session_epoch) == epoch;
            let Some((member, tenant)) = found.filter(|(member, tenant)| active(tenant) && current(member))
            else {
                end(&session);
                return Err(PageError::SignedOut);
            };
            let Some(role) = Role::parse(&member.role) else {
                end(&session);
                return Err(PageError::SignedOut);
            };
            let principal = Principal::new(PrincipalDetails {
                tenant_id: tenant.id.clone(),
                actor: Actor::Member(member.id.clone()),
                scopes: role.scopes(),
                capsule_patterns: Vec::new(),
                plan: tenant.plan.clone(),
                operator: tenant.kind == crate::domain::TenantKind::Operator.as_str(),
                expires_at: None,
                test_environment: false,
            });
            Ok(SignedIn { member, role, tenant, principal, session, csrf })
        })
    }
}
